"""The ``scan-movie`` and ``scan-season`` handlers alone, on real folders under a temporary
library and a SQLite catalog of their own; a FakeJobContext records what they submit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator import PermanentError, RetryableError
from orchestrator.storage.db import read_session, write_session
from services.catalog.models import EpisodeFileRow, Library, Movie, ScannedFolder, Series
from tasks.scan_movie import scan_movie
from tasks.scan_season import SeasonScanRequest, scan_season
from tasks.scanning import ScanRequest
from tests.catalog_db import catalog_database
from tests.fakes.job_context import FakeJobContext
from tests.pipeline import make_movie

MATRIX = "The Matrix (1999)"


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[None]:
    with catalog_database(tmp_path):
        yield


def library(root: Path, kind: str = "movies", anchors: list[str] | None = None) -> int:
    """A library of the catalog at ``root`` (made if missing); returns its id."""
    root.mkdir(parents=True, exist_ok=True)
    with write_session() as session:
        row = Library(name=root.name, path=str(root), kind=kind, anchors=anchors or [])
        session.add(row)
        session.flush()
        return row.id


def movies_of(library_id: int) -> list[tuple[str, str | None, int | None, str]]:
    """``(folder name, title, tmdb id, state)`` of the library's movies."""
    with read_session() as session:
        rows = session.execute(
            select(Movie.path, Movie.title, Movie.tmdb_id, Movie.state)
            .where(Movie.library_id == library_id)
            .order_by(Movie.path)
        ).all()
    return [(Path(path).name, title, tmdb, state) for path, title, tmdb, state in rows]


def signatures() -> list[str]:
    """The folders whose signature is stored (library-scan skips them while unchanged)."""
    with read_session() as session:
        return sorted(Path(p).name for p in session.scalars(select(ScannedFolder.path)))


def scan(library_id: int, folder: Path, ctx: FakeJobContext, **more: Any) -> Any:
    return scan_movie(ScanRequest(library_id=library_id, path=str(folder), **more), ctx)


def notified(ctx: FakeJobContext) -> list[tuple[str, str, str | None]]:
    """``(path, update type, dedupe key)`` of each notify-players job submitted."""
    assert {child.job_type for child in ctx.submitted} <= {"notify-players"}
    return [(c.payload["path"], c.payload["update_type"], c.dedupe_key) for c in ctx.submitted]


# --- scan-movie -----------------------------------------------------------------------------


def test_a_new_movie_is_recorded_with_its_signature_and_the_players_told_it_was_created(
    catalog: None, tmp_path: Path
) -> None:
    movies = library(tmp_path / "movies")
    folder = make_movie(tmp_path / "movies", MATRIX, tmdb_id=603)
    ctx = FakeJobContext("scan-movie")

    result = scan(movies, folder, ctx, update_type="Modified")

    assert movies_of(movies) == [(MATRIX, "The Matrix", 603, "present")]
    assert signatures() == [MATRIX]
    assert notified(ctx) == [(str(folder), "Created", f"notify-players:{folder}")]
    assert result["is_new"] and result["notify_job_id"] == ctx.submitted[0].id
    assert (result["title"], result["tmdb_id"], result["links_skipped"]) == ("The Matrix", 603, 0)
    assert result["videos"] == [str(folder / f"{MATRIX}.mkv")]


def test_the_managers_ids_come_before_the_nfos_and_a_rescan_is_a_modification(
    catalog: None, tmp_path: Path
) -> None:
    movies = library(tmp_path / "movies")
    folder = make_movie(tmp_path / "movies", MATRIX, tmdb_id=603)
    ids = {"tmdb_id": 604, "imdb_id": "tt0133093"}
    scan(movies, folder, FakeJobContext("scan-movie"), **ids)
    assert movies_of(movies) == [(MATRIX, "The Matrix", 604, "present")]
    again = FakeJobContext("scan-movie")

    result = scan(movies, folder, again, update_type="Modified", **ids)

    assert movies_of(movies) == [(MATRIX, "The Matrix", 604, "present")]
    assert not result["is_new"]
    assert notified(again) == [(str(folder), "Modified", f"notify-players:{folder}")]


def test_a_folder_not_there_yet_is_retried_without_touching_anything(
    catalog: None, tmp_path: Path
) -> None:
    movies = library(tmp_path / "movies")
    ctx = FakeJobContext("scan-movie")

    with pytest.raises(RetryableError, match="does not exist \\(yet\\)"):
        scan(movies, tmp_path / "movies" / MATRIX, ctx, update_type="Created")

    assert (movies_of(movies), signatures(), ctx.submitted) == ([], [], [])


