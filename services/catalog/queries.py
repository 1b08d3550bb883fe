"""Catalog queries and updates: libraries by path, groups of a library, movie upserts,
signatures of scanned folders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.models import utcnow
from services.catalog.models import (
    EpisodeFileRow,
    Library,
    ManagerPathMapping,
    MediaFileRow,
    Movie,
    PlayerGroup,
    group_libraries,
)


class ScannedFile(Protocol):
    """A file found by a scan (the scanner's ``MediaFile``)."""

    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def art_type(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...
    @property
    def flags(self) -> tuple[str, ...]: ...
    @property
    def part(self) -> int | None: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime(self) -> float: ...


class ScannedInfo(Protocol):
    """Identity found by a scan (the scanner's ``NfoInfo``)."""

    @property
    def title(self) -> str | None: ...
    @property
    def year(self) -> int | None: ...
    @property
    def tmdb_id(self) -> int | None: ...
    @property
    def imdb_id(self) -> str | None: ...


class ScannedMovie(Protocol):
    """What the catalog needs of a movie folder scan (the scanner's ``MovieScan``)."""

    @property
    def folder(self) -> str: ...
    @property
    def exists(self) -> bool: ...
    @property
    def videos(self) -> Sequence[ScannedFile]: ...
    @property
    def disc(self) -> str | None: ...
    @property
    def info(self) -> ScannedInfo: ...
    @property
    def files(self) -> Sequence[ScannedFile]: ...


class ScannedEpisode(Protocol):
    """An episode file found by a season scan (the scanner's ``EpisodeFile``)."""

    @property
    def file(self) -> ScannedFile: ...
    @property
    def season(self) -> int | None: ...
    @property
    def episodes(self) -> tuple[int, ...]: ...


class ScannedSeason(Protocol):
    """What the catalog needs of a season folder scan (the scanner's ``SeasonScan``)."""

    @property
    def folder(self) -> str: ...
    @property
    def exists(self) -> bool: ...
    @property
    def episodes(self) -> Sequence[ScannedEpisode]: ...


def manager_mappings(session: Session, source: str) -> list[tuple[str, str]]:
    """The ``(from, to)`` prefixes configured for a manager (``radarr``, ``sonarr`` ...)."""
    rows = session.scalars(select(ManagerPathMapping).where(ManagerPathMapping.source == source))
    return [(row.from_path, row.to_path) for row in rows]


def libraries(session: Session) -> list[Library]:
    """Every library, in id order."""
    return list(session.scalars(select(Library).order_by(Library.id)))


def groups_for_library(session: Session, library_id: int) -> list[PlayerGroup]:
    """Player groups serving a library, in id order."""
    query = (
        select(PlayerGroup)
        .join(group_libraries, group_libraries.c.group_id == PlayerGroup.id)
        .where(group_libraries.c.library_id == library_id)
        .order_by(PlayerGroup.id)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class MovieChange:
    """What a scan changed in the catalog."""

    movie_id: int | None
    is_new: bool = False
    path_changed: bool = False
    removed: bool = False
    previous_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, for job results."""
        return {
            "movie_id": self.movie_id,
            "is_new": self.is_new,
            "path_changed": self.path_changed,
            "removed": self.removed,
            "previous_path": self.previous_path,
        }


def _movie_by_path(session: Session, path: str) -> Movie | None:
    return session.scalars(select(Movie).where(Movie.path == path)).first()


@dataclass(frozen=True)
class ManagerIds:
    """The ids the manager (Radarr) gave the movie in its webhook, if any."""

    tmdb_id: int | None = None
    imdb_id: str | None = None


def apply_movie_scan(
    session: Session, library: Library, scan: ScannedMovie, known: ManagerIds | None = None
) -> MovieChange:
    """Upsert the movie of a scanned folder (tmdb id first, then path); a vanished folder
    marks its movie removed.

    The ids are the manager's (``known``) first, then the NFO's; an id the movie already
    has is never replaced with nothing (an NFO renamed away from its video, a folder
    scanned without a webhook).
    """
    known = known or ManagerIds()
    tmdb_id = known.tmdb_id or scan.info.tmdb_id
    imdb_id = known.imdb_id or scan.info.imdb_id
    path = scan.folder
    now = utcnow()
    if not scan.exists or not scan.videos:
        movie = _movie_by_path(session, path)
        if movie is None or movie.state == "removed":
            return MovieChange(movie.id if movie else None)
        movie.state, movie.updated_at, movie.scanned_at = "removed", now, now
        return MovieChange(movie.id, removed=True)

    movie = None
    if tmdb_id is not None:
        movie = session.scalars(
            select(Movie).where(Movie.library_id == library.id, Movie.tmdb_id == tmdb_id)
        ).first()
    by_path = _movie_by_path(session, path)
    if movie is None:
        movie = by_path
    elif by_path is not None and by_path.id != movie.id:
        # The folder was re-used by the same movie after a rename: keep one row.
        session.delete(by_path)
        session.flush()
    is_new = movie is None
    previous_path = None
    if movie is None:
        movie = Movie(library_id=library.id, path=path, created_at=now)
        session.add(movie)
    elif movie.path != path:
        previous_path, movie.path = movie.path, path
    movie.library_id = library.id
    movie.title, movie.year = scan.info.title, scan.info.year
    movie.tmdb_id = tmdb_id if tmdb_id is not None else movie.tmdb_id
    movie.imdb_id = imdb_id if imdb_id is not None else movie.imdb_id
    movie.state, movie.disc = "present", scan.disc
    movie.updated_at = movie.scanned_at = now
    movie.files = [
        MediaFileRow(
            path=f.path, kind=f.kind, art_type=f.art_type, language=f.language,
            flags=list(f.flags), part=f.part, size=f.size, mtime=f.mtime,
        )
        for f in scan.files
    ]  # fmt: skip
    session.flush()
    return MovieChange(
        movie.id,
        is_new=is_new,
        path_changed=previous_path is not None,
        previous_path=previous_path,
    )


def present_catalog_folders(session: Session, library_id: int, kind: str) -> set[str]:
    """The folders of the library's present movies (or seasons, for a TV library)."""
    if kind == "movies":
        query = select(Movie.path).where(Movie.library_id == library_id, Movie.state == "present")
    else:
        query = select(EpisodeFileRow.season_path).where(
            EpisodeFileRow.library_id == library_id, EpisodeFileRow.state == "present"
        )
    return set(session.scalars(query))


def mark_movies_removed(session: Session, library_id: int, keep: set[str]) -> list[str]:
    """Mark removed every present movie of the library whose folder is not in ``keep``;
    returns their folders."""
    gone = sorted(present_catalog_folders(session, library_id, "movies") - keep)
    now = utcnow()
    for chunk in chunks(gone):
        session.execute(
            update(Movie)
            .where(Movie.path.in_(chunk))
            .values(state="removed", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return gone


def mark_seasons_removed(session: Session, library_id: int, keep: set[str]) -> list[str]:
    """Mark removed the episode files of every season folder of the library not in
    ``keep``; returns those folders."""
    gone = sorted(present_catalog_folders(session, library_id, "tv") - keep)
    for chunk in chunks(gone):
        session.execute(
            update(EpisodeFileRow)
            .where(EpisodeFileRow.season_path.in_(chunk))
            .values(state="removed")
            .execution_options(synchronize_session=False)
        )
    return gone


def apply_season_scan(session: Session, library: Library, scan: ScannedSeason) -> dict[str, int]:
    """Record the episode files of a season folder; files gone from it are marked removed.

    A folder that is gone may be a whole series (Sonarr's SeriesDelete names the series
    folder): every episode file of every season inside it is marked removed.
    """
    season_path = scan.folder
    within = EpisodeFileRow.season_path == season_path
    if not scan.exists:
        inside = season_path.rstrip("/\\") + ("\\" if "\\" in season_path else "/")
        within = within | EpisodeFileRow.season_path.startswith(inside, autoescape=True)
    existing = {row.path: row for row in session.scalars(select(EpisodeFileRow).where(within))}
    seen = set()
    added = 0
    for episode in scan.episodes if scan.exists else []:
        seen.add(episode.file.path)
        row = existing.get(episode.file.path)
        if row is None:
            row = EpisodeFileRow(
                library_id=library.id, season_path=season_path, path=episode.file.path
            )
            session.add(row)
            added += 1
        row.season, row.episodes = episode.season, list(episode.episodes)
        row.size, row.mtime, row.state = episode.file.size, episode.file.mtime, "present"
    removed = 0
    for path, row in existing.items():
        if path not in seen and row.state != "removed":
            row.state = "removed"
            removed += 1
    session.flush()
    return {"episodes": len(seen), "added": added, "removed": removed}


def movie_to_dict(movie: Movie, *, with_files: bool = True) -> dict[str, Any]:
    """JSON form of a movie; files grouped as the main video(s) and assets."""
    body: dict[str, Any] = {
        "id": movie.id,
        "library_id": movie.library_id,
        "path": movie.path,
        "title": movie.title,
        "year": movie.year,
        "tmdb_id": movie.tmdb_id,
        "imdb_id": movie.imdb_id,
        "state": movie.state,
        "disc": movie.disc,
        "created_at": movie.created_at.isoformat(),
        "updated_at": movie.updated_at.isoformat(),
        "scanned_at": movie.scanned_at.isoformat() if movie.scanned_at else None,
    }
    if with_files:
        rows = [_file_to_dict(f) for f in movie.files]
        body["files"] = [f for f in rows if f["kind"] == "video"]
        body["assets"] = [f for f in rows if f["kind"] != "video"]
    return body


def _file_to_dict(row: MediaFileRow) -> dict[str, Any]:
    return {
        "path": row.path,
        "kind": row.kind,
        "art_type": row.art_type,
        "language": row.language,
        "flags": row.flags,
        "part": row.part,
        "size": row.size,
        "mtime": row.mtime,
    }


def chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    """``items`` in lists of ``size``: one statement each stays well under the
    bound-parameter limits of SQLite and PostgreSQL."""
    return [items[start : start + size] for start in range(0, len(items), size)]
