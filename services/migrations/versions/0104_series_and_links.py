"""series with the manager's ids, and libraries that may follow links out of their folder

Revision ID: 0104
Revises: 0103
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0104"
down_revision = "0103"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "library_id",
            sa.Integer,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("path", sa.String(1000), nullable=False, unique=True),
        sa.Column("title", sa.String(500), nullable=True, index=True),
        sa.Column("year", sa.Integer, nullable=True),
        sa.Column("tvdb_id", sa.Integer, nullable=True, index=True),
        sa.Column("tmdb_id", sa.Integer, nullable=True),
        sa.Column("imdb_id", sa.String(20), nullable=True),
        sa.Column("state", sa.String(10), nullable=False, server_default="present"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    # Existing libraries keep to their folder: a link out of it is not scanned.
    with op.batch_alter_table("libraries") as batch:
        batch.add_column(
            sa.Column("follow_links", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("libraries") as batch:
        batch.drop_column("follow_links")
    op.drop_table("series")
