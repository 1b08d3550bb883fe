"""Fake Kodi, Jellyfin/Emby and Plex speaking just enough of their protocols, a webhook's
receiver (``FakeWebhook``), and any other web server (``FakeWebServer``).

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
from pathlib import Path
from typing import Any

from tests.fakes import FakeServer, Incoming, Reply, _Handler, json_reply
from tests.fakes.kodi_library import KodiLibrary


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

    Its video library (``library``, tests/fakes/kodi_library.py) behaves as a real Kodi 20's
    over real folders: give it sources with ``add_source``. As in Kodi, a scan or clean
    only answers "OK" and runs ``scan_delay`` seconds later (one at a time): a scan called
    while a scan is pending stops it instead of running, a scan called while a clean is
    pending is dropped, and so is a clean called while anything is pending.

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
        self.scan_delay = 0.05
        self.library = KodiLibrary()
        self._pending: threading.Timer | None = None
        self._pending_kind = ""  # "scan" or "clean"
        self._credentials = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._credentials = f"Basic {token}"
        super().__init__()

    def add_source(
        self, path: str | Path, content: str | None, disk: str | Path | None = None
    ) -> None:
        """A source at ``path`` as Kodi sees it, with its content ("movies", "tvshows",
        None, or "music": a music source), its files in ``disk`` here (default: ``path``)."""
        self.library.add_source(str(path), content, str(disk) if disk is not None else None)

    def idle(self) -> bool:
        """True when no scan or clean is pending (``Library.IsScanning`` would say false)."""
        with self._lock:
            return self._pending is None

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

    def movie_files(self) -> list[str]:
        """The files of the movies in its library, sorted."""
        with self.library.lock:
            return sorted(self.library.movies)

    def episode_files(self) -> list[str]:
        """The files of the episodes in its library, sorted."""
        with self.library.lock:
            return sorted(self.library.episodes)

    def song_files(self) -> list[str]:
        """The files of the songs in its music library, sorted."""
        with self.library.lock:
            return sorted(self.library.songs)

    def stop(self) -> None:
        """Drop a pending scan, then stop."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
        super().stop()

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
        params = body.get("params") or {}
        if self.mode == "rpc-error" or not isinstance(params, dict):
            answer["error"] = _error(-32602)
        else:
            answer.update(self._run(str(body.get("method")), params))
        return json_reply(200, answer)

    def _run(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        allowed = _PARAMS.get(method)
        if allowed is None:
            return {"error": _error(-32601)}
        if set(params) - allowed:
            return {"error": _error(-32602)}  # "Too many parameters", as Kodi says
        if method == "JSONRPC.Ping":
            return {"result": "pong"}
        if method == "JSONRPC.Version":
            major, minor, patch = self.version
            return {"result": {"version": {"major": major, "minor": minor, "patch": patch}}}
        if method == "XBMC.GetInfoBooleans":
            return {"result": {name: self._info(name) for name in params.get("booleans", [])}}
        if method == "VideoLibrary.Scan":
            self._scan(str(params.get("directory", "")))
            return {"result": "OK"}
        if method == "VideoLibrary.Clean":
            return self._clean(params)
        if method == "AudioLibrary.Scan":
            self._scan(str(params.get("directory", "")), self.library.scan_music)
            return {"result": "OK"}
        if method == "AudioLibrary.Clean":
            return self._clean_music(params)
        if method == "VideoLibrary.RemoveTVShow":
            removed = self.library.remove_show(params.get("tvshowid", -1))
            return {"result": "OK"} if removed else {"error": _error(-32602)}
        if method == "Files.GetSources":
            music = params.get("media") == "music"
            sources = [
                {"file": s.path, "label": s.path}
                for s in self.library.sources
                if (s.content == "music") == music
            ]
            return {"result": {"sources": sources, "limits": _limits(sources)}}
        if method == "Files.GetDirectory":
            entries = self.library.list_folder(str(params.get("directory", "")))
            if entries is None:
                return {"error": _error(-32602)}
            files = [{"file": e, "label": e.rstrip("/").rpartition("/")[2]} for e in entries]
            return {"result": {"files": files, "limits": _limits(files)}}
        return {"result": self._items(method, params)}

    def _scan(self, directory: str, work: Callable[[str], None] | None = None) -> None:
        """Queue the scan (``work``: the library's video scan by default), or stop a
        pending one (Kodi's scan is a toggle)."""
        with self._lock:
            if self._pending is not None:
                if self._pending_kind == "scan":
                    self._pending.cancel()  # not started yet: it never runs
                    self.library.stop.set()  # running: it stops at the next folder
                    self._pending = None
                return
        self._queue("scan", work or self.library.scan, directory)

    def _queue(self, kind: str, work: Callable[..., None], *args: Any) -> None:
        """Run ``work`` in ``scan_delay`` seconds, as Kodi's library job."""

        def run() -> None:
            work(*args)
            with self._lock:
                if self._pending is timer:
                    self._pending = None

        timer = threading.Timer(self.scan_delay, run)
        timer.daemon = True
        with self._lock:
            self._pending, self._pending_kind = timer, kind
        timer.start()

    def _clean(self, params: dict[str, Any]) -> dict[str, Any]:
        if "directory" in params and self.version[0] < 12:
            return {"error": _error(-32602)}  # older Kodi: no such parameter
        content = params.get("content", "video")
        if content not in ("video", "movies", "tvshows", "musicvideos"):
            return {"error": _error(-32602)}
        if params.get("showdialogs", True):
            self.halted.wait()  # a modal dialog waits for someone to answer it
            return {"result": "OK"}
        with self._lock:
            busy = self._pending is not None
        if not busy:  # "CleanLibrary is not possible while scanning or cleaning"
            self._queue("clean", self.library.clean, str(params.get("directory", "")), content)
        return {"result": "OK"}

    def _clean_music(self, params: dict[str, Any]) -> dict[str, Any]:
        """``AudioLibrary.Clean``: whole, only without dialogs, never while busy."""
        if params.get("showdialogs", True):
            self.halted.wait()  # a modal dialog waits for someone to answer it
            return {"result": "OK"}
        with self._lock:
            busy = self._pending is not None
        if not busy:
            self._queue("clean", self.library.clean_music)
        return {"result": "OK"}

    def _items(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """``VideoLibrary.Get*``: the items, with the properties asked for (and their ids
        and labels), filtered by path."""
        key, id_key, table = {
            "VideoLibrary.GetMovies": ("movies", "movieid", self.library.movies),
            "VideoLibrary.GetEpisodes": ("episodes", "episodeid", self.library.episodes),
            "VideoLibrary.GetTVShows": ("tvshows", "tvshowid", self.library.shows),
            "AudioLibrary.GetSongs": ("songs", "songid", self.library.songs),
        }[method]
        wanted = set(params.get("properties", []))
        condition = params.get("filter") or {}
        prefix = condition.get("value", "") if condition.get("field") == "path" else ""
        with self.library.lock:
            records = [dict(r) for r in table.values() if r["file"].startswith(prefix)]
        if "tvshowid" in params:
            records = [r for r in records if r.get("tvshowid") == params["tvshowid"]]
        items = [
            {id_key: r[id_key], "label": r.get("label", r.get("title", ""))}
            | {name: r[name] for name in wanted if name in r}
            for r in records
        ]
        return {key: items, "limits": _limits(items)}

    def _info(self, name: str) -> bool:
        if name != "Library.IsScanning":
            return False
        with self._lock:
            if self.scanning_checks > 0:
                self.scanning_checks -= 1
                return True
            return self._pending is not None


# The methods the fake knows, with the parameters Kodi 20 takes for each.
_PARAMS: dict[str, set[str]] = {
    "JSONRPC.Ping": set(),
    "JSONRPC.Version": set(),
    "XBMC.GetInfoBooleans": {"booleans"},
    "VideoLibrary.Scan": {"directory", "showdialogs"},
    "VideoLibrary.Clean": {"directory", "content", "showdialogs"},
    "VideoLibrary.GetMovies": {"properties", "limits", "sort", "filter"},
    "VideoLibrary.GetEpisodes": {"tvshowid", "season", "properties", "limits", "sort", "filter"},
    "VideoLibrary.GetTVShows": {"properties", "limits", "sort", "filter"},
    "VideoLibrary.RemoveTVShow": {"tvshowid"},
    "AudioLibrary.Scan": {"directory", "showdialogs"},
    "AudioLibrary.Clean": {"showdialogs"},
    "AudioLibrary.GetSongs": {"properties", "limits", "sort", "filter"},
    "Files.GetSources": {"media", "limits", "sort"},
    "Files.GetDirectory": {"directory", "media", "properties", "sort", "limits"},
}


def _limits(items: list[Any]) -> dict[str, int]:
    return {"start": 0, "end": len(items), "total": len(items)}


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


class FakeWebhook(FakeServer):
    """A webhook's receiver: records each request's path, headers and JSON body, and answers
    each with the next of ``statuses`` (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        super().__init__()

    def handle(self, incoming: Incoming) -> Reply:
        """Record the request, answer the next status."""
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
        body = json.loads(incoming.body) if incoming.body else None
        self._record({"path": incoming.path, "headers": incoming.headers, "body": body})
        return Reply(status, b"{}")


# A fake of each registered player type (services.players.PLAYER_TYPES), called with the
# credentials that type uses: FAKES["emby"](token="t") is an Emby server expecting token t.
# tests/unit/test_player_registry.py checks every registered type has one.
FAKES: dict[str, Callable[..., FakeServer]] = {
    "kodi": FakeKodi,
    "jellyfin": functools.partial(FakeJellyfin, flavor="jellyfin"),
    "emby": functools.partial(FakeJellyfin, flavor="emby"),
    "plex": FakePlex,
    "webhook": FakeWebhook,
}
