"""The tables' base and the sessions of this process's database.

``read_session()`` is for queries; ``write_session()`` opens a transaction that commits
on success. Both use the database that :func:`orchestrator.runtime.bootstrap` built
(:mod:`orchestrator.database` says how it is configured).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from orchestrator.database import create_database_engine
from orchestrator.runtime import current


class Base(DeclarativeBase):
    """Declarative base of every table, the platform's and the services'."""


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored naive in UTC and always read back timezone-aware.

    SQLite keeps no time zone; storing UTC everywhere keeps both databases alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def get_engine() -> Engine:
    """The engine of this process's database."""
    return current().database.engine


def connect_to(url: str) -> Engine:
    """A new engine for the database at ``url``, configured as this process's is (for
    migrations, and tools that open another database); dispose of it after use."""
    settings = current().settings
    return create_database_engine(
        url, busy_timeout=settings.sqlite_busy_timeout, network_timeout=settings.network_timeout
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
    with current().database.read_session() as session:
        yield session


@contextmanager
def write_session() -> Iterator[Session]:
    """A session whose transaction commits when the block ends without error."""
    with current().database.write_session() as session:
        yield session
