"""scanned folders: each library folder's signature when it was last scanned

Revision ID: 0102
Revises: 0101
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0102"
down_revision = "0101"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scanned_folders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "library_id",
            sa.Integer,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.String(1000), nullable=False, unique=True),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("scanned_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_scanned_folders_library_id", "scanned_folders", ["library_id"])


def downgrade() -> None:
    op.drop_table("scanned_folders")
