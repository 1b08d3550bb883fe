"""``library-scan`` on real folders: only new and changed folders are scanned, vanished ones
are removed, and the players are notified once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator import submit
from orchestrator.jobs.models import Job
from orchestrator.storage.db import read_session, write_session
from services.catalog.models import (
    PATH_CHARS,
    EpisodeFileRow,
    GroupPathMapping,
    Library,
    Movie,
    Player,
    PlayerGroup,
    ScannedFolder,
)
from tests.conftest import DATA_DIR, WorkerProcess, wait_for_job, wait_until
from tests.fakes.players import FakeKodi
from tests.fakes.unreadable import UNREADABLE_LIST
from tests.pipeline import make_movie, unique


@pytest.fixture
def movies(worker: WorkerProcess, tmp_path: Path) -> Path:
    """An empty movie library folder (a worker is running)."""
    root = tmp_path / "movies"
    root.mkdir()
    return root


def _library(root: Path, kind: str = "movies", anchors: list[str] | None = None) -> int:
    with write_session() as session:
        library = Library(name=unique("lib"), path=str(root), kind=kind, anchors=anchors or [])
        session.add(library)
        session.flush()
        return library.id


def _scan(library_id: int) -> Any:
    job = wait_for_job(submit("library-scan", {"library_id": library_id}).job.id)
    assert job.status == "completed", job.error
    return job


def _counts(job: Any) -> tuple[int, int, int, int, int]:
    r = job.result
    return r["folders"], r["changed"], r["unchanged"], r["removed"], r["failed"]


def _notified(job: Any) -> list[tuple[str, str]]:
    """``(path, update type)`` of the ``notify-players`` jobs the scan submitted."""
    with read_session() as session:
        children = list(session.scalars(select(Job).where(Job.parent_id == job.id)))
    assert sorted(c.id for c in children) == sorted(job.result["notify_job_ids"])
    assert {c.type for c in children} <= {"notify-players"}
    return sorted((c.payload["path"], c.payload["update_type"]) for c in children)


def _movies(library_id: int) -> dict[str, tuple[int | None, str]]:
    """``{folder name: (tmdb id, state)}`` of the library's movies."""
    with read_session() as session:
        rows = session.execute(
            select(Movie.path, Movie.tmdb_id, Movie.state).where(Movie.library_id == library_id)
        ).all()
    return {os.path.basename(path): (tmdb_id, state) for path, tmdb_id, state in rows}


def test_first_scan_indexes_every_folder_and_an_unchanged_rescan_scans_none(
    movies: Path,
) -> None:
    for n in range(5):
        make_movie(movies, f"Film {n} (200{n})", 9000 + n)
    (movies / ".hidden").mkdir()
    library_id = _library(movies)

    first = _scan(library_id)
    second = _scan(library_id)

    assert first.priority == 8
    assert _counts(first) == (5, 5, 0, 0, 0)
    assert _movies(library_id) == {f"Film {n} (200{n})": (9000 + n, "present") for n in range(5)}
    assert _notified(first) == [(str(movies / f"Film {n} (200{n})"), "Created") for n in range(5)]
    assert _counts(second) == (5, 0, 5, 0, 0)
    assert second.result["errors"] == []
    assert _notified(second) == []


def test_a_changed_folder_is_the_only_one_rescanned(movies: Path) -> None:
    folders = [make_movie(movies, f"Film {n} (201{n})", 9100 + n) for n in range(3)]
    library_id = _library(movies)
    _scan(library_id)
    scanned_at = _scanned_at(library_id)

    (folders[1] / "extras").mkdir()
    (folders[1] / "extras" / "interview.mkv").write_bytes(b"\0" * 10)
    (folders[1] / f"{folders[1].name}.en.srt").write_text("1\n")
    job = _scan(library_id)

    assert _counts(job) == (3, 1, 2, 0, 0)
    assert _notified(job) == [(str(folders[1]), "Modified")]
    after = _scanned_at(library_id)
    assert after[folders[0].name] == scanned_at[folders[0].name]
    assert after[folders[2].name] == scanned_at[folders[2].name]
    assert after[folders[1].name] > scanned_at[folders[1].name]


def test_a_removed_folder_marks_its_movie_removed_and_notifies_deleted(movies: Path) -> None:
    folders = [make_movie(movies, f"Film {n} (202{n})", 9200 + n) for n in range(3)]
    library_id = _library(movies)
    _scan(library_id)

    shutil.rmtree(folders[2])
    job = _scan(library_id)

    assert _counts(job) == (2, 0, 2, 1, 0)
    assert _notified(job) == [(str(folders[2]), "Deleted")]
    assert _movies(library_id)[folders[2].name] == (9202, "removed")
    assert _movies(library_id)[folders[0].name] == (9200, "present")
    with read_session() as session:
        stored = set(session.scalars(select(ScannedFolder.path)))
    assert str(folders[2]) not in stored
    assert str(folders[0]) in stored


