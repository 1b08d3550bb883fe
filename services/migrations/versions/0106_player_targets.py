"""players: the command type's executable and time limit, the webhook type's header

Revision ID: 0106
Revises: 0105
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0106"
down_revision = "0105"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("players") as batch:
        batch.add_column(sa.Column("command", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("time_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("header_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("header_value", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("players") as batch:
        for column in ("header_value", "header_name", "time_limit", "command"):
            batch.drop_column(column)
