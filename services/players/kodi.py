"""Kodi over HTTP JSON-RPC 2.0 (``POST <url>/jsonrpc``)."""

from __future__ import annotations

import itertools
import re
from typing import Any

from services.players.base import (
    PlayerBusy,
    PlayerError,
    PlayerSettings,
    PlayerUnavailable,
    identify,
    json_body,
    request,
    require_directory,
    with_separator,
)

# Kodi's web server asks for Basic auth in the realm "XBMC" (quoted or not).
_KODI_REALM = re.compile(r'realm="?(xbmc|kodi)\b', re.IGNORECASE)


def kodi_directory(directory: str) -> str:
    """``directory`` with exactly one trailing separator of its own style (``/`` or ``\\``).

    Kodi wants a folder with a trailing separator; the path form (smb://, nfs://, a local or
    a Windows path) is the player's and is otherwise kept as given.
    """
    require_directory(directory)
    return with_separator(directory)


# JSON-RPC API version from which VideoLibrary.Clean takes a directory (Kodi 19).
CLEAN_BY_DIRECTORY = 12


class KodiClient:
    """A Kodi instance; Basic auth only when a username is set."""

    TYPES = {"kodi": "Kodi"}

    def __init__(self, settings: PlayerSettings) -> None:
        self.settings = settings
        base = settings.url.rstrip("/")
        self.endpoint = base if base.endswith("/jsonrpc") else f"{base}/jsonrpc"
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Run one JSON-RPC method and return its ``result``."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            body["params"] = params
        auth = None
        if self.settings.username:
            auth = (self.settings.username, self.settings.password or "")
        response = request(self.settings, "POST", self.endpoint, json=body, auth=auth)
        answer = json_body(self.settings, response)
        where = self.settings.describe()
        if not isinstance(answer, dict):
            raise PlayerUnavailable(f"{where}: {method} answer is not a JSON-RPC object")
        error = answer.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
            raise PlayerError(self.settings.redact(f"{where}: {method} error {code}: {message}"))
        if "result" not in answer:
            raise PlayerUnavailable(f"{where}: {method} answer has no result")
        return answer["result"]

    def _ping(self) -> None:
        pong = self.call("JSONRPC.Ping")
        if pong != "pong":
            raise PlayerUnavailable(f"{self.settings.describe()}: Ping answered {pong!r}")

    def ping(self) -> dict[str, Any]:
        """``JSONRPC.Ping`` then ``JSONRPC.Version``; returns ``{"version": "13.5.0"}``.

        Only a ``pong`` and a well-formed version make it a Kodi; a 401 is Kodi refusing the
        credentials only in Kodi's realm. Anything else is ``NotThisPlayer``.
        """
        version = identify(self.settings, self.TYPES["kodi"], self._pong_version, _KODI_REALM)
        return {"version": version}

    def _pong_version(self) -> str:
        """``JSONRPC.Ping``, then the version ``JSONRPC.Version`` gives."""
        self._ping()
        return "{}.{}.{}".format(*self._version())

    def _version(self) -> tuple[int, int, int]:
        version = self.call("JSONRPC.Version")
        try:
            number = version["version"]
            return int(number["major"]), int(number["minor"]), int(number["patch"])
        except (KeyError, TypeError, ValueError) as exc:
            where = self.settings.describe()
            raise PlayerUnavailable(f"{where}: unexpected JSONRPC.Version answer") from exc

    def is_scanning(self) -> bool:
        """Whether a library scan runs now (``Library.IsScanning``)."""
        result = self.call("XBMC.GetInfoBooleans", {"booleans": ["Library.IsScanning"]})
        value = result.get("Library.IsScanning") if isinstance(result, dict) else None
        if not isinstance(value, bool):
            raise PlayerUnavailable(f"{self.settings.describe()}: unexpected IsScanning answer")
        return value

    def scan(self, directory: str, update_type: str = "Modified") -> dict[str, Any]:
        """Ping, then scan ``directory`` unless a scan already runs (``PlayerBusy``).

        For a deletion, the folder is cleaned instead (``VideoLibrary.Clean`` of that
        directory), where Kodi's API takes a directory: scanning a folder that is gone
        leaves its items in Kodi's library. Older Kodi versions get the scan.
        """
        folder = kodi_directory(directory)
        self._ping()
        method, params = "VideoLibrary.Scan", {"directory": folder, "showdialogs": False}
        if update_type == "Deleted" and self._version()[0] >= CLEAN_BY_DIRECTORY:
            method, params = "VideoLibrary.Clean", {**params, "content": "video"}
        # A second scan or clean does not queue: it cancels the running one, or is refused.
        if self.is_scanning():
            raise PlayerBusy(f"{self.settings.describe()}: a library scan is already running")
        result = self.call(method, params)
        if result != "OK":
            where = self.settings.describe()
            raise PlayerError(f"{where}: {method} answered {result!r}")
        return {"directory": folder, "result": result, "method": method}
