"""Catalog tables: libraries, path mappings, player groups, players, movies, episode files,
signatures of scanned folders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.jobs.models import INT32_MAX, UTCDateTime, utcnow
from orchestrator.storage.db import Base

group_libraries = Table(
    "player_group_libraries",
    Base.metadata,
    Column("group_id", ForeignKey("player_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("library_id", ForeignKey("libraries.id", ondelete="CASCADE"), primary_key=True),
)


# What a movie's ids may be: a tmdb id fits its 32-bit column, an imdb id is "tt" and digits.
MAX_TMDB_ID = INT32_MAX
IMDB_ID = r"^tt\d{1,12}$"


# The longest path the catalog keeps (its columns; a scan checks before writing).
PATH_CHARS = 1000
# The longest header value a webhook player keeps (a bearer token, a JWT).
HEADER_VALUE_CHARS = 2000


class Library(Base):
    """A folder of movies or TV shows, as the orchestrator sees it on disk."""

    __tablename__ = "libraries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(String(PATH_CHARS), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    # Files (relative to ``path``) that must exist before a scan may change the catalog:
    # a network share that dropped leaves an empty mount point without them.
    anchors: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Scan folders and files reached through a symlink that leaves ``path`` (off: skipped).
    follow_links: Mapped[bool] = mapped_column(Boolean, default=False)
    # Watch the folder: what changes under it is scanned (tasks/watcher.py).
    watch: Mapped[bool] = mapped_column(Boolean, default=False)
    # The real folder (links resolved), in a system folder, that was confirmed for it: a
    # scan of a folder leading into any other system folder is refused.
    system_path: Mapped[str | None] = mapped_column(String(PATH_CHARS), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Who calls our webhooks, and the sources a path mapping may have: theirs, and the manual
# trigger's (autoscan's form, for tools without webhooks).
MANAGERS = ("radarr", "sonarr", "lidarr")
MAPPING_SOURCES = (*MANAGERS, "manual")


class ManagerPathMapping(Base):
    """A prefix as a manager (Radarr, Sonarr) sees it, and the same place as we see it."""

    __tablename__ = "manager_path_mappings"
    __table_args__ = (UniqueConstraint("source", "from_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(50))
    from_path: Mapped[str] = mapped_column(String(PATH_CHARS))
    to_path: Mapped[str] = mapped_column(String(PATH_CHARS))


class PlayerGroup(Base):
    """Players sharing one library database: notifying one member is enough."""

    __tablename__ = "player_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    libraries: Mapped[list[Library]] = relationship(secondary=group_libraries, lazy="selectin")
    path_mappings: Mapped[list[GroupPathMapping]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="GroupPathMapping.id"
    )
    players: Mapped[list[Player]] = relationship(
        back_populates="group",
        lazy="selectin",
        order_by="(Player.position, Player.id)",
        cascade="all, delete-orphan",
    )


class GroupPathMapping(Base):
    """Our path prefix and the same place as the group's players see it."""

    __tablename__ = "player_group_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("player_groups.id", ondelete="CASCADE"))
    from_path: Mapped[str] = mapped_column(String(PATH_CHARS))
    to_path: Mapped[str] = mapped_column(String(PATH_CHARS))


class Player(Base):
    """A media player or server, a webhook or a command; ``password``, ``token`` and
    ``header_value`` are never returned by the API."""

    __tablename__ = "players"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(PATH_CHARS))
    group_id: Mapped[int] = mapped_column(ForeignKey("player_groups.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    username: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password: Mapped[str | None] = mapped_column(String(500), nullable=True)
    token: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The ``command`` type's executable (absolute path) and time limit in seconds (None:
    # services.players.command.DEFAULT_TIME_LIMIT).
    command: Mapped[str | None] = mapped_column(String(PATH_CHARS), nullable=True)
    time_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The ``webhook`` type's one header of the household's (e.g. Authorization).
    header_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    header_value: Mapped[str | None] = mapped_column(String(HEADER_VALUE_CHARS), nullable=True)
    group: Mapped[PlayerGroup] = relationship(back_populates="players")


class _InLibrary:
    """The columns of a row kept by its path in a library (deleted with the library)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    library_id: Mapped[int] = mapped_column(
        ForeignKey("libraries.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(PATH_CHARS), unique=True)


class _CatalogFolder(_InLibrary):
    """The columns of a folder the catalog keeps with its manager's ids: a movie, a series."""

    title: Mapped[str | None] = mapped_column(String(500), nullable=True, index=True)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    imdb_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    state: Mapped[str] = mapped_column(String(10), default="present")  # or "removed"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Movie(_CatalogFolder, Base):
    """A movie folder found in a library."""

    __tablename__ = "movies"

    tmdb_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    disc: Mapped[str | None] = mapped_column(String(10), nullable=True)
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    files: Mapped[list[MediaFileRow]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MediaFileRow.id"
    )


class MediaFileRow(Base):
    """A file of a movie: main video(s), NFO, artwork, subtitle, trailer."""

    __tablename__ = "movie_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(PATH_CHARS))
    kind: Mapped[str] = mapped_column(String(20))
    art_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    part: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)


class Series(_CatalogFolder, Base):
    """A TV series folder of a library, with the ids its manager (Sonarr) gave it."""

    __tablename__ = "series"

    tvdb_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    tmdb_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Album(_InLibrary, Base):
    """An album folder of a music library (under its artist's), with Lidarr's names and
    MusicBrainz ids when a webhook gave them (a scan alone names it by its folders)."""

    __tablename__ = "albums"

    title: Mapped[str | None] = mapped_column(String(500), nullable=True, index=True)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    artist: Mapped[str | None] = mapped_column(String(500), nullable=True, index=True)
    artist_mbid: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    album_mbid: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    tracks: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(10), default="present")  # or "removed"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EpisodeFileRow(_InLibrary, Base):
    """A TV episode file found in a season folder."""

    __tablename__ = "episode_files"

    season_path: Mapped[str] = mapped_column(String(PATH_CHARS), index=True)
    season: Mapped[int | None] = mapped_column(Integer, nullable=True)
    episodes: Mapped[list[int]] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(10), default="present")


class ScannedFolder(_InLibrary, Base):
    """The signature of a library folder when it was last scanned into the catalog."""

    __tablename__ = "scanned_folders"

    signature: Mapped[str] = mapped_column(String(64))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
