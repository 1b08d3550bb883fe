"""200 open event streams and 200 slowloris clients at once do not lock the API out.

The API runs under gunicorn exactly as ``orchestrator.processes.stack.api_command`` builds it.
Each stream holds a thread of its process; slow clients send their request head a byte
a second, without a key. Meanwhile ``/healthz``, a webhook and a job submission must
each answer within 1 s, a stream past the capacity gets a 503 with ``Retry-After``,
the slow clients are closed after the header timeout, and once the streams close their
capacity comes back. Traffic only to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from orchestrator.processes.stack import api_command
from orchestrator.processes.stopping import terminate
from orchestrator.runtime import current
from orchestrator.web.gunicorn_worker import HEAD_TIMEOUT
from tests.conftest import API_KEY, DATA_DIR, REPO_ROOT, free_port, sqlite_only

STREAMS = 200
SLOW = 200
# More streams than the two processes hold (2 x ORCH_MAX_STREAMS, 128 by default).
EXTRA_STREAMS = 150
ANSWER_WITHIN = 1.0
WEBHOOK = (REPO_ROOT / "tests" / "fixtures" / "radarr_test.json").read_bytes()


@pytest.fixture
def api(database: str) -> Iterator[str]:
    """The API under gunicorn on a free port, as ``orchestrator api`` starts it."""
    sqlite_only(database, "slow clients")
    port = free_port()
    log_path = DATA_DIR / "slow-clients-api.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            api_command(current().settings, "127.0.0.1", port),
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text(errors="replace")
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise AssertionError(f"API not ready:\n{log_path.read_text(errors='replace')}")
            yield url
        finally:
            terminate(process, 20)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _stream_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {API_KEY}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    return sock


def _read_answers(socks: list[socket.socket], timeout: float) -> list[tuple[bytes, bool]]:
    """What each socket received, and whether the server closed it.

    A stream's answer never ends, so reading stops at its head; anything else is read to
    the end (the requests say ``Connection: close``). Bounded by ``timeout`` in all.
    """
    received = {sock: b"" for sock in socks}
    closed: set[socket.socket] = set()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(min(0.5, max(0.0, deadline - time.monotonic()))):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                received[sock] += data
                if not data:
                    closed.add(sock)
                if not data or (
                    received[sock].startswith(b"HTTP/1.1 200") and b"\r\n\r\n" in received[sock]
                ):
                    selector.unregister(sock)
    return [(received[sock], sock in closed) for sock in socks]


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def _open_streams(port: int, count: int, sockets: list[socket.socket]) -> list[bytes]:
    """Open ``count`` event streams (kept in ``sockets``); the answer of each."""
    opened = [_stream_request(port) for _ in range(count)]
    sockets += opened
    return [answer for answer, _ in _read_answers(opened, timeout=20)]


class SlowClients:
    """Connections sending a request head one byte a second, never finishing it."""

    HEAD = b"GET /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * 120

    def __init__(self, port: int, count: int) -> None:
        self.sockets = [
            socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)
        ]
        self.opened = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        for i in range(len(self.HEAD)):  # bounded: ~2 minutes at most
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # closed by the server
                    sock.send(self.HEAD[i : i + 1])
            if self._stop.wait(1.0):
                return

    def closed_by_server(self, timeout: float) -> int:
        """How many of the connections the server closed within ``timeout`` seconds."""
        answers = _read_answers(self.sockets, timeout)
        return sum(1 for answer, closed in answers if closed and _status(answer) in (0, 408))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


def _timed(method: str, url: str, body: bytes | None = None) -> tuple[int, float]:
    """Status and seconds of one request on a new connection."""
    started = time.monotonic()
    response = httpx.request(
        method,
        url,
        content=body,
        headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
        timeout=10,
    )
    return response.status_code, time.monotonic() - started


def test_streams_and_slow_clients_do_not_lock_the_api_out(api: str) -> None:
    port = _port(api)
    streams: list[socket.socket] = []
    slow: SlowClients | None = None
    try:
        answers = _open_streams(port, STREAMS, streams)
        statuses = [_status(a) for a in answers]
        assert statuses.count(200) == STREAMS, f"streams answered: {sorted(set(statuses))}"

        slow = SlowClients(port, SLOW)
        time.sleep(2.5)  # every slow client has sent a few bytes of its head

        timings = []
        for _ in range(3):
            timings += [
                ("healthz", *_timed("GET", f"{api}/healthz")),
                ("webhook", *_timed("POST", f"{api}/api/webhooks/radarr", WEBHOOK)),
                ("submit", *_timed("POST", f"{api}/api/v1/jobs", b'{"type": "test-echo"}')),
            ]
        print(
            "\n"
            + "\n".join(f"{name}: {status} in {s * 1000:.0f} ms" for name, status, s in timings)
        )
        assert [status for _, status, _ in timings] == [200, 202, 202] * 3
        assert max(seconds for _, _, seconds in timings) < ANSWER_WITHIN, timings

        # Past the capacity: refused at once, with Retry-After and a problem body. These
        # clients keep their socket open after the answer (gunicorn's own gthread then
        # stalls its event loop for 2 s per connection, waiting for them to close).
        extra = _open_streams(port, EXTRA_STREAMS, streams)
        refused = [a for a in extra if _status(a) == 503]
        assert len(refused) + sum(1 for a in extra if _status(a) == 200) == EXTRA_STREAMS
        assert refused, "no stream was refused past the capacity"
        head, _, body = refused[0].partition(b"\r\n\r\n")
        assert b"\r\nretry-after: " in head.lower()
        assert b"application/problem+json" in head
        assert json.loads(body)["status"] == 503
        served = STREAMS + EXTRA_STREAMS - len(refused)
        print(f"{served} streams served at once, {len(refused)} refused with 503")

        # The slow clients are closed after the header timeout.
        remaining = HEAD_TIMEOUT + 5 - (time.monotonic() - slow.opened)
        assert slow.closed_by_server(max(1.0, remaining)) == SLOW
    finally:
        if slow is not None:
            slow.close()
        for sock in streams:
            sock.close()

    # Streams closed: the server notices at its next keep-alive writes and frees their
    # slots. Each try holds slots too, so it waits as long before the next one.
    settle = 3 * current().settings.sse_keepalive + 1
    reopened: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            time.sleep(settle)
            statuses = [_status(a) for a in _open_streams(port, STREAMS, reopened)]
            if statuses.count(200) == STREAMS or time.monotonic() > deadline:
                break
            for sock in reopened:
                sock.close()
            reopened.clear()
        assert statuses.count(200) == STREAMS, f"streams answered: {sorted(set(statuses))}"
    finally:
        for sock in reopened:
            sock.close()
