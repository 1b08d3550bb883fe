"""Scheduled maintenance jobs: the reaper gives up on jobs of vanished workers,
retention deletes old finished jobs. (Killed workers: tests/reliability.)"""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update

from orchestrator import submit
from orchestrator.jobs.dispatch import build_job, insert_job
from orchestrator.jobs.models import Job, JobEvent, utcnow
from orchestrator.jobs.unit_of_work import unit_of_work
from orchestrator.storage.db import read_session, write_session
from tests.conftest import WorkerProcess, wait_for_job, wait_until


def _stuck_job() -> Job:
    """A job processing for an hour on a worker that is gone, with no retry left."""
    stuck = build_job("test-echo", {}, max_retries=0)
    with unit_of_work() as uow:
        insert_job(uow, stuck)
        uow.session.execute(
            update(Job)
            .where(Job.id == stuck.id)
            .values(status="processing", worker="ghost@nowhere", attempts=1,
                    started_at=utcnow() - timedelta(hours=1), dispatched_at=utcnow())
        )  # fmt: skip
    return stuck


def test_reaper_fails_a_stuck_job_without_retries_left(worker: WorkerProcess) -> None:
    stuck = _stuck_job()

    wait_for_job(submit("reaper").job.id)

    done = wait_for_job(stuck.id)
    assert done.status == "failed"
    assert done.error["type"] == "WorkerLost"
    assert "ghost@nowhere" in done.error["message"]


def test_retention_deletes_old_finished_jobs_and_their_events(worker: WorkerProcess) -> None:
    old = wait_for_job(submit("test-echo", {"age": "old"}).job.id)
    recent = wait_for_job(submit("test-echo", {"age": "recent"}).job.id)
    with write_session() as session:
        session.execute(
            update(Job).where(Job.id == old.id).values(completed_at=utcnow() - timedelta(days=31))
        )

    result = wait_for_job(submit("retention").job.id).result

    assert result["deleted"] >= 1
    with read_session() as session:
        assert session.get(Job, old.id) is None
        assert session.get(Job, recent.id) is not None
        assert session.query(JobEvent).filter(JobEvent.job_id == old.id).count() == 0


def test_reaper_runs_at_the_same_time_both_record_the_workers_they_heard(database: str) -> None:
    """Two reaper runs at once (one queued behind long jobs, the next on time) write the
    same workers: neither may fail for it (a unique violation failed one before)."""
    from orchestrator.jobs.maintenance import _note_answers
    from orchestrator.jobs.models import WorkerSeen

    hostnames = {f"worker-{n}@host" for n in range(8)}
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def reap() -> None:
        start.wait()
        try:
            for _ in range(25):
                _note_answers(hostnames, 25.0)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=reap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    with read_session() as session:
        seen = set(session.scalars(select(WorkerSeen.hostname)))
    assert hostnames <= seen


def test_an_idle_reaper_run_leaves_no_info_line_and_a_busy_one_says_what_it_did(
    worker: WorkerProcess,
) -> None:
    from orchestrator import app

    before = worker.log_path.read_text(errors="replace")
    # As beat sends it: a bare message, then a critical job queued behind it.
    app.send_task("reaper", queue="critical")
    wait_for_job(
        submit("test-echo", {"after": "the maintenance round"}, priority="critical").job.id
    )
    idle = worker.log_path.read_text(errors="replace")[len(before) :]

    assert "test-echo" in idle  # the worker logs at INFO...
    assert [line for line in idle.splitlines() if "reaper" in line] == []  # ...not its rounds

    stuck = _stuck_job()
    app.send_task("reaper", queue="critical")
    assert wait_for_job(stuck.id).status == "failed"

    def said_what_it_did() -> list[str]:
        busy = worker.log_path.read_text(errors="replace")[len(before) + len(idle) :]
        return [line for line in busy.splitlines() if "[reaper " in line and "completed: " in line]

    [line] = wait_until(said_what_it_did, timeout=20)
    assert stuck.id in line
