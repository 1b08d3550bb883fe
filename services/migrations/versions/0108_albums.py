"""albums: the album folders of music libraries, with Lidarr's names and MusicBrainz ids

Revision ID: 0108
Revises: 0107
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0108"
down_revision = "0107"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "albums",
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
        sa.Column("artist", sa.String(500), nullable=True, index=True),
        sa.Column("artist_mbid", sa.String(36), nullable=True, index=True),
        sa.Column("album_mbid", sa.String(36), nullable=True, index=True),
        sa.Column("tracks", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("albums")
