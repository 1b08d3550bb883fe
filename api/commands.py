"""Command-line twins of the configuration API: ``orchestrator library|mapping|group|player``,
the manual ``scan`` and the folder watcher (``watch``).

The platform's CLI finds these through the ``orchestrator.commands`` entry point.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import get_row
from api.player_checks import GroupLibraries, library_checks
from orchestrator.cli.jobs import wait_and_tell
from orchestrator.errors import InvalidInput, NotFound, one_line
from orchestrator.jobs.dispatch import build_job, submit
from orchestrator.observability.logs import configure_logging
from orchestrator.runtime import current
from orchestrator.storage.db import read_session, write_session
from services.catalog.config import LIBRARY_KINDS, RESOURCES, Resource
from services.catalog.models import Library, Player
from services.pathmap import is_windows_style
from services.players import PLAYER_KINDS, PLAYER_TYPES, PlayerError, client_for, settings_of
from tasks.settings import media_settings
from tasks.watcher import FolderWatcher
from tasks.webhook import in_no_library

COMMAND_HELP = "--type command: the executable to run (an absolute path), no shell."
TIME_LIMIT_HELP = "--type command: seconds it may run (default 60, at most 3600)."
HEADER_NAME_HELP = "--type webhook: a header to send, e.g. Authorization."
HEADER_VALUE_HELP = "--type webhook: its value (kept write-only, as a password)."

# How each resource is named in messages ("no player group with id 7").
NOUNS = {
    "libraries": "library",
    "path-mappings": "path mapping",
    "player-groups": "player group",
    "players": "player",
}


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn a refused request into one line on stderr (exit 1), worded as the API words it."""
    try:
        yield
    except ValidationError as exc:
        raise click.ClickException(one_line(exc)) from exc
    except InvalidInput as exc:
        raise click.ClickException(f"{exc.field}: {exc}" if exc.field else str(exc)) from exc
    except NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    except IntegrityError as exc:
        raise click.ClickException("one with the same name or path already exists") from exc


def _row(session: Session, resource: Resource, row_id: int) -> Any:
    """The row ``row_id`` of ``resource``; an unknown id is :class:`NotFound`."""
    return get_row(session, resource.model, row_id, NOUNS[resource.name])


def _create(resource_name: str, body: dict[str, Any]) -> dict[str, Any]:
    resource = RESOURCES[resource_name]
    with _refusals(), write_session() as session:
        return resource.to_dict(resource.create(session, body))


def _update(resource_name: str, row_id: int, body: dict[str, Any]) -> None:
    """Change only the fields in ``body``, validated as a PATCH of the API is."""
    if not body:
        raise click.UsageError("nothing to change: give at least one option")
    resource = RESOURCES[resource_name]
    with _refusals(), write_session() as session:
        row = _row(session, resource, row_id)
        shown = resource.to_dict(resource.update(session, row, body))
    click.echo(json.dumps(shown))


def _delete(resource_name: str, row_id: int) -> None:
    """Delete a row (as a DELETE of the API does) and print what it was."""
    resource = RESOURCES[resource_name]
    with _refusals(), write_session() as session:
        row = _row(session, resource, row_id)
        shown = resource.to_dict(row)
        session.delete(row)
    click.echo(json.dumps({**shown, "deleted": True}))


def _replacement(values: tuple[Any, ...], clear: bool, option: str) -> list[Any] | None:
    """A repeated option's new list: the values given, [] for its --no-... flag, else None."""
    if values and clear:
        raise click.UsageError(f"give {option} or its --no-... flag, not both")
    return [] if clear else list(values) or None


def _given(**fields: Any) -> dict[str, Any]:
    """The fields an update was given: None means the option was left out."""
    return {name: value for name, value in fields.items() if value is not None}


def _add_list_and_delete(group: click.Group, resource_name: str, listed: str, deleted: str) -> None:
    """Give ``group`` its ``list`` and ``delete ID`` commands for ``resource_name``, with
    those help texts."""
    resource = RESOURCES[resource_name]

    @group.command("list", help=listed)
    def list_rows() -> None:
        with read_session() as session:
            rows = session.scalars(select(resource.model).order_by(resource.model.id))
            for row in rows:
                click.echo(json.dumps(resource.to_dict(row)))

    @group.command("delete", help=deleted)
    @click.argument("row_id", metavar="ID", type=int)
    def delete_row(row_id: int) -> None:
        _delete(resource_name, row_id)


