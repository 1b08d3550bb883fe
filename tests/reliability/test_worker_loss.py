"""Workers that die mid-job: nothing is lost, nothing stays ``processing``, poison ends."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from orchestrator import submit
from orchestrator.jobs.models import Job
from orchestrator.storage.db import read_session
from tests.conftest import WorkerProcess, event_names, wait_for_job


def _status(job_id: str) -> str | None:
    with read_session() as session:
        job = session.get(Job, job_id)
    return job.status if job else None


def _pool_processes(worker: WorkerProcess) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True
    ).stdout
    return [int(pid) for pid in out.split()]


def _kill_pool(worker: WorkerProcess) -> None:
    for pid in _pool_processes(worker):
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if b"celery" in cmdline.read():
                os.kill(pid, signal.SIGKILL)


def test_a_killed_pool_process_is_retried_at_once(database: str) -> None:
    worker = WorkerProcess(concurrency=1)
    try:
        job = submit("test-hang-once", {"seconds": 120}).job
        wait_for_job(job.id, statuses=("processing",))

        _kill_pool(worker)

        done = wait_for_job(job.id, timeout=30)
        assert (done.status, done.attempts, done.retry_count) == ("completed", 2, 1)
        assert done.result == {"attempt": 2}
        assert event_names(job.id) == [
            "job.created", "job.started", "job.retrying", "job.started", "job.completed",
        ]  # fmt: skip
    finally:
        worker.stop()


def test_a_poison_job_fails_after_its_attempt_cap(database: str) -> None:
    worker = WorkerProcess(concurrency=1)
    try:
        job = submit("test-poison").job

        done = wait_for_job(job.id, timeout=60)

        assert done.status == "failed"
        assert (done.attempts, done.retry_count, done.max_retries) == (3, 2, 2)
        assert done.error["type"] == "WorkerLost"
        assert "no retries left" in done.error["message"]
        # The worker survives its poison and goes on with other work.
        assert wait_for_job(submit("test-echo").job.id).status == "completed"
    finally:
        worker.stop()


def test_the_reaper_recovers_the_job_of_a_worker_killed_outright(database: str) -> None:
    """Once: the reaper hands the job back and drops the copy of its message that the
    dead worker took (Redis), or the claim skips the copy RabbitMQ gives back at once.
    Either copy used to be claimed too, declaring the running attempt dead: with a second
    free slot on the survivor, two attempts ran at once."""
    doomed = WorkerProcess(concurrency=1)
    job = submit("test-hang-once", {"seconds": 120}).job
    wait_for_job(job.id, statuses=("processing",))
    children = _pool_processes(doomed)
    doomed.process.send_signal(signal.SIGKILL)  # no goodbye, message left unacknowledged
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    doomed.stop()
    # Two slots, and a reaper that takes a worker silent for 2 s for dead.
    survivor = WorkerProcess(concurrency=2, env={"ORCH_WORKER_TIMEOUT": "2"})
    try:
        time.sleep(3.5)  # ORCH_REAPER_TIMEOUT is 3 s in the tests
        reaped = []
        for _ in range(15):  # beat would run it every ORCH_REAPER_INTERVAL
            if _status(job.id) == "completed":
                break
            reaped += wait_for_job(submit("reaper").job.id).result["reaped"]
            time.sleep(1)
        assert job.id in reaped

        done = wait_for_job(job.id, timeout=30)
        assert (done.status, done.attempts, done.retry_count) == ("completed", 2, 1)
        time.sleep(1)  # a second copy, had there been one, would be claimed by now
        assert _status(job.id) == "completed"
        assert event_names(job.id).count("job.retrying") == 1
    finally:
        survivor.stop()
