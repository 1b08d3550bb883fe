"""Two workers of four processes each on one database: every job runs exactly once,
even when each message is delivered twice."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from orchestrator import submit
from orchestrator.delivery.celery_app import app
from orchestrator.jobs.models import Job, JobEvent
from orchestrator.storage.db import read_session
from tests.conftest import WorkerProcess


def test_no_job_is_claimed_twice(database: str) -> None:
    count = 2000 if database.startswith("postgresql") else 500
    workers = [WorkerProcess(concurrency=4), WorkerProcess(concurrency=4)]
    try:
        ids = []
        for n in range(count):
            job = submit("test-echo", {"n": n}).job
            ids.append(job.id)
            if n % 4 == 0:  # a duplicate message, racing the first for the claim
                app.send_task("test-echo", kwargs={"n": n}, task_id=job.id, queue="default")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with read_session() as session:
                done = session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.id.in_(ids), Job.status == "completed")
                )
            if done == count:
                break
            time.sleep(0.5)
        with read_session() as session:
            attempts = dict(
                session.execute(select(Job.id, Job.attempts).where(Job.id.in_(ids))).all()
            )
            starts = dict(
                session.execute(
                    select(JobEvent.job_id, func.count())
                    .where(JobEvent.job_id.in_(ids), JobEvent.name == "job.started")
                    .group_by(JobEvent.job_id)
                ).all()
            )
            ran_on = set(session.scalars(select(Job.worker).where(Job.id.in_(ids)).distinct()))
        assert done == count
        assert set(attempts.values()) == {1}
        assert set(starts.values()) == {1} and len(starts) == count
        assert ran_on == {w.hostname for w in workers}
        skipped = sum(w.log().count("message skipped") for w in workers)
        assert skipped >= count // 4  # every duplicate was seen and skipped
        print(f"\n{count} jobs, {count // 4} duplicate messages: every job ran once")
    finally:
        for worker in workers:
            worker.stop()