@click.group()
def library() -> None:
    """Libraries: folders of movies or TV shows as the orchestrator sees them."""


@library.command("add")
@click.argument("name")
@click.argument("path")
@click.option("--kind", type=click.Choice(LIBRARY_KINDS), default="movies", show_default=True)
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    help="A file, relative to PATH, that must exist for a scan to run (repeat), e.g. .anchor.",
)
@click.option(
    "--follow-links",
    is_flag=True,
    help="Scan folders and files reached through links that lead out of PATH.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Scan what changes under PATH as it changes (the watcher that `up` runs).",
)
@click.option(
    "--confirm-system-path",
    is_flag=True,
    help="Confirm a PATH that is / or in a system folder such as /etc, /usr or /var.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Accept a PATH that does not exist yet (a share not mounted yet).",
)
def library_add(
    name: str,
    path: str,
    kind: str,
    anchors: tuple[str, ...],
    follow_links: bool,
    watch: bool,
    confirm_system_path: bool,
    allow_missing: bool,
) -> None:
    """Add library NAME at PATH."""
    body = {
        "name": name, "path": path, "kind": kind, "anchors": list(anchors),
        "follow_links": follow_links, "watch": watch,
        "confirm_system_path": confirm_system_path, "allow_missing": allow_missing,
    }  # fmt: skip
    click.echo(json.dumps(_create("libraries", body)))


@library.command("update")
@click.argument("library_id", type=int)
@click.option("--name")
@click.option("--path")
@click.option("--kind", type=click.Choice(LIBRARY_KINDS))
@click.option("--anchor", "anchors", multiple=True, help="Replaces the anchors (repeat).")
@click.option("--no-anchors", is_flag=True, help="Remove every anchor.")
@click.option("--follow-links/--no-follow-links", default=None)
@click.option("--watch/--no-watch", default=None)
@click.option(
    "--confirm-system-path",
    is_flag=True,
    help="Confirm a new PATH that is / or in a system folder such as /etc, /usr or /var.",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Accept a PATH that does not exist yet (a share not mounted yet).",
)
def library_update(
    library_id: int, name: str | None, path: str | None, kind: str | None,
    anchors: tuple[str, ...], no_anchors: bool, follow_links: bool | None, watch: bool | None,
    confirm_system_path: bool, allow_missing: bool,
) -> None:  # fmt: skip
    """Change library LIBRARY_ID: only the options given."""
    body = _given(
        name=name, path=path, kind=kind, follow_links=follow_links, watch=watch,
        anchors=_replacement(anchors, no_anchors, "--anchor"),
        confirm_system_path=confirm_system_path or None, allow_missing=allow_missing or None,
    )  # fmt: skip
    _update("libraries", library_id, body)


@library.command("scan")
@click.argument("library_id", type=int)
def library_scan(library_id: int) -> None:
    """Queue a scan of every folder of a library."""
    with _refusals(), read_session() as session:
        get_row(session, Library, library_id, "library")
    click.echo(
        f"queued library-scan job {submit('library-scan', {'library_id': library_id}).job.id}"
    )


@click.group()
def mapping() -> None:
    """Manager path mappings: a folder as Radarr/Sonarr sees it → as we see it."""


@mapping.command("add")
@click.argument("source")
@click.argument("from_path", metavar="FROM")
@click.argument("to_path", metavar="TO")
def mapping_add(source: str, from_path: str, to_path: str) -> None:
    """Map SOURCE's (radarr, sonarr) prefix FROM to our prefix TO."""
    click.echo(
        json.dumps(_create("path-mappings", {"source": source, "from": from_path, "to": to_path}))
    )


@mapping.command("update")
@click.argument("mapping_id", type=int)
@click.option("--source", help="radarr, sonarr, manual, ...")
@click.option("--from", "from_path", help="The prefix as the manager sees it.")
@click.option("--to", "to_path", help="The same place as we see it.")
def mapping_update(
    mapping_id: int, source: str | None, from_path: str | None, to_path: str | None
) -> None:
    """Change path mapping MAPPING_ID: only the options given."""
    _update(
        "path-mappings", mapping_id, _given(**{"source": source, "from": from_path, "to": to_path})
    )


@click.group()
def group() -> None:
    """Player groups: players sharing one library database."""


