"""Fake Kodi, Jellyfin/Emby and Plex speaking just enough of their protocols, and any other
web server (``FakeWebServer``).

See ``tests.fakes`` for what every fake shares (recording, ``stop()``, context manager).
Unknown paths answer 404. Every player fake can also trickle its answers (``trickle``).
``FAKES`` names the fake of each player type.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakes import FakeServer, Incoming, Reply, _Handler, json_reply


class TricklingFake(FakeServer):
    """A fake that can send each answer one byte every ``trickle`` seconds.

    ``trickle = None`` (the default) answers at once. With ``trickle_headers = False`` the
    status line and headers go out at once and only the body trickles; with True they
    trickle too. A pause shorter than the client's timeout never trips a per-read timeout:
    only a deadline for the whole call ends such an answer early. ``stop()`` ends a trickle.
    """

    def __init__(self) -> None:
        self.trickle: float | None = None
        self.trickle_headers = False
        self.halted = threading.Event()
        super().__init__()
        # Read by the server for each new connection: no request has come in yet.
        self._server.RequestHandlerClass = _TrickleHandler

    def stop(self) -> None:
        """End any trickle in progress, then shut the server down."""
        self.halted.set()
        super().stop()


class _TrickleWriter(io.BufferedIOBase):
    """The handler's ``wfile``, writing one byte at a time while its fake trickles."""

    def __init__(self, raw: io.BufferedIOBase, fake: TricklingFake) -> None:
        super().__init__()
        self.raw = raw
        self.fake = fake
        self.in_headers = False

    def write(self, data: Any) -> int:
        """Write ``data``, slowly when the fake trickles this part of the answer."""
        pause = self.fake.trickle
        if pause is None or (self.in_headers and not self.fake.trickle_headers):
            return self.raw.write(data)
        for index, byte in enumerate(bytes(data)):
            if index and self.fake.halted.wait(pause):
                raise BrokenPipeError("the fake was stopped mid-answer")
            self.raw.write(bytes([byte]))
        return len(data)

    def flush(self) -> None:
        """Flush the socket writer."""
        self.raw.flush()


class _TrickleHandler(_Handler):
    def setup(self) -> None:
        super().setup()
        fake = self.server.fake
        assert isinstance(fake, TricklingFake)
        self.writer = _TrickleWriter(self.wfile, fake)
        self.wfile = self.writer

    def end_headers(self) -> None:
        # BaseHTTPRequestHandler writes the status line and headers here, the body later.
        self.writer.in_headers = True
        try:
            super().end_headers()
        finally:
            self.writer.in_headers = False


