"""Database engine and sessions (SQLite by default, PostgreSQL in production).

``read_session()`` is for queries; ``write_session()`` opens a transaction that
commits on success. On SQLite a write transaction starts with ``BEGIN IMMEDIATE``
so that concurrent writers queue on the busy timeout instead of failing with
"database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from orchestrator.settings import get_settings


class Base(DeclarativeBase):
    """Declarative base of every table, the platform's and the services'."""


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


_made: list[Engine] = []


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the configured database), created once."""
    engine = _create_engine(url or get_settings().effective_database_url)
    _made.append(engine)
    return engine


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        busy_timeout = get_settings().sqlite_busy_timeout
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args=_network_timeouts())
    _ping_idle_connections(engine)
    return engine


def _network_timeouts() -> dict[str, int]:
    """libpq's settings that give up on a PostgreSQL silent for ``ORCH_NETWORK_TIMEOUT``.

    Without them a connection whose peer vanished (packets dropped, not refused) waits
    for TCP's own retransmissions: a query or commit hung for a minute or more after a
    network cut, a connection attempt for two.
    """
    timeout = get_settings().network_timeout
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


@lru_cache(maxsize=4)
def _sessionmakers(url: str) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    engine = get_engine(url)
    writer = engine.execution_options(sqlite_immediate=True)
    return (
        sessionmaker(bind=engine, expire_on_commit=False),
        sessionmaker(bind=writer, expire_on_commit=False),
    )


def insert_or(session: Session, table: type[Base] | Table) -> Any:
    """An ``INSERT`` into ``table`` with its dialect's ``ON CONFLICT`` clauses
    (``on_conflict_do_update``, ``on_conflict_do_nothing``): PostgreSQL's or SQLite's."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(table)
    return sqlite_insert(table)


@contextmanager
def read_session() -> Iterator[Session]:
    """A session for queries; nothing it does is committed."""
    reader, _ = _sessionmakers(get_settings().effective_database_url)
    with reader() as session:
        yield session


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


@lru_cache(maxsize=4)
def _writer_lock(url: str) -> WriterLock | None:
    database = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if not database or database == ":memory:":
        return None
    return WriterLock(database + ".write-lock")


@contextmanager
def write_session() -> Iterator[Session]:
    """A session whose transaction commits when the block ends without error."""
    url = get_settings().effective_database_url
    _, writer = _sessionmakers(url)
    lock = _writer_lock(url)
    with lock.hold() if lock else nullcontext(), writer() as session, session.begin():
        yield session


def reset_engines(after_fork: bool = False) -> None:
    """Forget every cached engine (tests, and in a forked child: ``after_fork``)."""
    if after_fork:
        # The parent's pooled connections are the parent's: the child lets go of them
        # without closing them (closing would end the parent's sessions too).
        for engine in _made:
            engine.dispose(close=False)
    _made.clear()
    for maker in (get_engine, _sessionmakers, _writer_lock):
        maker.cache_clear()
