"""libraries.system_path: the system folder confirmed for a library, checked at each scan

Revision ID: 0105
Revises: 0104
Create Date: 2026-12-07
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

from services.catalog.system_folders import system_folder

revision = "0105"
down_revision = "0104"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("libraries") as batch:
        batch.add_column(sa.Column("system_path", sa.String(1000), nullable=True))
    # A library already in a system folder was confirmed when it was set: keep that.
    libraries = sa.table(
        "libraries", sa.column("id", sa.Integer), sa.column("path"), sa.column("system_path")
    )
    connection = op.get_bind()
    for library_id, path in connection.execute(sa.select(libraries.c.id, libraries.c.path)):
        real = os.path.realpath(path)
        if system_folder(real):
            connection.execute(
                libraries.update().where(libraries.c.id == library_id).values(system_path=real)
            )


def downgrade() -> None:
    with op.batch_alter_table("libraries") as batch:
        batch.drop_column("system_path")
