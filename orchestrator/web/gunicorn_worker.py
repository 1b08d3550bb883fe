"""The API's gunicorn worker: gthread, but a request's head is read by the event loop.

Gunicorn's ``gthread`` worker hands a connection to a pool thread as soon as its first
byte arrives, and the thread then blocks until the request line and headers are
complete. A client sending its headers a byte a second (slowloris) thus holds a
thread for as long as it likes, and a few dozen of them lock the API out.

Here the worker's own event loop (its selector, which already watches idle keep-alive
connections) collects the head without blocking. A pool thread gets the connection only
once the blank line that ends the headers has arrived, so it never waits for a slow
client's headers. A head not complete within ``HEAD_TIMEOUT`` seconds, or larger than
``MAX_HEAD`` bytes, is answered 408 or 431 and closed, so slow clients cannot hold
connection slots either. TLS and HTTP/2 with prior knowledge (neither is used: TLS ends
at the reverse proxy) keep gthread's own path.

Closing a connection after its response ("Connection: close") is done by the event loop
too. gthread's graceful close half-closes the socket, then waits up to 2 s, in the event
loop itself, for the client to close its side: a client that keeps the socket open after
its answer stalls the whole process (accepts included) for 2 s. Here the socket lingers
in the selector instead, and the loop goes on.

A request body is still read by the pool thread, as in gthread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker

# Seconds a client has to send its request line and headers (nginx's
# client_header_timeout, 60 s, is meant for the open internet; the API's clients are
# Radarr, Sonarr, browsers and scripts on the local network).
HEAD_TIMEOUT = 10.0
# The largest head collected: far above what the API's clients send.
MAX_HEAD = 64 * 1024
_END_OF_HEAD = b"\r\n\r\n"
# How long, and for how many bytes, a closing connection waits for the client's side to
# close (gunicorn's ``close_graceful``: closing with unread data would reset the answer).
LINGER = 2.0
MAX_LINGER_BYTES = 64 * 1024


def _answer(sock: socket.socket, status: str) -> None:
    """Best effort: a short answer to a client that will be closed anyway."""
    with contextlib.suppress(OSError):
        sock.send(f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode())


class _Conn(TConn):
    """A connection whose graceful close lingers in the worker's event loop."""

    def __init__(self, worker: HeadReadingWorker, *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker
        # The request head collected by the event loop, until a pool thread takes it.
        self.head = bytearray()

    def close(self, graceful: bool = False) -> None:
        if graceful and not self.cfg.is_ssl:
            self.worker.linger(self.sock)
        else:
            super().close(graceful)


class HeadReadingWorker(ThreadWorker):
    """A ``gthread`` worker whose threads only ever see complete request heads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose head is being collected, oldest deadline first (a dict keeps
        # insertion order, and every deadline is "now + HEAD_TIMEOUT").
        self.reading_heads: dict[_Conn, None] = {}
        # Half-closed sockets waiting for the client to close: deadline, bytes drained.
        self.lingering: dict[socket.socket, list[float]] = {}

    def _loop_reads_heads(self, conn: _Conn) -> bool:
        return not self.cfg.is_ssl and not negotiation.prior_knowledge_allowed(
            self.cfg, conn.client
        )

    def accept(self, listener: socket.socket) -> None:
        """Accept a connection and start collecting its head."""
        try:
            client_sock, client_addr = listener.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return  # another process took it, or the client gave up
        self.nr_conns += 1
        conn = _Conn(self, self.cfg, client_sock, client_addr, listener.getsockname())
        if self._loop_reads_heads(conn):
            self._read_head(conn)
        else:
            self.enqueue_req(conn)

    def on_client_socket_readable(self, conn: _Conn, client: socket.socket) -> None:
        """A kept-alive connection sends its next request: collect that head too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        if self._loop_reads_heads(conn):
            self._read_head(conn)
        else:
            self.enqueue_req(conn)

    def enqueue_req(self, conn: _Conn) -> None:
        """Hand ``conn`` to a pool thread, unless what it holds is only part of a head.

        After a response, gthread hands a connection straight back to a thread when
        bytes of the next request came with the last one (pipelining): if they are not
        a whole head yet, the event loop collects the rest, as for any other request.
        """
        parser = conn.parser
        if not conn.head and parser is not None:
            pending = parser.unreader.buf.getvalue()
            if pending and _END_OF_HEAD not in pending and self._loop_reads_heads(conn):
                parser.unreader.take_buffered()
                self._read_head(conn, pending)
                return
        super().enqueue_req(conn)

    def _read_head(self, conn: _Conn, start: bytes = b"") -> None:
        conn.head = bytearray(start)
        conn.timeout = time.monotonic() + HEAD_TIMEOUT
        conn.sock.setblocking(False)
        self.reading_heads[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_data, conn))
        self._on_head_data(conn, conn.sock)  # a kept-alive connection has data already

    def _on_head_data(self, conn: _Conn, _sock: socket.socket) -> None:
        if conn not in self.reading_heads:
            return  # dropped earlier in the same round of events
        try:
            data = conn.sock.recv(MAX_HEAD)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop_head(conn)
            return
        # Search only the new bytes and the three before them for the end of the head.
        start = max(0, len(conn.head) - 3)
        conn.head += data
        if _END_OF_HEAD in conn.head[start:]:
            self.poller.unregister(conn.sock)
            del self.reading_heads[conn]
            self.enqueue_req(conn)
        elif len(conn.head) > MAX_HEAD:
            self._drop_head(conn, "431 Request Header Fields Too Large")

    def _drop_head(self, conn: _Conn, status: str | None = None) -> None:
        self.poller.unregister(conn.sock)
        del self.reading_heads[conn]
        if status:
            _answer(conn.sock, status)
        self.nr_conns -= 1
        conn.close()

    def linger(self, sock: socket.socket) -> None:
        """Half-close ``sock`` and close it once the client did (or after ``LINGER``)."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._on_linger_data)
        except (OSError, ValueError):
            sock.close()
            return
        self.lingering[sock] = [time.monotonic() + LINGER, 0]

    def _on_linger_data(self, sock: socket.socket) -> None:
        if sock not in self.lingering:
            return  # closed earlier in the same round of events
        try:
            data = sock.recv(MAX_LINGER_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self.lingering[sock][1] += len(data)
        if not data or self.lingering[sock][1] > MAX_LINGER_BYTES:
            self._stop_lingering(sock)

    def _stop_lingering(self, sock: socket.socket) -> None:
        del self.lingering[sock]
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(sock)
        sock.close()

    def murder_pending(self) -> None:
        """Close connections past their head or linger deadline (all when stopping)."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading_heads:
            conn = next(iter(self.reading_heads))
            if self.alive and conn.timeout > now:
                break
            self._drop_head(conn, "408 Request Timeout" if self.alive else None)
        while self.lingering:
            sock = next(iter(self.lingering))
            if self.alive and self.lingering[sock][0] > now:
                break
            self._stop_lingering(sock)

    def handle(self, conn: _Conn) -> Any:
        """Serve a request in a pool thread, its head already in hand."""
        head, conn.head = conn.head, bytearray()
        if head:
            conn.data_ready = True  # no wait for a first byte: the head is here
            conn.init()  # no-op on a kept-alive connection, which has its parser
            conn.sock.setblocking(True)
            conn.parser.unreader.unread(bytes(head))
        return super().handle(conn)