def test_more_than_ten_changed_folders_notify_the_library_root_once(movies: Path) -> None:
    for n in range(11):
        make_movie(movies, f"Film {n:02d} (1990)", 9300 + n)
    library_id = _library(movies)

    job = _scan(library_id)

    assert _counts(job) == (11, 11, 0, 0, 0)
    assert _notified(job) == [(str(movies), "Modified")]


def test_a_webhook_scan_stores_its_signature_so_the_library_scan_skips_it(
    movies: Path,
) -> None:
    folders = [make_movie(movies, f"Film {n} (203{n})", 9400 + n) for n in range(2)]
    library_id = _library(movies)
    scan = submit("scan-movie", {"library_id": library_id, "path": str(folders[0])}).job
    assert wait_for_job(scan.id).status == "completed"

    job = _scan(library_id)

    assert _counts(job) == (2, 1, 1, 0, 0)
    assert _notified(job) == [(str(folders[1]), "Created")]


# Folders the module's worker refuses to list, one a line: root lists any folder whatever
# its mode, so a mode of 0 alone would leave the unreadable path untested there.
LOCKED = DATA_DIR / "unreadable-folders"


@pytest.fixture(scope="module")
def worker(database: str) -> Iterator[WorkerProcess]:
    """The shared worker's kind, which also cannot list the folders named in ``LOCKED``."""
    modules = f"{os.environ['ORCH_JOB_MODULES']},tests.fakes.unreadable"
    process = WorkerProcess.for_module(
        concurrency=2, env={"ORCH_JOB_MODULES": modules, UNREADABLE_LIST: str(LOCKED)}
    )
    yield process
    process.stop()


def _lock(folder: Path) -> None:
    """Make ``folder`` unreadable: mode 0, and refused by the worker (even to root)."""
    folder.chmod(0)
    LOCKED.write_text(f"{folder}\n")


def _unlock(folder: Path) -> None:
    folder.chmod(0o755)
    LOCKED.write_text("")


@pytest.fixture
def unreadable(movies: Path) -> Iterator[Path]:
    """A movie folder nobody may list."""
    folder = make_movie(movies, "Locked (1990)", 9599)
    _lock(folder)
    try:
        yield folder
    finally:
        _unlock(folder)


def test_an_unreadable_folder_fails_alone_and_is_tried_again_next_time(
    movies: Path, unreadable: Path
) -> None:
    make_movie(movies, "Open (1991)", 9500)
    library_id = _library(movies)

    first = _scan(library_id)
    _unlock(unreadable)
    second = _scan(library_id)
    _lock(unreadable)
    third = _scan(library_id)

    assert _counts(first) == (2, 1, 0, 0, 1)
    assert len(first.result["errors"]) == 1
    assert str(unreadable) in first.result["errors"][0]
    assert _counts(second) == (2, 1, 1, 0, 0)
    assert _notified(second) == [(str(unreadable), "Created")]
    assert _counts(third) == (2, 0, 1, 0, 1)
    assert _movies(library_id)["Locked (1990)"] == (9599, "present")


def test_a_tv_library_is_indexed_by_season_folder(worker: WorkerProcess, tmp_path: Path) -> None:
    root = tmp_path / "tv"
    season = root / "Show" / "Season 01"
    season.mkdir(parents=True)
    (season / "Show - S01E01.mkv").write_bytes(b"\0" * 10)
    flat = root / "Mini Series"
    flat.mkdir()
    (flat / "Mini Series - S01E01.mkv").write_bytes(b"\0" * 10)
    library_id = _library(root, kind="tv")

    first = _scan(library_id)
    (season / "Show - S01E02.mkv").write_bytes(b"\0" * 10)
    second = _scan(library_id)
    shutil.rmtree(flat)
    third = _scan(library_id)

    assert _counts(first) == (2, 2, 0, 0, 0)
    assert _notified(first) == [(str(flat), "Created"), (str(season), "Created")]
    assert _counts(second) == (2, 1, 1, 0, 0)
    assert _notified(second) == [(str(season), "Modified")]
    assert _counts(third) == (1, 0, 1, 1, 0)
    assert _notified(third) == [(str(flat), "Deleted")]
    with read_session() as session:
        episodes = session.execute(
            select(EpisodeFileRow.path, EpisodeFileRow.episodes, EpisodeFileRow.state).where(
                EpisodeFileRow.library_id == library_id
            )
        ).all()
    assert sorted((os.path.basename(p), e, s) for p, e, s in episodes) == [
        ("Mini Series - S01E01.mkv", [1], "removed"),
        ("Show - S01E01.mkv", [1], "present"),
        ("Show - S01E02.mkv", [2], "present"),
    ]