class FakeKodi(TricklingFake):
    """Kodi's ``POST /jsonrpc``; Basic auth is required when a username is given.

    ``mode``: "ok", "error500", "garbage" (200, not JSON), "slow" (sleep ``delay`` first) or
    "rpc-error" (every call answers JSON-RPC error -32602). ``scanning_checks = N`` makes the
    next N ``Library.IsScanning`` checks answer true. ``version`` is the JSON-RPC API
    version it reports (13: Kodi 20; before 12, ``VideoLibrary.Clean`` takes no directory).
    """

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.mode = "ok"
        self.delay = 1.0
        self.scanning_checks = 0
        self.version = (13, 5, 0)
        self._credentials = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._credentials = f"Basic {token}"
        super().__init__()

    def methods(self) -> list[str]:
        """The JSON-RPC method names received, in order."""
        with self._lock:
            return [str(body.get("method")) for body in self.requests]

    def scans(self, method: str = "VideoLibrary.Scan") -> list[dict[str, Any]]:
        """The params of each ``VideoLibrary.Scan`` (or ``method``) received."""
        with self._lock:
            return [
                body.get("params", {}) for body in self.requests if body.get("method") == method
            ]

    def cleans(self) -> list[dict[str, Any]]:
        """The params of each ``VideoLibrary.Clean`` received."""
        return self.scans("VideoLibrary.Clean")

    def handle(self, incoming: Incoming) -> Reply:
        """Answer one JSON-RPC call according to ``mode``."""
        if (incoming.method, incoming.path) != ("POST", "/jsonrpc"):
            return Reply(404)
        if self._credentials and incoming.headers.get("authorization") != self._credentials:
            return self._reject(("WWW-Authenticate", 'Basic realm="XBMC"'))  # as Kodi does
        try:
            body = json.loads(incoming.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._record({"invalid": incoming.body.decode(errors="replace")})
            return json_reply(200, {"jsonrpc": "2.0", "id": None, "error": _error(-32700)})
        self._record(body)
        if self.mode == "error500":
            return Reply(500, b"Internal Server Error", "text/plain")
        if self.mode == "garbage":
            return Reply(200, b"<html>this is not JSON</html>", "text/html")
        if self.mode == "slow":
            time.sleep(self.delay)
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": body.get("id")}
        if self.mode == "rpc-error":
            answer["error"] = _error(-32602)
        else:
            answer.update(self._run(str(body.get("method")), body.get("params") or {}))
        return json_reply(200, answer)

    def _run(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "JSONRPC.Ping":
            return {"result": "pong"}
        if method == "JSONRPC.Version":
            major, minor, patch = self.version
            return {"result": {"version": {"major": major, "minor": minor, "patch": patch}}}
        if method == "XBMC.GetInfoBooleans":
            return {"result": {name: self._info(name) for name in params.get("booleans", [])}}
        if method == "VideoLibrary.Scan":
            return {"result": "OK"}
        if method == "VideoLibrary.Clean":
            if "directory" in params and self.version[0] < 12:
                return {"error": _error(-32602)}  # older Kodi: no such parameter
            return {"result": "OK"}
        return {"error": _error(-32601)}

    def _info(self, name: str) -> bool:
        if name != "Library.IsScanning":
            return False
        with self._lock:
            if self.scanning_checks > 0:
                self.scanning_checks -= 1
                return True
        return False


_RPC_ERRORS = {-32700: "Parse error.", -32602: "Invalid params.", -32601: "Method not found."}


def _error(code: int) -> dict[str, Any]:
    return {"code": code, "message": _RPC_ERRORS[code]}


class FakeJellyfin(TricklingFake):
    """Jellyfin (``Authorization: MediaBrowser Token="..."``) or Emby (``X-Emby-Token``).

    Serves ``GET /System/Info/Public`` (no token, as the real ones), ``GET /System/Info`` and
    ``POST /Library/Media/Updated`` (answering ``status``, default 204); Emby also under
    ``/emby``.
    """

    def __init__(self, token: str = "jf-token", flavor: str = "jellyfin") -> None:
        if flavor not in ("jellyfin", "emby"):
            raise ValueError("flavor must be jellyfin or emby")
        self.token = token
        self.flavor = flavor
        self.status = 204
        super().__init__()

    def updates(self) -> list[dict[str, Any]]:
        """Every ``Updates`` entry received, in order."""
        with self._lock:
            return [
                update
                for entry in self.requests
                if entry["path"] == "/Library/Media/Updated" and isinstance(entry["json"], dict)
                for update in entry["json"].get("Updates", [])
            ]

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.flavor == "emby":
            return headers.get("x-emby-token") == self.token
        match = re.fullmatch(r"MediaBrowser\s+(.*)", headers.get("authorization", ""))
        fields = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) if match else {}
        return fields.get("Token") == self.token

    def handle(self, incoming: Incoming) -> Reply:
        """Answer System/Info or a media-updated notification."""
        path = incoming.path
        if self.flavor == "emby" and path.startswith("/emby/"):
            path = path.removeprefix("/emby")
        route = (incoming.method, path)
        routes = {("GET", "/System/Info/Public"), ("GET", "/System/Info")}
        if route not in routes | {("POST", "/Library/Media/Updated")}:
            return Reply(404)
        if path != "/System/Info/Public" and not self._authorized(incoming.headers):
            return self._reject()
        try:
            body = json.loads(incoming.body) if incoming.body else None
        except ValueError:
            body = None
        self._record(
            {"method": incoming.method, "path": path, "headers": incoming.headers, "json": body}
        )
        if path in ("/System/Info", "/System/Info/Public"):
            name = "Emby Server" if self.flavor == "emby" else "Jellyfin Server"
            version = "4.8.10.0" if self.flavor == "emby" else "10.10.3"
            return json_reply(
                200,
                {
                    "LocalAddress": self.url,
                    "ServerName": f"fake-{self.flavor}",
                    "Version": version,
                    "ProductName": name,
                    "OperatingSystem": "Linux",
                    "Id": "fake-server-id",
                    "StartupWizardCompleted": True,
                },
            )
        return Reply(self.status)


class FakePlex(TricklingFake):
    """Plex Media Server: ``/identity`` (no token, as in Plex), ``/library/sections`` and
    ``GET /library/sections/<key>/refresh?path=...`` (answering ``status``, default 200).

    ``sections`` default to Movies (key 1, /data/movies) and TV Shows (key 2, /data/tv).
    """

    def __init__(self, token: str = "plex-token", sections: list[dict] | None = None) -> None:
        self.token = token
        self.status = 200
        self.sections = sections or [
            {"key": "1", "title": "Movies", "type": "movie", "locations": ["/data/movies"]},
            {"key": "2", "title": "TV Shows", "type": "show", "locations": ["/data/tv"]},
        ]
        super().__init__()

    def refreshes(self) -> list[tuple[str, str]]:
        """``(section key, path)`` of every refresh received, whatever it was answered."""
        with self._lock:
            return [
                (match.group(1), entry["query"].get("path", ""))
                for entry in self.requests
                if (match := re.fullmatch(r"/library/sections/([^/]+)/refresh", entry["path"]))
            ]

    def handle(self, incoming: Incoming) -> Reply:
        """Answer identity, the section list or a partial-scan request."""
        refresh = re.fullmatch(r"/library/sections/([^/]+)/refresh", incoming.path)
        known = incoming.path in ("/identity", "/library/sections") or refresh
        if incoming.method != "GET" or not known:
            return Reply(404)
        token = incoming.headers.get("x-plex-token") or incoming.query.get("X-Plex-Token")
        if incoming.path != "/identity" and token != self.token:
            return self._reject()
        self._record(
            {
                "method": incoming.method,
                "path": incoming.path,
                "query": incoming.query,
                "target": incoming.target,
                "headers": incoming.headers,
            }
        )
        if incoming.path == "/identity":
            identity = {"size": 0, "machineIdentifier": "fake-plex-id", "version": "1.41.3.9314"}
            return json_reply(200, {"MediaContainer": identity})
        if refresh is None:
            return json_reply(
                200,
                {"MediaContainer": {"size": len(self.sections), "Directory": self._directories()}},
            )
        if refresh.group(1) not in {str(section["key"]) for section in self.sections}:
            return Reply(404)
        return Reply(self.status)

    def _directories(self) -> list[dict[str, Any]]:
        return [
            {
                "key": str(section["key"]),
                "title": section.get("title", ""),
                "type": section.get("type", "movie"),
                "Location": [
                    {"id": number, "path": path}
                    for number, path in enumerate(section.get("locations", []), start=1)
                ],
            }
            for section in self.sections
        ]


# A fake of each registered player type (services.players.PLAYER_TYPES), called with the
# credentials that type uses: FAKES["emby"](token="t") is an Emby server expecting token t.
# tests/unit/test_player_registry.py checks every registered type has one.
FAKES: dict[str, Callable[..., TricklingFake]] = {
    "kodi": FakeKodi,
    "jellyfin": functools.partial(FakeJellyfin, flavor="jellyfin"),
    "emby": functools.partial(FakeJellyfin, flavor="emby"),
    "plex": FakePlex,
}


class FakeWebServer(FakeServer):
    """Any other web server: every request gets ``status`` (default 200) and ``body``.

    ``challenge``, when set, goes out as the ``WWW-Authenticate`` header.
    """

    def __init__(self, status: int = 200, body: bytes = b"hello", challenge: str = "") -> None:
        self.status = status
        self.body = body
        self.challenge = challenge
        super().__init__()

    def handle(self, incoming: Incoming) -> Reply:
        """Record the request and answer the same whatever it asks."""
        self._record({"method": incoming.method, "path": incoming.path})
        headers = (("WWW-Authenticate", self.challenge),) if self.challenge else ()
        return Reply(self.status, self.body, "text/plain", headers)
