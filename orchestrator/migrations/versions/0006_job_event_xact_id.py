"""job event transaction id: on PostgreSQL streams deliver an event only once every
older transaction has ended, so that one committing late is not skipped

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite the column stays empty: one writer at a time commits events in id order.
    with op.batch_alter_table("job_events") as batch:
        batch.add_column(sa.Column("xact_id", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # Set apart from the column so that existing rows stay NULL (read as long
        # committed) and the table is not rewritten.
        op.execute(
            "ALTER TABLE job_events"
            " ALTER COLUMN xact_id SET DEFAULT pg_current_xact_id()::text::bigint"
        )


def downgrade() -> None:
    with op.batch_alter_table("job_events") as batch:
        batch.drop_column("xact_id")
