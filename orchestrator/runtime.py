"""The composition root: what a process runs on, built in one place from its settings.

:func:`bootstrap` reads the settings (or takes the ones given), builds the database and
the Redis clients from them, and makes that :class:`Runtime` the process's. Gunicorn's
configuration calls it in the master, before it forks; every other entry point (Celery's
worker, beat and Flower as they configure the app through ``celeryconfig``, the CLI,
``api.create_app``, a script) gets it from :func:`current`, which bootstraps from the
environment on first use. Nothing is built at import: importing ``orchestrator``, ``api``,
``services`` or ``tasks`` reads no setting and opens nothing.

Code that runs inside a process asks :func:`current` for what it needs. Tests build their
own runtime from a settings object (``use(build(settings))``, ``bootstrap(settings)``).

A forked child (a Celery pool process, a gunicorn worker) keeps its parent's runtime and
calls :meth:`Runtime.after_fork` before it uses it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from redis import Redis

from orchestrator.database import Database
from orchestrator.settings import Settings, read_environment


@dataclass
class Runtime:
    """A process's settings and the connections built from them."""

    settings: Settings
    database: Database
    _redis: dict[str, Redis] = field(default_factory=dict)

    def redis(self) -> Redis | None:
        """The client of the Redis for live events and locks, or None without one."""
        url = self.settings.effective_redis_url
        return self._redis_at(url) if url else None

    def broker_redis(self) -> Redis | None:
        """A client of the broker's Redis (for its memory figures), or None if not Redis."""
        url = self.settings.broker_redis_url
        return self._redis_at(url) if url else None

    def _redis_at(self, url: str) -> Redis:
        client = self._redis.get(url)
        if client is None:
            timeout = self.settings.network_timeout
            client = self._redis.setdefault(
                url,
                Redis.from_url(
                    url,
                    socket_timeout=min(5.0, timeout),
                    socket_connect_timeout=min(2.0, timeout),
                ),
            )
        return client

    def after_fork(self) -> None:
        """In a forked child: new connections, none of the parent's sockets."""
        self.database.after_fork()
        self._redis.clear()

    def close(self) -> None:
        """Close the database's pooled connections and the Redis clients."""
        self.database.close()
        for client in self._redis.values():
            client.close()
        self._redis.clear()


_current: Runtime | None = None
_building = threading.Lock()


def build(settings: Settings) -> Runtime:
    """A runtime for ``settings``; nothing connects until it is used."""
    database = Database(
        settings.effective_database_url,
        busy_timeout=settings.sqlite_busy_timeout,
        network_timeout=settings.network_timeout,
    )
    return Runtime(settings, database)


def bootstrap(settings: Settings | None = None) -> Runtime:
    """Build this process's runtime from ``settings`` (default: read from the
    environment; a bad value ends the process with one line naming its variable) and
    make it current; returns it."""
    return use(build(settings if settings is not None else read_environment()))


def use(runtime: Runtime) -> Runtime:
    """Make ``runtime`` this process's; returns it."""
    global _current
    with _building:
        _current = runtime
    return runtime


def current() -> Runtime:
    """This process's runtime (bootstrapped from the environment on first use)."""
    if _current is None:
        with _building:
            if _current is None:
                _install_from_environment()
    assert _current is not None
    return _current


def _install_from_environment() -> None:
    global _current
    _current = build(read_environment())
