"""Links out of a library, on real folders and symlinks with a worker: ``scan-movie``,
``scan-season`` and ``library-scan`` skip them (and never mark their media removed) unless
the library follows links."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator import submit
from orchestrator.jobs.models import Job
from orchestrator.storage.db import read_session, write_session
from services.catalog.models import EpisodeFileRow, Library, Movie
from tests.conftest import WorkerProcess, wait_for_job
from tests.pipeline import make_movie, unique


@pytest.fixture
def disk(worker: WorkerProcess, tmp_path: Path) -> tuple[Path, Path]:
    """A library folder and a folder outside it (a worker is running)."""
    library, outside = tmp_path / "movies", tmp_path / "elsewhere"
    library.mkdir()
    outside.mkdir()
    return library, outside


def _library(root: Path, kind: str = "movies", follow_links: bool = False) -> int:
    with write_session() as session:
        library = Library(name=unique("lib"), path=str(root), kind=kind, follow_links=follow_links)
        session.add(library)
        session.flush()
        return library.id


def _follow_links(library_id: int, follow: bool) -> None:
    with write_session() as session:
        library = session.get(Library, library_id)
        assert library is not None
        library.follow_links = follow


def _run(job_type: str, payload: dict[str, Any]) -> Any:
    return wait_for_job(submit(job_type, payload).job.id)


def _scan_movie(library_id: int, folder: Path, **extra: Any) -> Any:
    return _run("scan-movie", {"library_id": library_id, "path": str(folder), **extra})


def _library_scan(library_id: int) -> Any:
    job = _run("library-scan", {"library_id": library_id})
    assert job.status == "completed", job.error
    return job


def _children(job: Any) -> list[tuple[str, str]]:
    with read_session() as session:
        rows = session.scalars(select(Job).where(Job.parent_id == job.id))
        return sorted((row.payload["path"], row.payload["update_type"]) for row in rows)


def _movies(library_id: int) -> dict[str, tuple[int | None, str]]:
    """``{folder name: (tmdb id, state)}`` of the library's movies."""
    with read_session() as session:
        rows = session.execute(
            select(Movie.path, Movie.tmdb_id, Movie.state).where(Movie.library_id == library_id)
        ).all()
    return {os.path.basename(path): (tmdb_id, state) for path, tmdb_id, state in rows}


def _refused(job: Any, *words: str) -> None:
    assert job.status == "failed", job.result
    assert (job.error["type"], job.retry_count) == ("PermanentError", 0)
    for word in [*words, '{"follow_links": true}', "no player was told"]:
        assert word in job.error["message"], job.error["message"]
    assert _children(job) == []  # no player is told


def _linked_movie(library: Path, outside: Path, name: str, tmdb_id: int) -> Path:
    """A movie folder outside the library and a link to it from inside."""
    make_movie(outside, name, tmdb_id)
    (library / name).symlink_to(outside / name)
    return library / name


