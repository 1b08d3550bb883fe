"""Scheduled maintenance jobs: the reaper gives back jobs of dead worker processes,
retention deletes old finished jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta

from sqlalchemy import update

from orchestrator import submit
from orchestrator.db import read_session, write_session
from orchestrator.dispatch import build_job, insert_job
from orchestrator.models import Job, JobEvent, utcnow
from tests.conftest import WorkerProcess, event_names, wait_for_job


def _pool_processes(worker: WorkerProcess) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True
    ).stdout
    return [int(pid) for pid in out.split()]


def test_reaper_reruns_a_job_whose_worker_process_was_killed(worker: WorkerProcess) -> None:
    job = submit("test-hang-once", {"seconds": 120}).job
    wait_for_job(job.id, statuses=("processing",))
    for pid in _pool_processes(worker):
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if b"celery" in cmdline.read():
                os.kill(pid, signal.SIGKILL)  # every pool process: the one running it too
    time.sleep(3.5)  # ORCH_REAPER_TIMEOUT is 3 s in the tests

    # Beat runs the reaper every minute; while the worker replaces its pool processes
    # it may not answer the first inspection, so run it until it reaps (as beat would).
    results = []
    for _ in range(15):
        reaper = wait_for_job(submit("reaper").job.id)
        assert reaper.status == "completed"
        results.append(reaper.result)
        if job.id in reaper.result["reaped"]:
            break
        time.sleep(1)
    assert job.id in results[-1]["reaped"], results
    done = wait_for_job(job.id)
    assert (done.status, done.attempts, done.retry_count) == ("completed", 2, 1)
    assert done.result == {"attempt": 2}
    names = event_names(job.id)
    assert names.count("job.started") == 2 and "job.retrying" in names


def test_reaper_fails_a_stuck_job_without_retries_left(worker: WorkerProcess) -> None:
    stuck = build_job("test-echo", {}, max_retries=0)
    with write_session() as session:
        insert_job(session, stuck)
        session.execute(
            update(Job)
            .where(Job.id == stuck.id)
            .values(status="processing", worker="ghost@nowhere", attempts=1,
                    started_at=utcnow() - timedelta(hours=1), dispatched_at=utcnow())
        )  # fmt: skip

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
