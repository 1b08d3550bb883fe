"""Catalog queries and updates: libraries by path, groups of a library, movie and series
upserts, signatures of scanned folders."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from orchestrator.jobs.models import utcnow
from services.catalog.manager_ids import MAX_TITLE_LENGTH, well_formed
from services.catalog.models import (
    Album,
    EpisodeFileRow,
    Library,
    ManagerPathMapping,
    MediaFileRow,
    Movie,
    PlayerGroup,
    Series,
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


class ScannedFolder(Protocol):
    """What the catalog needs of any folder scan (the scanner's ``FolderScan``)."""

    @property
    def folder(self) -> str: ...
    @property
    def exists(self) -> bool: ...


class ScannedMovie(ScannedFolder, Protocol):
    """What the catalog needs of a movie folder scan (the scanner's ``MovieScan``)."""

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


class ScannedSeason(ScannedFolder, Protocol):
    """What the catalog needs of a season folder scan (the scanner's ``SeasonScan``)."""

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
    """The folders of the library's present movies (seasons for a TV library, albums for
    a music one)."""
    if kind == "movies":
        query = select(Movie.path).where(Movie.library_id == library_id, Movie.state == "present")
    elif kind == "music":
        query = select(Album.path).where(Album.library_id == library_id, Album.state == "present")
    else:
        query = select(EpisodeFileRow.season_path).where(
            EpisodeFileRow.library_id == library_id, EpisodeFileRow.state == "present"
        )
    return set(session.scalars(query))


def _update_in_chunks(session: Session, key: Any, keys: list[Any], **values: Any) -> None:
    """Set ``values`` on the rows whose ``key`` column is in ``keys``, a chunk at a time
    (a database bounds the parameters of one statement)."""
    for chunk in chunks(keys):
        session.execute(
            update(key.class_)
            .where(key.in_(chunk))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def mark_movies_removed(session: Session, library_id: int, keep: set[str]) -> list[str]:
    """Mark removed every present movie of the library whose folder is not in ``keep``;
    returns their folders."""
    gone = sorted(present_catalog_folders(session, library_id, "movies") - keep)
    now = utcnow()
    _update_in_chunks(session, Movie.path, gone, state="removed", updated_at=now)
    return gone


def mark_albums_removed(
    session: Session, library_id: int, keep: set[str], under: str | None = None
) -> list[str]:
    """Mark removed every present album of the library (``under`` a folder, if given)
    whose folder is not in ``keep``; returns their folders."""
    present = present_catalog_folders(session, library_id, "music")
    if under is not None:
        present = {path for path in present if path.startswith(under.rstrip("/") + "/")}
    gone = sorted(present - keep)
    _update_in_chunks(session, Album.path, gone, state="removed", updated_at=utcnow())
    return gone


@dataclass(frozen=True)
class ManagerAlbum:
    """What Lidarr said of an album (its webhook): names and MusicBrainz ids."""

    title: str | None = None
    year: int | None = None
    artist: str | None = None
    artist_mbid: str | None = None
    album_mbid: str | None = None


@dataclass(frozen=True)
class AlbumChange:
    """What an album folder's scan did to the catalog."""

    is_new: bool
    removed: bool


def apply_album_scan(
    session: Session, library: Library, folder: str, tracks: int, manager: ManagerAlbum
) -> AlbumChange:
    """Record the album at ``folder`` with ``tracks`` audio files: present if it has any,
    removed if not. Lidarr's names and ids win; a scan alone names the album by its
    folder and the artist by the folder above, and never loses an id it had."""
    row = session.scalars(select(Album).where(Album.path == folder)).first()
    is_new = row is None or row.state == "removed"
    if row is None:
        if not tracks:
            return AlbumChange(is_new=False, removed=False)
        row = Album(library_id=library.id, path=folder)
        session.add(row)
    row.title = manager.title or row.title or os.path.basename(folder)
    row.artist = manager.artist or row.artist or os.path.basename(os.path.dirname(folder))
    row.year = manager.year or row.year
    row.artist_mbid = manager.artist_mbid or row.artist_mbid
    row.album_mbid = manager.album_mbid or row.album_mbid
    row.tracks = tracks
    removed = not tracks and row.state == "present"
    row.state = "present" if tracks else "removed"
    row.updated_at = utcnow()
    session.flush()
    return AlbumChange(is_new=is_new and bool(tracks), removed=removed)


def mark_seasons_removed(session: Session, library_id: int, keep: set[str]) -> list[str]:
    """Mark removed the episode files of every season folder of the library not in
    ``keep``; returns those folders."""
    gone = sorted(present_catalog_folders(session, library_id, "tv") - keep)
    _update_in_chunks(session, EpisodeFileRow.season_path, gone, state="removed")
    if gone:
        _mark_empty_series_removed(session, library_id)
    return gone


def _mark_empty_series_removed(session: Session, library_id: int) -> None:
    """Mark removed every present series of the library left without a present episode."""
    library = session.get(Library, library_id)
    if library is None:
        return
    seasons = present_catalog_folders(session, library_id, "tv")
    kept = {series_folder(library.path, season) for season in seasons}
    rows = session.execute(
        select(Series.id, Series.path).where(
            Series.library_id == library_id, Series.state == "present"
        )
    )
    empty = [series_id for series_id, path in rows if path not in kept]
    _update_in_chunks(session, Series.id, empty, state="removed", updated_at=utcnow())


@dataclass(frozen=True)
class ManagerSeries:
    """What the manager (Sonarr) said of a series in its webhook, if anything."""

    title: str | None = None
    year: int | None = None
    tvdb_id: int | None = None
    tmdb_id: int | None = None
    imdb_id: str | None = None

    def checked(self) -> ManagerSeries:
        """A copy without the values that are not well formed (a webhook may hold
        anything): ids out of their column's range, an imdb id not ``tt`` and digits."""
        return ManagerSeries(**well_formed(**asdict(self)))


def series_folder(library_path: str, folder: str) -> str | None:
    """The series folder holding ``folder`` (a season folder, or the series folder
    itself): the library root's child on the way to it. None for the root itself or a
    folder outside the library."""
    relative = posixpath.relpath(posixpath.normpath(folder), posixpath.normpath(library_path))
    first = relative.split("/")[0]
    if first in (".", ".."):
        return None
    return posixpath.join(posixpath.normpath(library_path), first)


# "Severance (2022)": Sonarr's "{Series TitleYear}" folder format.
_TITLE_YEAR = re.compile(r"^(?P<title>.+?)\s*\((?P<year>\d{4})\)$")


def upsert_series(
    session: Session,
    library: Library,
    folder: str,
    manager: ManagerSeries | None = None,
    *,
    deleted: bool = False,
) -> Series | None:
    """Bring the series row of ``folder``'s series folder in line with the catalog's episodes.

    Its ids, title and year are the manager's when given, else what the row has; a known
    id is never replaced with nothing (a manual or library scan names none). A new row's
    title and year come from the folder name when the manager gave none. The series is
    removed when none of its episode files is present, or when ``deleted`` names the
    series folder itself (Sonarr's SeriesDelete); present again once an episode is.
    A series with no row and nothing present gets none. Returns the row, if any.
    """
    path = series_folder(library.path, folder)
    if path is None:
        return None
    removed = not _has_present_episode(session, posixpath.normpath(folder), path) or (
        deleted and posixpath.normpath(folder) == path
    )
    series = session.scalars(select(Series).where(Series.path == path)).first()
    if series is None and removed:
        return None
    now = utcnow()
    if series is None:
        # Two seasons of one series may be scanned at once: insert once, whoever is first.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(Series)
            .values(library_id=library.id, path=path, state="present", created_at=now,
                    updated_at=now)
            .on_conflict_do_nothing(index_elements=[Series.path])
        )  # fmt: skip
        series = session.scalars(select(Series).where(Series.path == path)).one()
    known = (manager or ManagerSeries()).checked()
    named = _TITLE_YEAR.match(posixpath.basename(path))
    folder_title = named.group("title") if named else posixpath.basename(path)
    folder_year = int(named.group("year")) if named else None
    series.library_id = library.id
    series.title = known.title or series.title or folder_title[:MAX_TITLE_LENGTH]
    series.year = known.year or series.year or folder_year
    series.tvdb_id = known.tvdb_id or series.tvdb_id
    series.tmdb_id = known.tmdb_id or series.tmdb_id
    series.imdb_id = known.imdb_id or series.imdb_id
    series.state = "removed" if removed else "present"
    series.updated_at = now
    session.flush()
    return series


def _has_present_episode(session: Session, folder: str, series_path: str) -> bool:
    """True if a present episode file lies in the series folder: the scanned folder is
    looked at first, by its indexed path; a prefix search may read the whole table."""

    def any_present(where: Any) -> bool:
        query = select(EpisodeFileRow.id).where(EpisodeFileRow.state == "present", where)
        return session.scalars(query.limit(1)).first() is not None

    inside = series_path + "/"
    return any_present(EpisodeFileRow.season_path == folder) or any_present(
        (EpisodeFileRow.season_path == series_path)
        | EpisodeFileRow.season_path.startswith(inside, autoescape=True)
    )


def apply_season_scan(
    session: Session,
    library: Library,
    scan: ScannedSeason,
    manager: ManagerSeries | None = None,
    *,
    deleted: bool = False,
) -> dict[str, Any]:
    """Record the episode files of a season folder; files gone from it are marked removed.
    Then upsert its series (``upsert_series``) with the manager's ids, if given.

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
    series = upsert_series(session, library, season_path, manager, deleted=deleted)
    return {
        "episodes": len(seen),
        "added": added,
        "removed": removed,
        "series_id": series.id if series is not None else None,
    }


def chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    """``items`` in lists of ``size``: one statement each stays well under the
    bound-parameter limits of SQLite and PostgreSQL."""
    return [items[start : start + size] for start in range(0, len(items), size)]
