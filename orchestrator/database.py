"""A database: its engine, its sessions and, on SQLite, its writers' lock.

``Database.read_session()`` is for queries; ``Database.write_session()`` opens a
transaction that commits on success. On SQLite a write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of
failing with "database is locked" when a read lock cannot be upgraded.

A process builds its database once, in :func:`orchestrator.runtime.bootstrap`.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """The engine of ``url`` and its sessions; nothing connects until a session is used."""

    def __init__(self, url: str, *, busy_timeout: float, network_timeout: float) -> None:
        self.url = url
        self.engine = create_database_engine(
            url, busy_timeout=busy_timeout, network_timeout=network_timeout
        )
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            bind=self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )
        path = _sqlite_file(url)
        self._lock = WriterLock(path + ".write-lock") if path else None

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed."""
        with self._reader() as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without error."""
        lock = self._lock.hold() if self._lock else nullcontext()
        with lock, self._writer() as session, session.begin():
            yield session

    def after_fork(self) -> None:
        """In a forked child: let go of the parent's pooled connections without closing
        them (closing would end the parent's sessions too); the pool opens new ones."""
        self.engine.dispose(close=False)

    def close(self) -> None:
        """Close every pooled connection (before the database is dropped, in tests)."""
        self.engine.dispose()


def _sqlite_file(url: str) -> str | None:
    database = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    return database if database and database != ":memory:" else None


def make_room_for(url: str) -> None:
    """Make the folder of a SQLite database at ``url`` (before migrations create it).
    Opening a database makes nothing: a command run outside a deployment must not leave
    an empty one behind."""
    path = _sqlite_file(url) if url.startswith("sqlite") else None
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def create_database_engine(url: str, *, busy_timeout: float, network_timeout: float) -> Engine:
    """An engine for ``url``: SQLite with WAL and ``BEGIN IMMEDIATE`` writes, or
    PostgreSQL with network timeouts and pings of idle connections."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    engine = create_engine(
        url, pool_size=10, max_overflow=20, connect_args=_network_timeouts(network_timeout)
    )
    _ping_idle_connections(engine)
    return engine


def _lower(text: str | None) -> str | None:
    return text.lower() if isinstance(text, str) else text


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
        # transaction handling would defer it and break BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()
        # SQLite's lower() folds ASCII alone: searches ignore case for every letter with it.
        dbapi_connection.create_function("unicode_lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# A pooled connection idle this long is pinged before use (it may predate a restart of
# the server). Pinging every checkout, as ``pool_pre_ping`` does, costs a round trip
# per transaction: a fifth of a job's time on PostgreSQL. A connection returned less
# than a second ago is used as it is; if the server went away meanwhile, the error
# invalidates the whole pool, as it does for a connection lost in use.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "orchestrator.idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _note_idle(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool replaces this connection and every other one as old.
            raise InvalidatePoolError(f"a pooled connection failed its ping: {exc}") from exc


def _network_timeouts(timeout: float) -> dict[str, int]:
    """libpq's settings that give up on a PostgreSQL silent for ``ORCH_NETWORK_TIMEOUT``.

    Without them a connection whose peer vanished (packets dropped, not refused) waits
    for TCP's own retransmissions: a query or commit hung for a minute or more after a
    network cut, a connection attempt for two.
    """
    return {
        "connect_timeout": max(1, round(timeout)),
        # Unacknowledged data (a query, a commit) is given up after the timeout...
        "tcp_user_timeout": int(timeout * 1000),
        # ... and an idle connection is probed from half of it on.
        "keepalives": 1,
        "keepalives_idle": max(1, round(timeout / 2)),
        "keepalives_interval": max(1, round(timeout / 6)),
        "keepalives_count": 3,
    }


class WriterLock:
    """One SQLite writer at a time across threads and processes, handed over at once.

    SQLite lets a blocked writer poll with growing sleeps (up to 100 ms each), so
    under contention writers wait far longer than the lock is held, and the unlucky
    ones for seconds. Queuing first on a thread lock, then on an ``flock`` of a file
    beside the database, wakes the next writer as soon as the last one commits.
    SQLite's own lock stays underneath for writers that do not take this one.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._file: tuple[int, IO[bytes]] | None = None
        _writer_locks.add(self)

    def _handle(self) -> IO[bytes]:
        # Each process opens its own: a descriptor inherited across fork would share
        # the parent's lock instead of waiting for it.
        if self._file is None or self._file[0] != os.getpid():
            self._file = (os.getpid(), open(self.path, "ab"))  # noqa: SIM115
        return self._file[1]

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock for the block."""
        with self._thread_lock:
            handle = self._handle()
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


_writer_locks: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _before_fork() -> None:
    # A fork while another thread's write transaction is open copies SQLite's record of
    # that transaction's locks into the child, which then finds the database locked for
    # ever (Celery forks a new pool process while its timeout thread records the job it
    # killed). A fork waits for the transaction: every SQLite write holds this lock.
    for lock in list(_writer_locks):
        lock._thread_lock.acquire()


def _after_fork_in_parent() -> None:
    for lock in list(_writer_locks):
        lock._thread_lock.release()


def _after_fork_in_child() -> None:
    for lock in list(_writer_locks):
        lock._thread_lock = threading.Lock()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
