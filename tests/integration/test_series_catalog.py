"""The series rows a season scan keeps: Sonarr's ids first, a known id never replaced with
nothing, removed when the series is deleted or every episode is gone (SQLite and
PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.storage.db import read_session, write_session
from services.catalog.models import Library, Series
from services.catalog.queries import ManagerSeries, apply_season_scan, mark_seasons_removed
from services.scanner import scan_season_folder
from tests.pipeline import unique

SONARR = ManagerSeries("Severance", 2022, 371980, 95396, "tt11280740")


@pytest.fixture
def tv(database: str, tmp_path: Path) -> tuple[int, Path]:
    """A TV library at a fresh folder: its id and folder."""
    root = tmp_path / "tv"
    root.mkdir()
    with write_session() as session:
        library = Library(name=unique("tv"), path=str(root), kind="tv")
        session.add(library)
        session.flush()
        return library.id, root


def episode(root: Path, series: str, season: str, name: str) -> Path:
    folder = root / series / season if season else root / series
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.mkv").write_bytes(b"\0" * 2048)
    return folder


def scan(
    library_id: int, folder: Path, manager: ManagerSeries | None = None, *, deleted: bool = False
) -> int | None:
    """Scan ``folder`` as scan-season does; returns its series' id."""
    with write_session() as session:
        library = session.get(Library, library_id)
        assert library is not None
        counts = apply_season_scan(
            session, library, scan_season_folder(folder), manager, deleted=deleted
        )
    series_id: int | None = counts["series_id"]
    return series_id


Row = tuple[str, str | None, int | None, int | None, int | None, str | None, str]


def rows(library_id: int) -> list[Row]:
    """``(folder name, title, year, tvdb, tmdb, imdb, state)`` of the library's series."""
    with read_session() as session:
        found = session.scalars(
            select(Series).where(Series.library_id == library_id).order_by(Series.path)
        )
        return [
            (
                Path(s.path).name, s.title, s.year, s.tvdb_id, s.tmdb_id, s.imdb_id, s.state
            )
            for s in found
        ]  # fmt: skip


def test_sonarrs_ids_and_title_go_on_the_series_folders_row(tv: tuple[int, Path]) -> None:
    library_id, root = tv
    season = episode(root, "Severance (2022)", "Season 02", "Severance - S02E01")

    series_id = scan(library_id, season, SONARR)

    assert series_id is not None
    assert rows(library_id) == [
        ("Severance (2022)", "Severance", 2022, 371980, 95396, "tt11280740", "present")
    ]
    # Another season of it: the same row.
    assert scan(library_id, episode(root, "Severance (2022)", "Season 01", "S01E01")) == series_id


def test_without_ids_the_title_and_year_come_from_the_folder_name(tv: tuple[int, Path]) -> None:
    library_id, root = tv
    scan(library_id, episode(root, "Severance (2022)", "Season 01", "S01E01"))
    scan(library_id, episode(root, "Pluribus", "", "Pluribus - S01E01"))  # no season folders

    assert rows(library_id) == [
        ("Pluribus", "Pluribus", None, None, None, None, "present"),
        ("Severance (2022)", "Severance", 2022, None, None, None, "present"),
    ]


def test_a_known_id_is_never_replaced_with_nothing(tv: tuple[int, Path]) -> None:
    library_id, root = tv
    season = episode(root, "Severance", "Season 01", "S01E01")
    scan(library_id, season, SONARR)

    scan(library_id, season)  # a manual or library scan: no ids
    scan(library_id, season, ManagerSeries(title="Severance", tvdb_id=371980))  # fewer ids

    assert rows(library_id) == [
        ("Severance", "Severance", 2022, 371980, 95396, "tt11280740", "present")
    ]