def test_the_library_root_notification_reaches_kodi_as_a_scan_of_the_mapped_root(
    movies: Path,
) -> None:
    for n in range(12):
        make_movie(movies, f"Film {n:02d} (1980)", 9700 + n)
    library_id = _library(movies)
    with FakeKodi(username="kodi", password="kodi-pass") as kodi:
        kodi.add_source("smb://nas/movies", "movies", disk=movies)  # the group's mapping
        with write_session() as session:
            group = PlayerGroup(name=unique("group"))
            group.libraries = [session.get(Library, library_id)]
            group.path_mappings = [
                GroupPathMapping(from_path=str(movies), to_path="smb://nas/movies")
            ]
            kodi_player = Player(
                name="kodi", type="kodi", url=kodi.url, username="kodi", password="kodi-pass"
            )
            group.players = [kodi_player]
            session.add(group)

        job = _scan(library_id)
        [notify_id] = job.result["notify_job_ids"]
        notify = wait_for_job(notify_id)

        assert notify.status == "completed", notify.error
        # A change to what Kodi holds: removed movies are cleaned out first, then the
        # library's root is scanned.
        assert kodi.cleans() == [
            {"directory": "smb://nas/movies/", "content": "movies", "showdialogs": False}
        ]
        assert kodi.scans() == [{"directory": "smb://nas/movies/", "showdialogs": False}]
        [outcome] = notify.result["groups"]
        assert outcome["status"] == "notified"
        assert outcome["verified"] is False  # a whole library is not read back item by item
        assert "whole library" in outcome["verification"]
        expected = [
            f"smb://nas/movies/Film {n:02d} (1980)/Film {n:02d} (1980).mkv" for n in range(12)
        ]
        wait_until(lambda: kodi.movie_files() == expected, timeout=5, what="Kodi's movies")


