"""Recovery within a minute on Redis, with the default settings and beat running.

- A whole worker SIGKILLed (main process and pool) while it runs and holds jobs:
  the reaper hears it silent for ``ORCH_WORKER_TIMEOUT`` and gives its jobs back,
  and puts back the messages it had taken, which Redis would keep for an hour.
- Redis restarted empty under a steady load: the reaper finds its marker message gone
  and republishes every waiting job, although the queues are never empty.
- Scheduled reaper runs that found nothing leave no row.

Each runs a Redis of its own with beat and workers on it (SQLite: the database is not
what is exercised here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator.delivery.celery_app import app
from orchestrator.jobs.dispatch import build_job, insert_job
from orchestrator.jobs.models import BrokerMarker, Job, JobEvent, utcnow
from orchestrator.jobs.priorities import message_priority, queue_for
from orchestrator.jobs.unit_of_work import unit_of_work
from orchestrator.storage.db import read_session
from orchestrator.storage.migrate import upgrade
from tests.conftest import REPO_ROOT, WorkerProcess, _use_database, sqlite_only
from tests.reliability.test_broker_outage import Redis
from tests.reliability.test_worker_loss import _pool_processes

RECOVERY_TARGET = 60.0


class Stack:
    """A Redis of its own, beat, and workers on it, all with the default timings."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.redis = Redis(folder)
        self.redis.start()
        # Default settings: the suite's short reaper timeout must not help.
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"ORCH_REAPER_TIMEOUT", "ORCH_SWEEP_GRACE"}
        }
        self.env.update(
            ORCH_BROKER_URL=self.redis.url, ORCH_DATA_DIR=str(folder), PYTHONPATH=str(REPO_ROOT)
        )
        self.workers: list[WorkerProcess] = []
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "beat"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def worker(self, concurrency: int = 2) -> WorkerProcess:
        worker = WorkerProcess(concurrency=concurrency, env=self.env)
        self.workers.append(worker)
        return worker

    def submit(
        self, count: int, job_type: str, payload: dict[str, Any], countdown: float | None = None
    ) -> list[str]:
        """Record and publish ``count`` jobs on this stack's Redis."""
        ids = []
        with app.connection_for_write(self.redis.url) as connection:
            for _ in range(count):
                job = build_job(job_type, payload, countdown=countdown)
                job.dispatched_at = utcnow()
                with unit_of_work() as uow:
                    insert_job(uow, job)
                app.send_task(
                    job.type,
                    kwargs=job.payload,
                    task_id=job.id,
                    queue=queue_for(job.priority),
                    priority=message_priority(job.priority, self.redis.url),
                    countdown=countdown,
                    connection=connection,
                )
                ids.append(job.id)
        return ids

    def stop(self) -> None:
        self.beat.terminate()
        self.beat.wait(20)
        for worker in self.workers:
            worker.stop()
        self.redis.stop()


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    """A stack on a database of its own: a broker that lost its messages makes the reaper
    republish every waiting job, and those of other tests are not this test's."""
    sqlite_only(database)
    own = f"sqlite:///{tmp_path / 'recovery.db'}"
    upgrade(own)
    _use_database(own)
    try:
        stack = Stack(tmp_path)
        try:
            yield stack
        finally:
            stack.stop()
    finally:
        _use_database(database)


def _open(ids: list[str]) -> int:
    with read_session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.id.in_(ids), Job.status != "completed")
            )
            or 0
        )


def _last_completion(ids: list[str]) -> float:
    """Seconds since the epoch of the last completion among ``ids``."""
    with read_session() as session:
        last = session.scalar(select(func.max(Job.completed_at)).where(Job.id.in_(ids)))
    assert last is not None
    return last.timestamp()


def _wait_all_completed(ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _open(ids) and time.monotonic() < deadline:
        time.sleep(0.5)
    with read_session() as session:
        left = session.execute(
            select(Job.id, Job.status, Job.worker).where(Job.id.in_(ids), Job.status != "completed")
        ).all()
    assert left == [], f"{len(left)} jobs not completed: {left[:5]}"


def _reaper_rows() -> list[dict[str, Any]]:
    with read_session() as session:
        return [
            job.result or {} for job in session.scalars(select(Job).where(Job.type == "reaper"))
        ]


def test_jobs_of_a_killed_worker_complete_within_a_minute(stack: Stack) -> None:
    victim = stack.worker()
    reaper_rows_before = len(_reaper_rows())
    # Jobs due later (retries wait like this) sit in the victim's memory, their messages
    # taken from Redis and not acknowledged: Redis alone would keep them for an hour.
    later = stack.submit(4, "test-sleep", {"seconds": 0.1}, countdown=20)
    survivor = stack.worker()
    ids = stack.submit(120, "test-sleep", {"seconds": 0.4})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with read_session() as session:
            running = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.worker == victim.hostname, Job.status == "processing")
            )
        if running:
            break
        time.sleep(0.05)
    assert running, "the victim never ran a job"

    for pid in [victim.process.pid, *_pool_processes(victim)]:
        os.kill(pid, signal.SIGKILL)  # no goodbye: its messages stay unacknowledged
    killed_at = time.time()
    ids += later
    _wait_all_completed(ids, timeout=RECOVERY_TARGET + 30)

    recovered = _last_completion(ids) - killed_at
    assert recovered <= RECOVERY_TARGET
    with read_session() as session:
        stranded = session.scalars(select(Job).where(Job.id.in_(ids), Job.retry_count > 0)).all()
    assert stranded, "the victim's jobs should have been given back"
    with read_session() as session:
        retried = session.scalars(
            select(JobEvent).where(
                JobEvent.job_id.in_([job.id for job in stranded]), JobEvent.name == "job.retrying"
            )
        ).all()
    assert {event.data["error_type"] for event in retried} == {"WorkerLost"}
    assert survivor.process.poll() is None
    # The reaper kept rows only for the runs that gave something back.
    rows = _reaper_rows()[reaper_rows_before:]
    assert rows and all(any(row.values()) for row in rows), rows
    restored = {job_id for row in rows for job_id in row.get("restored", [])}
    assert set(later) <= restored
    print(f"\nworker SIGKILLed: every job completed {recovered:.1f} s after the kill")


def test_waiting_jobs_complete_within_a_minute_after_redis_lost_its_data(
    stack: Stack,
) -> None:
    stack.worker()
    # The first worker gave the broker its marker: a loss before the reaper's first run
    # is noticed too.
    with read_session() as session:
        assert session.scalar(select(func.count()).select_from(BrokerMarker)) == 1
    ids = stack.submit(600, "test-sleep", {"seconds": 0.02})
    time.sleep(1.0)

    stack.redis.stop()
    for kept in stack.folder.glob("appendonly*"):  # its data is gone: it comes back empty
        kept.unlink()
    stack.redis.start()
    restarted_at = time.time()
    # Steady load: the queues hold new messages all along.
    steady_until = time.monotonic() + 20
    while time.monotonic() < steady_until:
        ids += stack.submit(5, "test-sleep", {"seconds": 0.02})
        time.sleep(0.5)
    _wait_all_completed(ids, timeout=RECOVERY_TARGET + 30)

    recovered = _last_completion(ids) - restarted_at
    assert recovered <= RECOVERY_TARGET
    republished = {job_id for row in _reaper_rows() for job_id in row.get("republished", [])}
    assert republished & set(ids)
    print(f"\nRedis lost its data: every job completed {recovered:.1f} s after its restart")
