"""The player test's look at the set-up a household gets wrong: is each library of the
player's group, at the path the group's mapping gives, inside one of the player's own
library folders (a Kodi video source, a Plex section)?"""

from __future__ import annotations

from dataclasses import dataclass

from api.schemas import LibraryCheck
from services.catalog.models import Player
from services.pathmap import PathEscape, map_path
from services.players import PlayerClient, label_of
from services.players.base import contains


@dataclass(frozen=True)
class GroupLibraries:
    """What the check needs of a player's group, read while the row is at hand."""

    player_type: str
    libraries: list[tuple[str, str, str]]  # name, path, kind
    mappings: list[tuple[str, str]]

    @classmethod
    def of(cls, player: Player) -> GroupLibraries:
        """The group of ``player`` (its rows must still be loadable)."""
        group = player.group
        libraries = sorted(group.libraries, key=lambda lib: lib.id) if group else []
        return cls(
            player.type,
            [(lib.name, lib.path, lib.kind) for lib in libraries],
            [(m.from_path, m.to_path) for m in group.path_mappings] if group else [],
        )


def library_checks(group: GroupLibraries, client: PlayerClient) -> list[LibraryCheck]:
    """One check per library of the group: ``library``, ``path`` (as the player should see
    it), ``in_source`` (None: the player cannot tell) and a ``message`` saying what to fix."""
    if not group.libraries:
        return []
    sources_of = {
        media: client.sources(media) for media in {_media(k) for _, _, k in group.libraries}
    }
    name = label_of(group.player_type)
    checks = []
    for library, ours, kind in group.libraries:
        sources = sources_of[_media(kind)]
        try:
            path = map_path(ours, group.mappings) or ours
        except PathEscape as exc:
            checks.append(_check(library, ours, False, str(exc)))
            continue
        if sources is None:
            message = f"not checked: {name} does not list its library folders to us"
            checks.append(_check(library, path, None, message))
            continue
        holding = [s for s in sources if contains(s, path)]
        if holding:
            checks.append(_check(library, path, True, f"{path} is in {name}'s {holding[0]}"))
            continue
        kodi_source = {"movies": "a video source with its content set to Movies",
                       "tv": "a video source with its content set to TV shows",
                       "music": "a music source"}.get(kind, "a source")  # fmt: skip
        message = (
            f"{path} is outside every library folder of this {name}"
            f" ({', '.join(sources) or 'none'}): add it there (in Kodi, {kodi_source}), or"
            " correct the player group's path mapping"
        )
        checks.append(_check(library, path, False, message))
    return checks


def _media(kind: str) -> str:
    """The player's media a library of ``kind`` is in: "music" or "video"."""
    return "music" if kind == "music" else "video"


def _check(library: str, path: str, in_source: bool | None, message: str) -> LibraryCheck:
    return LibraryCheck(library=library, path=path, in_source=in_source, message=message)
