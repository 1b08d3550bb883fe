"""Schema migrations (Alembic), run by ``orchestrator db upgrade``, ``up`` and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from orchestrator.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for ``url`` (default: the configured database)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url or get_settings().effective_database_url)
    return config


def upgrade(url: str | None = None, revision: str = "heads") -> None:
    """Bring the database schema up to date."""
    command.upgrade(alembic_config(url), revision)
