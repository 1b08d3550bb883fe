"""Fake external services: real HTTP servers on 127.0.0.1 (ephemeral port) for every tier.

A fake serves from a daemon thread, so a worker in another process can call it too. It
records what it accepted in ``requests`` (thread-safe); requests refused with 401 are only
counted in ``rejected``. ``stop()`` is idempotent, after it the port refuses connections;
every fake is also a context manager.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class Incoming:
    """One HTTP request as a fake sees it."""

    method: str
    path: str  # decoded, without the query
    query: dict[str, str]
    target: str  # the raw request target, to check URL encoding
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True)
class Reply:
    """What a fake answers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # more headers, e.g. WWW-Authenticate


def json_reply(status: int, payload: Any) -> Reply:
    """A JSON answer."""
    return Reply(status, json.dumps(payload).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        split = urlsplit(self.path)
        incoming = Incoming(
            method=self.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            target=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        reply = self.server.fake.handle(incoming)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout tests)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class FakeServer:
    """The HTTP plumbing every fake shares; subclasses implement ``handle``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self.requests: list[dict[str, Any]] = []
        self.rejected = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval keeps stop() (which waits for the next poll) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()

    def handle(self, incoming: Incoming) -> Reply:
        """Answer one request (called on a server thread)."""
        raise NotImplementedError

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def _reject(self, *headers: tuple[str, str]) -> Reply:
        with self._lock:
            self.rejected += 1
        return Reply(401, headers=headers)

    def stop(self) -> None:
        """Shut the server down; later connections are refused. Safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
