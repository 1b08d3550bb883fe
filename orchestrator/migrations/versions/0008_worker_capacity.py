"""workers_seen: the queues each worker consumes and its pool size (capacity in /metrics)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers_seen") as batch:
        batch.add_column(sa.Column("queues", sa.String(255), nullable=True))
        batch.add_column(sa.Column("slots", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers_seen") as batch:
        batch.drop_column("slots")
        batch.drop_column("queues")
