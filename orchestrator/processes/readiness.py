"""Is the stack ready? Ports free before start-up, listening after; workers answering."""

from __future__ import annotations

import socket


def bind_error(host: str, port: int) -> OSError | None:
    """Why a server could not listen on ``host:port`` right now, or None if it could."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            # As gunicorn and tornado do: a connection of an earlier run still in
            # TIME_WAIT is no conflict, a listening socket is.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        return exc
    return None


def listens(host: str, port: int) -> bool:
    """True if something accepts connections on ``host:port``."""
    # A wildcard address is reached through loopback.
    target = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


def answering_workers(nodenames: list[str], timeout: float = 1.0) -> set[str]:
    """Which of the Celery workers ``nodenames`` answer a ping through the broker.

    A worker answers once it consumes, i.e. when it logs "ready".
    """
    from orchestrator.delivery.celery_app import app

    replies = app.control.ping(destination=nodenames, timeout=timeout)
    return {name for reply in replies for name in reply}
