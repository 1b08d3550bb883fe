"""``library-scan`` walks a real library folder: one scan per movie, vanished ones removed."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import select

from orchestrator import submit
from orchestrator.db import read_session, write_session
from services.catalog.models import Library, Movie
from tests.conftest import WorkerProcess, wait_for_job


def _movie(library: Path, name: str, tmdb_id: int) -> Path:
    folder = library / name
    folder.mkdir(parents=True)
    (folder / f"{name}.mkv").write_bytes(b"\0" * 1024)
    (folder / "movie.nfo").write_text(
        f'<movie><title>{name}</title><uniqueid type="tmdb">{tmdb_id}</uniqueid></movie>'
    )
    return folder


def test_library_scan_indexes_every_folder_and_marks_vanished_movies(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    root = tmp_path / "movies"
    for n in range(5):
        _movie(root, f"Film {n} (200{n})", 9000 + n)
    (root / ".hidden").mkdir()
    with write_session() as session:
        library = Library(name=f"lib-{uuid.uuid4().hex[:6]}", path=str(root), kind="movies")
        session.add(library)
        session.flush()
        library_id = library.id

    first = wait_for_job(submit("library-scan", {"library_id": library_id}).job.id)
    assert first.status == "completed"
    assert (first.result["folders"], first.result["removed"]) == (5, 0)
    scans = [wait_for_job(child) for child in _children(first.id)]
    assert [s.status for s in scans] == ["completed"] * 5
    assert all(s.priority == 8 for s in scans)

    shutil.rmtree(root / "Film 3 (2003)")
    second = wait_for_job(submit("library-scan", {"library_id": library_id}).job.id)
    for child in _children(second.id):
        wait_for_job(child)

    assert second.result["removed"] == 1
    with read_session() as session:
        states = dict(
            session.execute(
                select(Movie.tmdb_id, Movie.state).where(Movie.library_id == library_id)
            ).all()
        )
    assert states == {9000: "present", 9001: "present", 9002: "present", 9003: "removed",
                      9004: "present"}  # fmt: skip


def test_library_scan_of_a_missing_folder_fails_with_the_path(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    with write_session() as session:
        library = Library(name=f"gone-{uuid.uuid4().hex[:6]}", path=str(tmp_path / "nope"),
                          kind="movies")  # fmt: skip
        session.add(library)
        session.flush()
        library_id = library.id

    job = wait_for_job(submit("library-scan", {"library_id": library_id}).job.id)

    assert job.status == "failed"
    assert str(tmp_path / "nope") in job.error["message"]
    assert job.retry_count == 0


def _children(job_id: str) -> list[str]:
    from orchestrator.models import Job

    with read_session() as session:
        return list(session.scalars(select(Job.id).where(Job.parent_id == job_id)))
