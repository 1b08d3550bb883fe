"""Plex Media Server: partial scan of every library section holding a folder."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from services.players.base import (
    UNVERIFIED,
    PlayerError,
    PlayerSettings,
    PlayerUnavailable,
    ScanTarget,
    contains,
    identify,
    json_body,
    request,
    require_directory,
)


def refresh_request(section: str, directory: str) -> str:
    """The request that has Plex scan ``directory`` of library section ``section``."""
    return f"/library/sections/{quote(section, safe='')}/refresh?path={quote(directory, safe='')}"


class PlexClient:
    """A Plex Media Server, authenticated by ``X-Plex-Token``."""

    TYPES = {"plex": "Plex"}

    def __init__(self, settings: PlayerSettings) -> None:
        self.settings = settings
        self.base = settings.url.rstrip("/")
        self.headers = {"Accept": "application/json"}
        if settings.token:
            self.headers["X-Plex-Token"] = settings.token

    def _get(self, path: str) -> Any:
        # Plex answers 404 while it starts up or when a section has just gone: retry later.
        return request(
            self.settings, "GET", f"{self.base}{path}", headers=self.headers, unavailable={404}
        )

    def _container(self, path: str) -> dict[str, Any]:
        answer = json_body(self.settings, self._get(path))
        container = answer.get("MediaContainer") if isinstance(answer, dict) else None
        if not isinstance(container, dict):
            raise PlayerUnavailable(f"{self.settings.describe()}: {path} has no MediaContainer")
        return container

    def sections(self) -> list[tuple[str, list[str]]]:
        """Every library section as ``(key, [location paths])``."""
        container = self._container("/library/sections")
        try:
            return [
                (str(section["key"]), [str(loc["path"]) for loc in section.get("Location", [])])
                for section in container.get("Directory", [])
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            where = self.settings.describe()
            raise PlayerUnavailable(f"{where}: unexpected /library/sections answer") from exc

    def ping(self) -> dict[str, Any]:
        """``GET /identity`` then ``GET /library/sections``; returns ``{"version": ...}``.

        Plex answers ``/identity`` without a token: a ``MediaContainer`` with a
        ``machineIdentifier`` and a version tells a Plex from anything else
        (``NotThisPlayer``). The sections call is then the auth check.
        """
        version = identify(self.settings, self.TYPES["plex"], self._identity_version)
        self.sections()
        return {"version": version}

    def _identity_version(self) -> Any:
        """The ``version`` of ``/identity`` if it has a ``machineIdentifier``."""
        identity = self._container("/identity")
        if isinstance(identity.get("machineIdentifier"), str):
            return identity.get("version")
        return None

    def is_scanning(self) -> bool:
        """Always false: Plex queues refresh requests itself."""
        return False

    def sources(self, media: str = "video") -> list[str] | None:
        """The locations of every library section."""
        return sorted({path for _, paths in self.sections() for path in paths})

    def scan(self, directory: str, update_type: str = "Modified") -> dict[str, Any]:
        """Refresh ``directory`` in every section whose location holds it.

        ``update_type`` is ignored: a Plex partial scan also notices deletions.
        """
        require_directory(directory)
        sections = self.sections()
        keys = [key for key, paths in sections if any(contains(p, directory) for p in paths)]
        if not keys:
            known = sorted({path for _, paths in sections for path in paths})
            raise PlayerError(
                f"{self.settings.describe()}: no library section holds {directory!r};"
                f" section locations: {', '.join(known) or 'none'}"
            )
        for key in keys:
            self._get(refresh_request(key, directory))
        return {"sections": keys}

    def notify(self, target: ScanTarget) -> dict[str, Any]:
        """``scan`` of the target's folder. Not verified: the server queues the request and
        tells no one when (or whether) its library changed."""
        details = self.scan(target.directory, target.update_type)
        return {**details, "verified": False, "verification": UNVERIFIED}