def test_the_managers_ids_beat_nothing_and_replace_older_ones(tv: tuple[int, Path]) -> None:
    library_id, root = tv
    season = episode(root, "Severance", "Season 01", "S01E01")
    scan(library_id, season)
    assert rows(library_id) == [("Severance", "Severance", None, None, None, None, "present")]

    scan(library_id, season, ManagerSeries(tmdb_id=95396))
    scan(library_id, season, ManagerSeries("Severance (US)", 2022, 371980, 1, "tt11280740"))

    assert rows(library_id) == [
        ("Severance", "Severance (US)", 2022, 371980, 1, "tt11280740", "present")
    ]


def test_malformed_ids_are_dropped(tv: tuple[int, Path]) -> None:
    library_id, root = tv
    season = episode(root, "Severance", "Season 01", "S01E01")
    scan(library_id, season, SONARR)

    bad = ManagerSeries(" ", 0, 2**31, -1, "tt11280740; DROP TABLE series")
    scan(library_id, episode(root, "Pluribus", "Season 01", "S01E01"), bad)
    scan(library_id, season, bad)

    assert rows(library_id) == [
        ("Pluribus", "Pluribus", None, None, None, None, "present"),
        ("Severance", "Severance", 2022, 371980, 95396, "tt11280740", "present"),
    ]


def test_a_series_delete_removes_it_and_a_later_import_brings_it_back(
    tv: tuple[int, Path],
) -> None:
    library_id, root = tv
    season = episode(root, "Severance", "Season 01", "S01E01")
    series_id = scan(library_id, season, SONARR)
    shutil.rmtree(root / "Severance")

    assert scan(library_id, root / "Severance", deleted=True) == series_id

    assert rows(library_id) == [
        ("Severance", "Severance", 2022, 371980, 95396, "tt11280740", "removed")
    ]
    assert scan(library_id, episode(root, "Severance", "Season 01", "S01E01")) == series_id
    assert rows(library_id)[0][-1] == "present"


def test_a_series_deleted_in_sonarr_but_kept_on_disk_is_removed(tv: tuple[int, Path]) -> None:
    library_id, root = tv
    scan(library_id, episode(root, "Severance", "Season 01", "S01E01"), SONARR)

    scan(library_id, root / "Severance", SONARR, deleted=True)

    assert rows(library_id)[0][-1] == "removed"


def test_a_season_folder_deleted_leaves_the_series_with_its_other_seasons(
    tv: tuple[int, Path],
) -> None:
    library_id, root = tv
    one = episode(root, "Severance", "Season 1", "S01E01")
    scan(library_id, one, SONARR)
    scan(library_id, episode(root, "Severance", "Season 01", "S01E01"), SONARR)
    shutil.rmtree(one)

    scan(library_id, one, SONARR, deleted=True)  # a rename's old folder

    assert rows(library_id)[0][-1] == "present"


def test_every_episode_gone_removes_the_series(tv: tuple[int, Path]) -> None:
    library_id, root = tv
    season = episode(root, "Severance", "Season 01", "S01E01")
    scan(library_id, season, SONARR)
    (season / "S01E01.mkv").unlink()

    scan(library_id, season)

    assert rows(library_id)[0][-1] == "removed"


def test_seasons_gone_from_a_library_scan_remove_their_empty_series(
    tv: tuple[int, Path],
) -> None:
    library_id, root = tv
    kept = episode(root, "Pluribus", "Season 01", "S01E01")
    gone_one = episode(root, "Severance", "Season 01", "S01E01")
    gone_two = episode(root, "Severance", "Season 02", "S02E01")
    for season in (kept, gone_one, gone_two):
        scan(library_id, season)

    with write_session() as session:
        gone = mark_seasons_removed(session, library_id, keep={str(kept)})

    assert gone == [str(gone_one), str(gone_two)]
    assert [(name, state) for name, *_, state in rows(library_id)] == [
        ("Pluribus", "present"),
        ("Severance", "removed"),
    ]


def test_a_deleted_folder_never_seen_gets_no_row(tv: tuple[int, Path]) -> None:
    library_id, root = tv

    assert scan(library_id, root / "Severance", SONARR, deleted=True) is None
    assert scan(library_id, root) is None  # the library root is no series

    assert rows(library_id) == []
