"""A critical job overtakes a backlog of low jobs on a busy single-process worker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from orchestrator import submit
from orchestrator.jobs.models import Job, utcnow
from orchestrator.jobs.runner import end_lost_attempt
from orchestrator.storage.db import read_session, write_session
from tests.conftest import WorkerProcess, wait_for_job


@pytest.fixture(scope="module")
def single_worker(database: str) -> Iterator[WorkerProcess]:
    """One worker process: jobs run strictly one at a time."""
    process = WorkerProcess.for_module(concurrency=1)
    yield process
    process.stop()


ON_RABBITMQ = os.environ.get("ORCH_BROKER_URL", "").startswith("amqp")


@pytest.mark.skipif(
    ON_RABBITMQ,
    reason="strict critical-before-low across queues is a Redis guarantee"
    " (queue_order_strategy=priority); on RabbitMQ run a worker of its own on -Q critical",
)
def test_critical_job_runs_before_queued_low_jobs(single_worker: WorkerProcess) -> None:
    blocker = submit("test-sleep", {"seconds": 1.0, "label": "blocker"}).job
    wait_for_job(blocker.id, statuses=("processing",))

    lows = [submit("test-sleep", {"label": f"low-{n}"}).job for n in range(30)]
    normal = submit("test-sleep", {"label": "normal"}, priority="normal").job
    critical = submit("test-sleep", {"label": "critical"}, priority="critical").job

    finished = {job.id: wait_for_job(job.id) for job in [blocker, *lows, normal, critical]}
    order = sorted(finished.values(), key=lambda job: job.result["started"])
    labels = [job.result["label"] for job in order]

    assert labels[:3] == ["blocker", "critical", "normal"]
    assert [job.queue for job in (lows[0], normal, critical)] == ["low", "default", "critical"]
    assert all(job.status == "completed" for job in finished.values())


def test_message_priority_orders_jobs_within_a_queue(single_worker: WorkerProcess) -> None:
    blocker = submit("test-sleep", {"seconds": 1.0, "label": "blocker"}).job
    wait_for_job(blocker.id, statuses=("processing",))

    backlog = [submit("test-sleep", {"label": f"p10-{n}"}, priority=10).job for n in range(20)]
    urgent = submit("test-sleep", {"label": "p7"}, priority=7).job

    finished = [wait_for_job(job.id) for job in [blocker, *backlog, urgent]]
    labels = [j.result["label"] for j in sorted(finished, key=lambda j: j.result["started"])]

    assert {job.queue for job in [*backlog, urgent]} == {"low"}
    assert labels[:2] == ["blocker", "p7"]


def test_a_handed_back_job_runs_before_the_jobs_queued_behind_it(
    single_worker: WorkerProcess,
) -> None:
    """A job whose attempt was lost had its turn: it goes back ahead of its priority's
    backlog (Redis: at the head of its list; RabbitMQ: the most urgent of its queue)."""
    blocker = submit("test-sleep", {"seconds": 1.0, "label": "blocker"}).job
    wait_for_job(blocker.id, statuses=("processing",))
    backlog = [submit("test-sleep", {"label": f"queued-{n}"}).job for n in range(10)]
    # Queued last, then found running on a worker that vanished, as the reaper finds it
    # (the copy at the back of the queue is skipped when its turn comes).
    lost = submit("test-sleep", {"label": "handed back"}).job
    with write_session() as session:
        session.execute(
            update(Job)
            .where(Job.id == lost.id)
            .values(status="processing", attempts=1, worker="gone@nowhere", started_at=utcnow())
        )
    with read_session() as session:
        running = session.get(Job, lost.id)
        assert running is not None
    assert end_lost_attempt(running, "its worker is gone") is not None

    finished = [wait_for_job(job.id) for job in [blocker, *backlog, lost]]
    labels = [j.result["label"] for j in sorted(finished, key=lambda j: j.result["started"])]

    assert labels[:2] == ["blocker", "handed back"]
    assert wait_for_job(lost.id).attempts == 2
