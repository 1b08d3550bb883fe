"""Catalog migrations on libraries that existed before them: 0103 (anchors), 0105 (system
folders confirmed); each goes down again."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text

from orchestrator.storage.db import connect_to
from orchestrator.storage.migrate import alembic_config, upgrade
from services.catalog.models import Library
from tests.conftest import _drop_postgres_database, _postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any table: SQLite, then PostgreSQL when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    base = os.environ.get("ORCH_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("ORCH_TEST_POSTGRES_URL is not set")
    url, name = _postgres_database(base)
    yield url
    _engine(url).dispose()
    _drop_postgres_database(base, name)


@functools.cache
def _engine(url: str) -> Engine:
    return connect_to(url)


def _columns(url: str) -> set[str]:
    return {column["name"] for column in inspect(_engine(url)).get_columns("libraries")}


def test_existing_libraries_get_no_anchors_and_the_column_goes_down_again(
    empty_database: str,
) -> None:
    url = empty_database
    upgrade(url, "0102")
    with _engine(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO libraries (name, path, kind, created_at)"
                " VALUES ('Movies', '/data/movies', 'movies', CURRENT_TIMESTAMP)"
            )
        )
    assert "anchors" not in _columns(url)

    upgrade(url)
    with _engine(url).connect() as conn:
        assert conn.execute(select(Library.anchors)).scalar_one() == []

    command.downgrade(alembic_config(url), "0102")
    assert "anchors" not in _columns(url)
    with _engine(url).connect() as conn:
        assert conn.execute(text("SELECT name FROM libraries")).scalar_one() == "Movies"
    upgrade(url)
    assert "anchors" in _columns(url)


def test_migration_0105_keeps_the_system_folders_libraries_were_confirmed_for(
    empty_database: str,
) -> None:
    url = empty_database
    upgrade(url, "0104")
    with _engine(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO libraries (name, path, kind, anchors, follow_links, created_at)"
                " VALUES ('System', '/var/lib/media', 'movies', '[]', false, CURRENT_TIMESTAMP),"
                " ('Plain', '/data/movies', 'movies', '[]', false, CURRENT_TIMESTAMP)"
            )
        )

    upgrade(url)
    with _engine(url).connect() as conn:
        rows = dict(conn.execute(select(Library.name, Library.system_path)).all())
    assert rows == {"System": "/var/lib/media", "Plain": None}

    command.downgrade(alembic_config(url), "0104")
    assert "system_path" not in _columns(url)
    upgrade(url)
