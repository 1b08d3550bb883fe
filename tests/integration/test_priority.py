"""A critical job overtakes a backlog of low jobs on a busy single-process worker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from orchestrator import submit
from tests.conftest import WorkerProcess, wait_for_job


@pytest.fixture(scope="module")
def single_worker(database: str) -> Iterator[WorkerProcess]:
    """One worker process: jobs run strictly one at a time."""
    process = WorkerProcess(concurrency=1)
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