def _mappings(maps: tuple[str, ...]) -> list[dict[str, str]]:
    """``--map OURS=THEIRS`` values as path mappings (split at the first "=")."""
    mappings = []
    for item in maps:
        ours, sep, theirs = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use OURS=THEIRS", param_hint="--map")
        mappings.append({"from": ours, "to": theirs})
    return mappings


@group.command("add")
@click.argument("name")
@click.option("--library", "library_ids", type=int, multiple=True, help="Library id (repeat).")
@click.option("--map", "maps", multiple=True, help="OURS=THEIRS path prefix (repeat).")
def group_add(name: str, library_ids: tuple[int, ...], maps: tuple[str, ...]) -> None:
    """Add player group NAME serving the given libraries."""
    body = {"name": name, "library_ids": list(library_ids), "path_mappings": _mappings(maps)}
    click.echo(json.dumps(_create("player-groups", body)))


@group.command("update")
@click.argument("group_id", type=int)
@click.option("--name")
@click.option("--library", "library_ids", type=int, multiple=True, help="Replaces the libraries.")
@click.option("--no-libraries", is_flag=True, help="Serve no library.")
@click.option("--map", "maps", multiple=True, help="OURS=THEIRS: replaces the mappings.")
@click.option("--no-maps", is_flag=True, help="Remove every path mapping.")
def group_update(
    group_id: int, name: str | None, library_ids: tuple[int, ...], no_libraries: bool,
    maps: tuple[str, ...], no_maps: bool,
) -> None:  # fmt: skip
    """Change player group GROUP_ID: only the options given."""
    body = _given(
        name=name,
        library_ids=_replacement(library_ids, no_libraries, "--library"),
        path_mappings=_replacement(tuple(_mappings(maps)), no_maps, "--map"),
    )
    _update("player-groups", group_id, body)


