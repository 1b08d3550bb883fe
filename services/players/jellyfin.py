"""Jellyfin and Emby: the "media updated" notification (``POST /Library/Media/Updated``)."""

from __future__ import annotations

from typing import Any

from services.players.base import (
    UNVERIFIED,
    PlayerSettings,
    PlayerUnavailable,
    ScanTarget,
    identify,
    json_body,
    request,
    require_directory,
)

UPDATE_TYPES = ("Created", "Modified", "Deleted")


def media_updated_body(path: str, update_type: str) -> dict[str, Any]:
    """The body of ``POST /Library/Media/Updated`` reporting ``path``."""
    return {"Updates": [{"Path": path, "UpdateType": update_type}]}


class JellyfinClient:
    """A Jellyfin or Emby server; the flavour (and so the auth header) is ``settings.type``."""

    TYPES = {"jellyfin": "Jellyfin", "emby": "Emby"}

    def __init__(self, settings: PlayerSettings) -> None:
        if settings.type not in self.TYPES:
            raise ValueError(f"JellyfinClient serves jellyfin or emby, not {settings.type!r}")
        self.settings = settings
        self.base = settings.url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        token = self.settings.token
        if not token:
            return {}
        if self.settings.type == "emby":
            return {"X-Emby-Token": token}
        # Jellyfin 12 turns the legacy X-Emby-Token / api_key forms off by default.
        return {"Authorization": f'MediaBrowser Token="{token}"'}

    def ping(self) -> dict[str, Any]:
        """``GET /System/Info/Public`` (no token) tells a Jellyfin or Emby server by its
        ``Id`` and ``Version``; then ``GET /System/Info`` checks the token.

        Returns ``{"version": "10.10.3"}``; anything but such a server is ``NotThisPlayer``.
        """
        label = self.TYPES[self.settings.type]
        version = identify(self.settings, label, self._public_version)
        response = request(
            self.settings, "GET", f"{self.base}/System/Info", headers=self._headers()
        )
        if not isinstance(json_body(self.settings, response), dict):
            raise PlayerUnavailable(f"{self.settings.describe()}: unexpected System/Info answer")
        return {"version": version}

    def _public_version(self) -> Any:
        """The ``Version`` of ``GET /System/Info/Public`` (no token) if it has an ``Id``."""
        public = request(self.settings, "GET", f"{self.base}/System/Info/Public")
        info = json_body(self.settings, public)
        if isinstance(info, dict) and isinstance(info.get("Id"), str):
            return info.get("Version")
        return None

    def is_scanning(self) -> bool:
        """Always false: the server queues path updates itself."""
        return False

    def sources(self, media: str = "video") -> list[str] | None:
        """Not asked: listing library folders takes an administrator's key."""
        return None

    def scan(self, directory: str, update_type: str = "Modified") -> dict[str, Any]:
        """Report ``directory`` (sent without a trailing separator) as Created/Modified/Deleted."""
        require_directory(directory)
        if update_type not in UPDATE_TYPES:
            raise ValueError(f"update_type must be one of {', '.join(UPDATE_TYPES)}")
        path = directory.rstrip("/\\") or directory
        body = media_updated_body(path, update_type)
        response = request(
            self.settings,
            "POST",
            f"{self.base}/Library/Media/Updated",
            headers=self._headers(),
            json=body,
        )
        return {"path": path, "update_type": update_type, "status": response.status_code}

    def notify(self, target: ScanTarget) -> dict[str, Any]:
        """``scan`` of the target's folder. Not verified: the server queues the request and
        tells no one when (or whether) its library changed."""
        details = self.scan(target.directory, target.update_type)
        return {**details, "verified": False, "verification": UNVERIFIED}
