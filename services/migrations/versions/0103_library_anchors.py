"""library anchors: files that must exist in a library before a scan changes its catalog

Revision ID: 0103
Revises: 0102
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0103"
down_revision = "0102"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing libraries get no anchors: their scans behave as before.
    with op.batch_alter_table("libraries") as batch:
        batch.add_column(
            sa.Column("anchors", sa.JSON, nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("libraries") as batch:
        batch.drop_column("anchors")