def test_library_scan_of_a_missing_folder_fails_with_the_path(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    library_id = _library(tmp_path / "nope")

    job = wait_for_job(submit("library-scan", {"library_id": library_id}).job.id)

    assert job.status == "failed"
    assert str(tmp_path / "nope") in job.error["message"]
    assert job.retry_count == 0


def _scanned_at(library_id: int) -> dict[str, Any]:
    with read_session() as session:
        rows = session.execute(
            select(Movie.path, Movie.scanned_at).where(Movie.library_id == library_id)
        ).all()
    return {os.path.basename(path): scanned_at for path, scanned_at in rows}


def _states(library_id: int) -> list[str]:
    with read_session() as session:
        query = select(Movie.state).where(Movie.library_id == library_id)
        return sorted(session.scalars(query))


def _refused(library_id: int, **payload: Any) -> Any:
    job = wait_for_job(submit("library-scan", {"library_id": library_id, **payload}).job.id)
    assert job.status == "failed", job.result
    assert job.error["type"] == "PermanentError"
    return job


def test_an_empty_root_is_a_dropped_share_not_everything_deleted(movies: Path) -> None:
    for n in range(3):
        make_movie(movies, f"Movie {n} (2000)", 1000 + n)
    library_id = _library(movies)
    _scan(library_id)
    for folder in movies.iterdir():  # the share's mount point, left empty
        shutil.rmtree(folder)

    failed = _refused(library_id)

    assert "is empty" in failed.error["message"] and "mounted" in failed.error["message"]
    assert '"allow_removals": true' in failed.error["message"]
    assert _states(library_id) == ["present"] * 3
    with read_session() as session:  # and no player was told to rescan anything
        assert session.scalars(select(Job).where(Job.parent_id == failed.id)).all() == []


def test_most_of_a_library_gone_at_once_is_refused_until_allowed(movies: Path) -> None:
    for n in range(10):
        make_movie(movies, f"Movie {n} (2000)", 2000 + n)
    library_id = _library(movies)
    _scan(library_id)
    for n in range(6):
        shutil.rmtree(movies / f"Movie {n} (2000)")

    failed = _refused(library_id)

    assert "6 of the 10 folders" in failed.error["message"]
    assert _states(library_id) == ["present"] * 10
    allowed = wait_for_job(
        submit("library-scan", {"library_id": library_id, "allow_removals": True}).job.id
    )
    assert allowed.status == "completed" and allowed.result["removed"] == 6
    assert _states(library_id) == ["present"] * 4 + ["removed"] * 6


def test_a_few_folders_gone_are_removed_as_usual(movies: Path) -> None:
    for n in range(10):
        make_movie(movies, f"Movie {n} (2000)", 3000 + n)
    library_id = _library(movies)
    _scan(library_id)
    for n in range(3):
        shutil.rmtree(movies / f"Movie {n} (2000)")

    assert _counts(_scan(library_id))[3] == 3
    assert _states(library_id) == ["present"] * 7 + ["removed"] * 3


def _children(job: Any) -> list[Job]:
    with read_session() as session:
        return list(session.scalars(select(Job).where(Job.parent_id == job.id)))


def test_a_missing_anchor_fails_the_library_scan_before_anything_changes(movies: Path) -> None:
    for n in range(3):
        make_movie(movies, f"Movie {n} (2001)", 4000 + n)
    (movies / ".anchor").write_text("")
    library_id = _library(movies, anchors=[".anchor"])
    assert _counts(_scan(library_id)) == (3, 3, 0, 0, 0)  # the anchor there: scans as usual
    for item in movies.iterdir():  # the share dropped: its mount point is left empty
        shutil.rmtree(item) if item.is_dir() else item.unlink()

    failed = _refused(library_id)
    # Anchors are configured on purpose: the mass-removal override does not pass them.
    overridden = _refused(library_id, allow_removals=True)

    for job in (failed, overridden):
        message = job.error["message"]
        assert f"anchor file {movies}/.anchor is missing" in message
        assert "nothing was scanned and no player was told" in message
        assert job.retry_count == 0
        assert _children(job) == []
    assert _states(library_id) == ["present"] * 3

    (movies / ".anchor").write_text("")  # mounted again
    make_movie(movies, "Movie 0 (2001)", 4000)
    after = _scan(library_id)
    assert after.result["removed"] == 2
    assert _movies(library_id)["Movie 0 (2001)"] == (4000, "present")


def test_a_missing_anchor_fails_a_folder_scan_without_touching_the_catalog(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    movies, tv = tmp_path / "movies", tmp_path / "tv"
    movie = make_movie(movies, "Heat (1995)", 949)
    season = tv / "Show" / "Season 01"
    season.mkdir(parents=True)
    (season / "Show - S01E01.mkv").write_bytes(b"\0" * 10)
    for root in (movies, tv):
        (root / "Media" / ".mounted").parent.mkdir()
        (root / "Media" / ".mounted").write_text("")
    scans = [
        ("scan-movie", _library(movies, anchors=["Media/.mounted"]), movie, movies),
        ("scan-season", _library(tv, kind="tv", anchors=["Media/.mounted"]), season, tv),
    ]
    for job_type, library_id, folder, _ in scans:
        payload = {"library_id": library_id, "path": str(folder)}
        assert wait_for_job(submit(job_type, payload).job.id).status == "completed"
    for root in (movies, tv):
        shutil.rmtree(root / "Media")
    shutil.rmtree(movie)
    shutil.rmtree(season)

    for job_type, library_id, folder, root in scans:
        # A delete while the anchor is missing: without it, the folder would be marked removed.
        payload = {"library_id": library_id, "path": str(folder), "update_type": "Deleted"}
        job = wait_for_job(submit(job_type, payload).job.id)

        assert job.status == "failed", job.result
        assert (job.error["type"], job.retry_count) == ("PermanentError", 0)
        assert f"anchor file {root}/Media/.mounted is missing" in job.error["message"]
        assert _children(job) == []  # no notify-players
    assert _movies(scans[0][1]) == {"Heat (1995)": (949, "present")}
    with read_session() as session:
        query = select(EpisodeFileRow.state).where(EpisodeFileRow.library_id == scans[1][1])
        assert list(session.scalars(query)) == ["present"]


def test_a_folder_whose_path_the_catalog_cannot_keep_fails_alone_saying_so(movies: Path) -> None:
    root = movies
    for n in range(4):  # a library folder of about 880 characters
        root = root / (f"{n}" * 200)
    make_movie(root, "Heat (1995)", 949)
    long_movie = make_movie(root, "Ronin " + "r" * 140 + " (1998)", 8195)
    assert len(str(long_movie)) > PATH_CHARS > len(str(root / "Heat (1995)" / "Heat (1995).mkv"))
    library_id = _library(root)

    job = _scan(library_id)

    assert job.result["failed"] == 1, job.result
    assert "characters long, more than the 1000 the catalog keeps" in job.result["errors"][0]
    assert _movies(library_id) == {"Heat (1995)": (949, "present")}

    single = wait_for_job(
        submit("scan-movie", {"library_id": library_id, "path": str(long_movie)}).job.id
    )
    assert single.status == "failed" and single.error["type"] == "PermanentError"
    assert "characters long" in single.error["message"]
    assert "no player was told" in single.error["message"]