def test_a_deleted_movie_is_marked_removed_its_signature_forgotten_and_the_players_told(
    catalog: None, tmp_path: Path
) -> None:
    movies = library(tmp_path / "movies")
    folder = make_movie(tmp_path / "movies", MATRIX, tmdb_id=603)
    scan(movies, folder, FakeJobContext("scan-movie"))
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    ctx = FakeJobContext("scan-movie")

    result = scan(movies, folder, ctx, update_type="Deleted")

    assert movies_of(movies) == [(MATRIX, "The Matrix", 603, "removed")]
    assert signatures() == []
    assert result["removed"]
    assert notified(ctx) == [(str(folder), "Deleted", f"notify-players:{folder}")]


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("elsewhere", "is not inside library movies"),
        ("gone library", "library 999 no longer exists"),
        ("missing anchor", "mounted"),
    ],
)
def test_a_scan_that_cannot_be_trusted_fails_for_good_before_any_change(
    catalog: None, tmp_path: Path, where: str, error: str
) -> None:
    anchors = [".share-mounted"] if where == "missing anchor" else []
    movies = library(tmp_path / "movies", anchors=anchors)
    folder = make_movie(tmp_path / ("elsewhere" if where == "elsewhere" else "movies"), MATRIX, 1)
    ctx = FakeJobContext("scan-movie")

    with pytest.raises(PermanentError, match=error):
        scan(999 if where == "gone library" else movies, folder, ctx)

    assert (movies_of(movies), signatures(), ctx.submitted) == ([], [], [])


def test_a_video_linked_out_of_the_library_fails_for_good_leaving_the_movie_as_it_was(
    catalog: None, tmp_path: Path
) -> None:
    movies = library(tmp_path / "movies")
    folder = make_movie(tmp_path / "movies", MATRIX, tmdb_id=603)
    scan(movies, folder, FakeJobContext("scan-movie"))
    video = folder / f"{MATRIX}.mkv"
    outside = tmp_path / "elsewhere.mkv"
    video.rename(outside)
    video.symlink_to(outside)
    ctx = FakeJobContext("scan-movie")

    with pytest.raises(PermanentError, match="outside library movies.*follow links"):
        scan(movies, folder, ctx)

    assert movies_of(movies) == [(MATRIX, "The Matrix", 603, "present")]
    assert ctx.submitted == []


# --- scan-season ----------------------------------------------------------------------------


def season_folder(root: Path, *episodes: int) -> Path:
    folder = root / "Severance" / "Season 02"
    folder.mkdir(parents=True, exist_ok=True)
    for number in episodes:
        (folder / f"Severance - S02E{number:02d}.mkv").write_bytes(b"\0" * 1024)
    return folder


def episodes_of(library_id: int) -> list[tuple[str, int | None, list[int], str]]:
    with read_session() as session:
        rows = session.scalars(
            select(EpisodeFileRow)
            .where(EpisodeFileRow.library_id == library_id)
            .order_by(EpisodeFileRow.path)
        ).all()
        return [(Path(r.path).name, r.season, list(r.episodes), r.state) for r in rows]


def test_a_season_records_its_episodes_and_its_series_with_the_managers_ids(
    catalog: None, tmp_path: Path
) -> None:
    tv = library(tmp_path / "tv", kind="tv")
    folder = season_folder(tmp_path / "tv", 1, 2)
    ctx = FakeJobContext("scan-season")
    request = SeasonScanRequest(
        library_id=tv, path=str(folder), update_type="Created", tvdb_id=371980, title="Severance"
    )

    result = scan_season(request, ctx)

    assert episodes_of(tv) == [
        ("Severance - S02E01.mkv", 2, [1], "present"),
        ("Severance - S02E02.mkv", 2, [2], "present"),
    ]
    with read_session() as session:
        series = session.scalars(select(Series)).one()
        assert (series.title, series.tvdb_id, Path(series.path).name) == (
            "Severance",
            371980,
            "Severance",
        )
    assert (result["episodes"], result["added"], result["removed"]) == (2, 2, 0)
    assert signatures() == ["Season 02"]
    assert notified(ctx) == [(str(folder), "Created", f"notify-players:{folder}")]
    assert (60, "2 episode files found") in ctx.progress_reports


def test_an_episode_gone_from_its_season_is_marked_removed(catalog: None, tmp_path: Path) -> None:
    tv = library(tmp_path / "tv", kind="tv")
    folder = season_folder(tmp_path / "tv", 1, 2)
    scan_season(SeasonScanRequest(library_id=tv, path=str(folder)), FakeJobContext())
    (folder / "Severance - S02E02.mkv").unlink()

    result = scan_season(SeasonScanRequest(library_id=tv, path=str(folder)), FakeJobContext())

    assert [state for *_, state in episodes_of(tv)] == ["present", "removed"]
    assert (result["episodes"], result["added"], result["removed"]) == (1, 0, 1)


def test_a_season_folder_not_there_yet_is_retried_and_a_deleted_one_is_removed(
    catalog: None, tmp_path: Path
) -> None:
    tv = library(tmp_path / "tv", kind="tv")
    folder = season_folder(tmp_path / "tv", 1)
    scan_season(SeasonScanRequest(library_id=tv, path=str(folder)), FakeJobContext())
    (folder / "Severance - S02E01.mkv").unlink()
    folder.rmdir()

    with pytest.raises(RetryableError, match="does not exist \\(yet\\)"):
        scan_season(SeasonScanRequest(library_id=tv, path=str(folder)), FakeJobContext())
    ctx = FakeJobContext("scan-season")
    deleted = SeasonScanRequest(library_id=tv, path=str(folder), update_type="Deleted")
    scan_season(deleted, ctx)

    assert [state for *_, state in episodes_of(tv)] == ["removed"]
    assert signatures() == []
    assert notified(ctx) == [(str(folder), "Deleted", f"notify-players:{folder}")]
