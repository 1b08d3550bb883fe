"""An attempt handed back while its process still runs (a partition, a reaper's judgement)
changes nothing when it ends: its progress, checkpoint, completion, retry or failure are
discarded, said in the worker's log and counted; the row keeps the newer attempt's record
(docs/design.md §3.3)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from orchestrator import submit
from orchestrator.delivery.broker import restore_unacknowledged
from orchestrator.jobs.models import Job, JobEvent, MetricCounter
from orchestrator.jobs.runner import end_lost_attempt
from orchestrator.runtime import current
from orchestrator.storage.db import read_session
from tests.conftest import WorkerProcess, event_names, wait_for_job, wait_until

ENDINGS = ("job.completed", "job.retrying", "job.failed")


@pytest.fixture
def worker(database: str) -> Iterator[WorkerProcess]:
    """Two processes: the attempt handed back goes on in one, its successor runs in the
    other."""
    process = WorkerProcess.for_module(concurrency=2)
    yield process
    process.stop()


def row(job_id: str) -> Job:
    with read_session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def stale_writes(job_type: str) -> dict[str, float]:
    with read_session() as session:
        rows = session.scalars(
            select(MetricCounter).where(MetricCounter.metric == "stale_writes")
        ).all()
    return {r.labels: r.value for r in rows if f"type={job_type}" in r.labels}


def hand_back_the_first_attempt(job_id: str) -> None:
    """What the reaper does with an attempt whose worker it judges gone: it loses the
    attempt and publishes the job again, while here the attempt still runs."""
    first = wait_until(lambda: (j := row(job_id)).attempts == 1 and j.status == "processing" and j)
    time.sleep(0.3)  # past its first progress and checkpoint
    assert end_lost_attempt(first, "its worker was judged gone") is not None


@pytest.mark.parametrize(
    ("payload", "write", "outcome"),
    [
        ({"seconds": [1.5, 4]}, "result", "completed"),
        ({"seconds": [1.5, 4], "fail": [1]}, "retry", "completed"),
    ],
    ids=["completes", "fails"],
)
def test_an_attempt_ending_after_it_was_handed_back_changes_nothing(
    worker: WorkerProcess, payload: dict, write: str, outcome: str
) -> None:
    before = stale_writes("test-attempts")
    job_id = submit("test-attempts", payload).job.id

    hand_back_the_first_attempt(job_id)
    # Attempt 2 runs (4 s) while attempt 1 ends (1.5 s): that end must change nothing.
    wait_until(lambda: f"{write} of attempt 1 discarded" in worker.log(), timeout=20)
    during = row(job_id)
    assert (during.status, during.attempts, during.result) == ("processing", 2, None)
    assert during.checkpoint == {"attempt": 2}
    assert during.progress_message == "attempt 2 started"

    done = wait_for_job(job_id, timeout=20)
    assert (done.status, done.attempts, done.result) == (outcome, 2, {"attempt": 2})
    with read_session() as session:
        events = session.execute(
            select(JobEvent.name, JobEvent.attempt).where(JobEvent.job_id == job_id)
        ).all()
    ended = [(name, attempt) for name, attempt in events if name in ENDINGS]
    assert ended == [("job.retrying", 1), ("job.completed", 2)]  # the hand-back, then attempt 2
    progress = [attempt for name, attempt in events if name == "job.progress"]
    assert progress.count(1) == 1  # attempt 1's "started"; its "ending" was discarded

    def counted() -> dict[str, float]:
        after = stale_writes("test-attempts")
        return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

    expected = {f"type=test-attempts,write={write}": 1, "type=test-attempts,write=progress": 1}
    assert wait_until(lambda: counted() == expected and counted(), timeout=5) == expected


def test_a_copy_of_the_message_of_a_running_attempt_does_not_end_it(
    worker: WorkerProcess,
) -> None:
    """The broker gives back the message of a running attempt (the reaper restored it,
    or RabbitMQ dropped a worker's connection): the copy, marked redelivered, reaches the
    worker's free slot and is skipped; it used to declare the live attempt dead and run
    a second one beside it."""
    if not current().settings.effective_broker_url.startswith("redis"):
        pytest.skip("puts a taken message back with Redis's unacknowledged index")
    job_id = submit("test-attempts", {"seconds": [2]}).job.id
    wait_until(lambda: row(job_id).status == "processing")

    assert job_id in restore_unacknowledged(held=set(), older_than=0)
    skipped = "message skipped: job is already processing, attempt 1 on"
    wait_until(lambda: skipped in worker.log(), timeout=10)

    done = wait_for_job(job_id, timeout=20)
    assert (done.status, done.attempts, done.result) == ("completed", 1, {"attempt": 1})
    assert "job.retrying" not in event_names(job_id)
