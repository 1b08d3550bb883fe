"""reaper state: when each worker last answered, and the brokers given a marker message

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers_seen",
        sa.Column("hostname", sa.String(255), primary_key=True),
        sa.Column("seen_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "broker_markers",
        sa.Column("broker", sa.String(500), primary_key=True),
        sa.Column("planted_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("broker_markers")
    op.drop_table("workers_seen")
