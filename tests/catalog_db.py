"""An empty database of the handlers' own, for unit tests of job handlers: a SQLite file
with every table, made from the models (no migration, no broker, no worker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orchestrator.jobs.models  # noqa: F401 - the tables of the models below are Base's
import services.catalog.models  # noqa: F401
from orchestrator.observability.background import flush_all
from orchestrator.runtime import build, current, use
from orchestrator.storage.db import Base


@contextmanager
def catalog_database(folder: Path) -> Iterator[str]:
    """While the block runs, ``read_session``/``write_session`` use a new SQLite file in
    ``folder``; yields its URL."""
    url = f"sqlite:///{folder / 'catalog.db'}"
    session_runtime = current()
    runtime = use(build(session_runtime.settings.but(database_url=url)))
    Base.metadata.create_all(runtime.database.engine)
    try:
        yield url
    finally:
        # What the handlers counted (metrics) goes to this database now, not to the
        # next one's while that is being made.
        flush_all()
        use(session_runtime)
        runtime.close()
