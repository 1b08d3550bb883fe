"""The migrations build the schema the models describe: a column added to a model without
its migration (or the reverse) fails here, not in a user's upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import orchestrator.storage.api_keys  # noqa: F401 - so do the named keys
import services.catalog.models  # noqa: F401 - the catalog's tables join the metadata
from orchestrator.storage.db import Base, get_engine


def test_the_migrated_schema_matches_the_models(database: str) -> None:
    with get_engine().connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []
