"""Schema migrations (Alembic), run by ``orchestrator db upgrade``, ``up`` and the tests."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from alembic import command
from alembic.config import Config

from orchestrator.database import make_room_for
from orchestrator.runtime import current

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for ``url`` (default: the configured database)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations()))
    config.set_main_option("sqlalchemy.url", url or current().settings.effective_database_url)
    return config


def version_locations() -> list[str]:
    """The platform's migrations, then ``<package>/migrations/versions`` of each
    configured migration package (the domain's tables live in their own branch)."""
    locations = [str(MIGRATIONS_DIR / "versions")]
    for package in current().settings.migration_packages:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            versions = Path(folder) / "migrations" / "versions"
            if versions.is_dir():
                locations.append(str(versions))
    return locations


def upgrade(url: str | None = None, revision: str = "heads") -> None:
    """Bring the database schema up to date (creating a SQLite database and its folder)."""
    config = alembic_config(url)
    make_room_for(config.get_main_option("sqlalchemy.url") or "")
    command.upgrade(config, revision)
