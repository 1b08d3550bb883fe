"""media catalog: libraries, mappings, player groups, players, movies, episode files

Revision ID: 0101
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101"
down_revision = None
branch_labels = ("media",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "libraries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("path", sa.String(1000), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "manager_path_mappings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("from_path", sa.String(1000), nullable=False),
        sa.Column("to_path", sa.String(1000), nullable=False),
        sa.UniqueConstraint("source", "from_path"),
    )
    op.create_table(
        "player_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
    )
    op.create_table(
        "player_group_libraries",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("player_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "library_id",
            sa.Integer,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "player_group_mappings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("player_groups.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("from_path", sa.String(1000), nullable=False),
        sa.Column("to_path", sa.String(1000), nullable=False),
    )
    op.create_table(
        "players",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("player_groups.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("username", sa.String(200), nullable=True),
        sa.Column("password", sa.String(500), nullable=True),
        sa.Column("token", sa.String(500), nullable=True),
    )
    op.create_table(
        "movies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "library_id",
            sa.Integer,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.String(1000), nullable=False, unique=True),
        sa.Column("title", sa.String(500), nullable=True),
        sa.Column("year", sa.Integer, nullable=True),
        sa.Column("tmdb_id", sa.Integer, nullable=True),
        sa.Column("imdb_id", sa.String(20), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("disc", sa.String(10), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("scanned_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_movies_library_id", "movies", ["library_id"])
    op.create_index("ix_movies_title", "movies", ["title"])
    op.create_index("ix_movies_tmdb_id", "movies", ["tmdb_id"])
    op.create_table(
        "movie_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "movie_id",
            sa.Integer,
            sa.ForeignKey("movies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("art_type", sa.String(20), nullable=True),
        sa.Column("language", sa.String(20), nullable=True),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("part", sa.Integer, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime", sa.Float, nullable=False),
    )
    op.create_index("ix_movie_files_movie_id", "movie_files", ["movie_id"])
    op.create_table(
        "episode_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "library_id",
            sa.Integer,
            sa.ForeignKey("libraries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("season_path", sa.String(1000), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False, unique=True),
        sa.Column("season", sa.Integer, nullable=True),
        sa.Column("episodes", sa.JSON, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime", sa.Float, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
    )
    op.create_index("ix_episode_files_library_id", "episode_files", ["library_id"])
    op.create_index("ix_episode_files_season_path", "episode_files", ["season_path"])


def downgrade() -> None:
    for table in (
        "episode_files", "movie_files", "movies", "players", "player_group_mappings",
        "player_group_libraries", "player_groups", "manager_path_mappings", "libraries",
    ):  # fmt: skip
        op.drop_table(table)