def _in_words(names: list[str]) -> str:
    """``a, b and c``."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


# The help names every registered player type: "Players: Kodi, Jellyfin, Emby and Plex."
@click.group(help=f"Players: {_in_words([kind.label for kind in PLAYER_KINDS.values()])}.")
def player() -> None:
    """Players of the registered types."""


@player.command("add")
@click.argument("name")
@click.option("--type", "player_type", required=True, type=click.Choice(PLAYER_TYPES))
@click.option("--url", help="e.g. http://kodi.local:8080 (not for --type log, a dry run)")
@click.option("--group", "group_id", type=int, required=True)
@click.option("--position", type=int, default=0, show_default=True, help="Lower is tried first.")
@click.option("--username", default=None)
@click.option("--password", default=None)
@click.option("--token", default=None)
@click.option("--command", default=None, help=COMMAND_HELP)
@click.option("--time-limit", type=int, default=None, help=TIME_LIMIT_HELP)
@click.option("--header-name", default=None, help=HEADER_NAME_HELP)
@click.option("--header-value", default=None, help=HEADER_VALUE_HELP)
@click.option("--disabled", is_flag=True)
def player_add(
    name: str, player_type: str, url: str | None, group_id: int, position: int,
    username: str | None, password: str | None, token: str | None, command: str | None,
    time_limit: int | None, header_name: str | None, header_value: str | None, disabled: bool,
) -> None:  # fmt: skip
    """Add player NAME to a group. ``--type log`` is a dry run: its jobs record what each
    player type would have been sent, and nothing is sent; ``--type command`` runs
    ``--command``, ``--type webhook`` posts to ``--url``."""
    body = _given(
        name=name, type=player_type, url=url, group_id=group_id, position=position,
        username=username, password=password, token=token, command=command,
        time_limit=time_limit, header_name=header_name, header_value=header_value,
        enabled=not disabled,
    )  # fmt: skip
    click.echo(json.dumps(_create("players", body)))


@player.command("update")
@click.argument("player_id", type=int)
@click.option("--name")
@click.option("--type", "player_type", type=click.Choice(PLAYER_TYPES))
@click.option("--url")
@click.option("--group", "group_id", type=int)
@click.option("--position", type=int, help="Lower is tried first.")
@click.option("--username", help='"" clears it.')
@click.option("--password", help='"" clears it.')
@click.option("--token", help='"" clears it.')
@click.option("--command", help=COMMAND_HELP)
@click.option("--time-limit", type=int, help=TIME_LIMIT_HELP)
@click.option("--header-name", help=HEADER_NAME_HELP + ' "" clears it.')
@click.option("--header-value", help=HEADER_VALUE_HELP + ' "" clears it.')
@click.option("--enabled/--disabled", default=None)
def player_update(
    player_id: int, name: str | None, player_type: str | None, url: str | None,
    group_id: int | None, position: int | None, username: str | None, password: str | None,
    token: str | None, command: str | None, time_limit: int | None, header_name: str | None,
    header_value: str | None, enabled: bool | None,
) -> None:  # fmt: skip
    """Change player PLAYER_ID: only the options given (secrets are never shown)."""
    body = _given(
        name=name, type=player_type, url=url, group_id=group_id, position=position,
        enabled=enabled, command=command, time_limit=time_limit,
    )  # fmt: skip
    # An empty value clears an optional field (null in a PATCH of the API).
    clearable = (
        ("username", username), ("password", password), ("token", token),
        ("header_name", header_name), ("header_value", header_value),
    )  # fmt: skip
    for key, value in clearable:
        if value is not None:
            body[key] = value or None
    _update("players", player_id, body)


@player.command("test")
@click.argument("player_id", type=int)
def player_test(player_id: int) -> None:
    """Check that a player answers and accepts its credentials, and that each library of
    its group is inside one of its library folders (exit 1 when one is not)."""
    with _refusals(), read_session() as session:
        row = get_row(session, Player, player_id, "player")
        group = GroupLibraries.of(row)
    client = client_for(settings_of(row))
    try:
        details = client.ping()
        checks = library_checks(group, client)
    except PlayerError as exc:
        raise click.ClickException(f"{row.name}: {exc}") from exc
    click.echo(f"{row.name}: reachable {json.dumps(details)}")
    for check in checks:
        mark = {True: "ok", False: "PROBLEM", None: "unknown"}[check.in_source]
        click.echo(f"  library {check.library}: {mark}: {check.message}")
    if any(check.in_source is False for check in checks):
        raise SystemExit(1)


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--wait", is_flag=True, help="Wait until the scans and the players are done.")
def scan(paths: tuple[str, ...], wait: bool) -> None:
    """Scan folders copied by hand: each goes through the ``manual`` path mappings to its
    library, is scanned and the players are told (as ``POST /api/triggers/manual``).
    Nothing is queued when a path is in no library."""
    dirs = [_from_here(path) for path in paths]
    with _refusals():  # empty, too long or too many paths: InvalidPayload
        build_job("manual-scan", {"dirs": dirs})  # the payload's checks, before the places'
        refused = in_no_library(dirs)
        if refused:
            raise click.ClickException("nothing queued: " + "; ".join(refused))
        job = submit("manual-scan", {"dirs": dirs}).job
    click.echo(f"queued manual-scan job {job.id}")
    if wait:
        wait_and_tell(job.id, chain=True)


@click.command("watch")
@click.option(
    "--reload-every",
    default=30.0,
    show_default=True,
    help="Seconds between readings of which libraries to watch (and of their anchors).",
)
def watch(reload_every: float) -> None:
    """Watch the libraries marked ``watch``: what changes under them is scanned (one
    watcher per deployment; ``up`` runs it). Stops on Ctrl-C or SIGTERM."""
    settings = current().settings
    # A service: it logs at ORCH_LOG_LEVEL, not at a command's WARNING.
    configure_logging(settings.log_level, settings.log_format)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    media = media_settings()
    watcher = FolderWatcher(
        media.watch_quiet, reload_every=reload_every, fallback_every=media.watch_fallback_interval
    )
    watcher.run(stop)


def _from_here(path: str) -> str:
    """A relative path from the current folder, as a shell means it; another host's
    (``C:\\…``, ``smb://…``) and absolute paths as they are."""
    path = path.strip()
    if not path or os.path.isabs(path) or is_windows_style(path) or "://" in path:
        return path
    return os.path.abspath(path)


# fmt: off
_add_list_and_delete(library, "libraries", "Every library, one JSON object per line.",
                     "Delete a library, with its movies and series in the catalog.")
_add_list_and_delete(mapping, "path-mappings", "Every manager path mapping, one JSON object "
                     "per line.", "Delete a manager path mapping.")
_add_list_and_delete(group, "player-groups", "Every player group, one JSON object per line.",
                     "Delete a player group, with its players.")
_add_list_and_delete(player, "players", "Every player, one JSON object per line (secrets are "
                     "never shown).", "Delete a player.")
# fmt: on
COMMANDS = [library, mapping, group, player, scan, watch]
