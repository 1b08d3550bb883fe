"""An empty database of the handlers' own, for unit tests of job handlers: a SQLite file
with every table, made from the models (no migration, no broker, no worker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import orchestrator.jobs.models  # noqa: F401 - the tables of the models below are Base's
import services.catalog.models  # noqa: F401
from orchestrator.observability.background import flush_all
from orchestrator.settings import reset_settings
from orchestrator.storage.db import Base, get_engine, reset_engines


@contextmanager
def catalog_database(folder: Path) -> Iterator[str]:
    """While the block runs, ``read_session``/``write_session`` use a new SQLite file in
    ``folder``; yields its URL."""
    url = f"sqlite:///{folder / 'catalog.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ORCH_DATABASE_URL", url)
        reset_settings()
        reset_engines()
        Base.metadata.create_all(get_engine())
        try:
            yield url
        finally:
            # What the handlers counted (metrics) goes to this database now, not to the
            # next one's while that is being made.
            flush_all()
            reset_engines()
    # The environment is the test session's again: so are the settings read next.
    reset_settings()
