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
from orchestrator.db import read_session
from orchestrator.models import Job, JobEvent, MetricCounter
from orchestrator.runner import end_lost_attempt
from tests.conftest import WorkerProcess, wait_for_job, wait_until

ENDINGS = ("job.completed", "job.retrying", "job.failed")


@pytest.fixture
def worker(database: str) -> Iterator[WorkerProcess]:
    """Two processes: the attempt handed back goes on in one, its successor runs in the
    other."""
    process = WorkerProcess(concurrency=2)
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