def test_a_movie_folder_linked_out_of_the_library_is_refused_and_kept(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    link = _linked_movie(library, outside, "Heat (1995)", 949)
    library_id = _library(library, follow_links=True)
    assert _scan_movie(library_id, link).status == "completed"  # while links were followed
    _follow_links(library_id, False)

    for update_type in ("Modified", "Deleted"):
        job = _scan_movie(library_id, link, update_type=update_type)
        _refused(job, str(link), str(outside / "Heat (1995)"), "nothing was scanned")

    assert _movies(library_id) == {"Heat (1995)": (949, "present")}  # not marked removed


def test_a_linked_out_nfo_is_skipped_and_listed_and_the_movie_scanned(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    folder = make_movie(library, "Heat (1995)", None)
    (outside / "secret.nfo").write_text('<movie><uniqueid type="tmdb">949</uniqueid></movie>')
    (folder / "movie.nfo").symlink_to(outside / "secret.nfo")
    library_id = _library(library)

    job = _scan_movie(library_id, folder)

    assert job.status == "completed", job.error
    assert job.result["skipped_links"] == [str(folder / "movie.nfo")]
    assert job.result["links_skipped"] == 1
    assert (job.result["title"], job.result["tmdb_id"]) == ("Heat", None)  # never read
    assert job.result["videos"] == [str(folder / "Heat (1995).mkv")]
    assert _children(job) == [(str(folder), "Created")]


def test_a_linked_out_video_refuses_the_folder_and_keeps_its_movie(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    folder = make_movie(library, "Heat (1995)", 949)
    video = folder / "Heat (1995).mkv"
    library_id = _library(library)
    assert _scan_movie(library_id, folder).status == "completed"
    os.replace(video, outside / video.name)
    video.symlink_to(outside / video.name)  # the video moved to another disk, linked back

    job = _scan_movie(library_id, folder)

    _refused(job, str(video), str(outside / video.name), "the catalog was left as it was")
    assert _movies(library_id) == {"Heat (1995)": (949, "present")}


def test_links_inside_the_library_are_scanned(disk: tuple[Path, Path]) -> None:
    library, _ = disk
    store = make_movie(library / ".store", "Heat (1995)", 949)
    folder = library / "Heat (1995)"
    folder.symlink_to(store)  # a whole folder linked within the library
    library_id = _library(library)

    job = _scan_movie(library_id, folder)

    assert job.status == "completed", job.error
    assert (job.result["tmdb_id"], job.result["skipped_links"]) == (949, [])
    assert _movies(library_id) == {"Heat (1995)": (949, "present")}


def test_a_library_that_follows_links_scans_them(disk: tuple[Path, Path]) -> None:
    library, outside = disk
    link = _linked_movie(library, outside, "Heat (1995)", 949)
    (outside / "Alien.nfo").write_text('<movie><uniqueid type="tmdb">348</uniqueid></movie>')
    folder = make_movie(library, "Alien (1979)", None)
    (folder / "Alien (1979).nfo").symlink_to(outside / "Alien.nfo")
    library_id = _library(library, follow_links=True)

    heat, alien = _scan_movie(library_id, link), _scan_movie(library_id, folder)

    assert (heat.status, alien.status) == ("completed", "completed")
    assert (heat.result["tmdb_id"], alien.result["tmdb_id"]) == (949, 348)
    assert alien.result["skipped_links"] == []


def test_library_scan_skips_linked_out_folders_says_so_and_removes_nothing(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    make_movie(library, "Inside (2001)", 1001)
    links = [_linked_movie(library, outside, f"Away {n} (199{n})", 900 + n) for n in range(2)]
    library_id = _library(library, follow_links=True)
    assert _library_scan(library_id).result["changed"] == 3  # scanned while followed
    _follow_links(library_id, False)
    (library / "Inside (2001)" / "poster.jpg").write_bytes(b"new")  # changed: rescanned

    job = _library_scan(library_id)

    assert (job.result["folders"], job.result["changed"], job.result["removed"]) == (1, 1, 0)
    assert job.result["skipped_links"] == [str(link) for link in links]
    assert job.result["links_skipped"] == 2
    assert _children(job) == [(str(library / "Inside (2001)"), "Modified")]
    assert _movies(library_id) == {
        "Inside (2001)": (1001, "present"),
        "Away 0 (1990)": (900, "present"),
        "Away 1 (1991)": (901, "present"),
    }

    _follow_links(library_id, True)
    followed = _library_scan(library_id)
    assert (followed.result["folders"], followed.result["links_skipped"]) == (3, 0)


def test_a_library_of_nothing_but_links_out_is_not_an_empty_share(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    for n in range(7):
        _linked_movie(library, outside, f"Away {n} (199{n})", 900 + n)
    library_id = _library(library, follow_links=True)
    _library_scan(library_id)
    _follow_links(library_id, False)

    job = _library_scan(library_id)

    assert (job.result["folders"], job.result["removed"], job.result["links_skipped"]) == (0, 0, 7)
    assert {state for _, state in _movies(library_id).values()} == {"present"}


def test_library_scan_leaves_a_folder_whose_video_links_out_as_it_was(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    folder = make_movie(library, "Heat (1995)", 949)
    make_movie(library, "Alien (1979)", 348)
    library_id = _library(library)
    _library_scan(library_id)
    video = folder / "Heat (1995).mkv"
    os.replace(video, outside / video.name)
    video.symlink_to(outside / video.name)

    job = _library_scan(library_id)
    again = _library_scan(library_id)

    assert (job.result["changed"], job.result["removed"]) == (0, 0)
    assert job.result["skipped_links"] == [str(video)]
    assert _children(job) == []
    assert again.result["skipped_links"] == [str(video)]  # not remembered as scanned
    assert _movies(library_id) == {
        "Heat (1995)": (949, "present"),
        "Alien (1979)": (348, "present"),
    }


def test_season_scans_skip_linked_out_episodes_and_seasons(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    root, outside = tmp_path / "tv", tmp_path / "elsewhere"
    season = root / "Show" / "Season 01"
    season.mkdir(parents=True)
    (outside / "Season 02").mkdir(parents=True)
    (outside / "Season 02" / "Show - S02E01.mkv").write_bytes(b"\0" * 10)
    (root / "Show" / "Season 02").symlink_to(outside / "Season 02")
    episode = season / "Show - S01E01.mkv"
    episode.write_bytes(b"\0" * 10)
    library_id = _library(root, kind="tv")
    first = _library_scan(library_id)
    os.replace(episode, outside / episode.name)
    episode.symlink_to(outside / episode.name)

    season_scan = _run("scan-season", {"library_id": library_id, "path": str(season)})
    linked_season = root / "Show" / "Season 02"
    refused = _run("scan-season", {"library_id": library_id, "path": str(linked_season)})
    second = _library_scan(library_id)

    assert (first.result["folders"], first.result["skipped_links"]) == (1, [str(linked_season)])
    _refused(season_scan, str(episode), "the catalog was left as it was")
    _refused(refused, str(linked_season), str(outside / "Season 02"), "nothing was scanned")
    assert second.result["skipped_links"] == [str(linked_season), str(episode)]
    assert second.result["removed"] == 0
    with read_session() as session:
        query = select(EpisodeFileRow.path, EpisodeFileRow.state).where(
            EpisodeFileRow.library_id == library_id
        )
        assert session.execute(query).all() == [(str(episode), "present")]


def test_a_library_whose_link_now_leads_into_a_system_folder_is_not_scanned(
    disk: tuple[Path, Path], tmp_path: Path
) -> None:
    from api import create_app
    from tests.conftest import API_KEY

    api = create_app().test_client()
    headers = {"X-Api-Key": API_KEY}
    media, _ = disk
    make_movie(media, "Heat (1995)", 949)
    link = tmp_path / "library"
    link.symlink_to(media)
    created = api.post(
        "/api/v1/libraries", headers=headers, json={"name": unique("lib"), "path": str(link)}
    )
    assert created.status_code == 201, created.get_json()
    library_id = created.get_json()["id"]
    _library_scan(library_id)

    system = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="orch-test-"))
    try:
        make_movie(system, "Ronin (1998)", 8195)
        link.unlink()
        link.symlink_to(system)  # swapped since the library was set
        for job in (
            _run("library-scan", {"library_id": library_id}),
            _scan_movie(library_id, link / "Ronin (1998)"),
        ):
            assert job.status == "failed", job.result
            assert (job.error["type"], job.retry_count) == ("PermanentError", 0)
            message = job.error["message"]
            assert f"now leads to {system}, in the system folder /var" in message, message
            assert "confirm_system_path" in message
        assert "Ronin (1998)" not in _movies(library_id)

        # Confirmed for a library of its own, the same system folder is scanned.
        body = {"name": unique("lib"), "path": str(system), "confirm_system_path": True}
        confirmed = api.post("/api/v1/libraries", headers=headers, json=body)
        assert confirmed.status_code == 201, confirmed.get_json()
        _library_scan(confirmed.get_json()["id"])
        assert _movies(confirmed.get_json()["id"])["Ronin (1998)"][1] == "present"
    finally:
        shutil.rmtree(system)
