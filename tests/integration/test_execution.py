"""A real worker runs jobs: success, retries, failures, chains, progress (docs/design.md §2-3)."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator import submit
from orchestrator.jobs.models import Job, JobEvent
from orchestrator.storage.db import read_session
from tests.conftest import REPO_ROOT, WorkerProcess, event_names, wait_for_job


def test_success_records_result_and_lifecycle(worker: WorkerProcess) -> None:
    job = submit("test-echo", {"hello": "world"}).job

    done = wait_for_job(job.id)

    assert done.status == "completed"
    assert done.result == {"echo": {"hello": "world"}, "attempt": 1}
    assert (done.attempts, done.retry_count) == (1, 0)
    assert done.dispatched_at is not None
    assert done.started_at is not None and done.completed_at is not None
    assert done.worker == worker.hostname
    assert event_names(job.id) == ["job.created", "job.started", "job.completed"]


def test_retry_then_success_counts_retries(worker: WorkerProcess) -> None:
    job = submit("test-flaky", {"fail_times": 2}).job

    done = wait_for_job(job.id)

    assert done.status == "completed"
    assert done.result == {"succeeded_on_attempt": 3}
    assert (done.attempts, done.retry_count) == (3, 2)
    assert done.error is None  # the attempts' errors are in their events, not on the job
    with read_session() as session:
        retried = session.scalars(
            select(JobEvent).filter_by(job_id=job.id, name="job.retrying")
        ).all()
    assert [e.data["error"] for e in retried] == [
        "attempt 1 failed on purpose",
        "attempt 2 failed on purpose",
    ]
    assert event_names(job.id) == [
        "job.created",
        "job.started",
        "job.retrying",
        "job.started",
        "job.retrying",
        "job.started",
        "job.completed",
    ]


def test_permanent_error_fails_at_once(worker: WorkerProcess) -> None:
    job = submit("test-permanent", {"why": "bad input"}).job

    done = wait_for_job(job.id)

    assert done.status == "failed"
    assert (done.attempts, done.retry_count) == (1, 0)
    assert done.error["type"] == "PermanentError"
    assert "bad input" in done.error["message"]
    assert "Traceback" in done.error["traceback"]
    # Every frame, with no server folder: the job's own file is named from the project.
    assert 'File "tests/jobs.py"' in done.error["traceback"]
    assert str(REPO_ROOT) not in done.error["traceback"]


def test_retries_exhausted_then_failed(worker: WorkerProcess) -> None:
    job = submit("test-always-fail").job

    done = wait_for_job(job.id)

    assert done.status == "failed"
    assert (done.attempts, done.retry_count, done.max_retries) == (3, 2, 2)
    assert done.error["type"] == "RuntimeError"
    assert done.error["message"] == "boom on attempt 3"
    assert event_names(job.id).count("job.retrying") == 2


def test_max_retries_override_per_job(worker: WorkerProcess) -> None:
    job = submit("test-flaky", {"fail_times": 5}, max_retries=1).job

    done = wait_for_job(job.id)

    assert done.status == "failed"
    assert (done.attempts, done.retry_count) == (2, 1)


def test_chain_links_parent_and_root(worker: WorkerProcess) -> None:
    root = submit("test-chain", {"step": 1, "steps": 3}).job
    wait_for_job(root.id)

    def chain_jobs() -> list[Job]:
        with read_session() as session:
            return list(
                session.scalars(select(Job).where(Job.root_id == root.id).order_by(Job.created_at))
            )

    jobs = chain_jobs()
    for _ in range(100):
        if len(jobs) == 3 and all(j.status == "completed" for j in jobs):
            break
        wait_for_job(jobs[-1].id)
        jobs = chain_jobs()
    assert [j.result for j in jobs] == [{"step": 1}, {"step": 2}, {"step": 3}]
    assert [j.parent_id for j in jobs] == [None, jobs[0].id, jobs[1].id]
    assert {j.root_id for j in jobs} == {root.id}
    assert all(j.priority == 3 and j.queue == "high" for j in jobs)


def test_progress_is_stored_and_evented(worker: WorkerProcess) -> None:
    job = submit("test-progress").job

    done = wait_for_job(job.id)

    assert done.status == "completed"
    assert done.progress_percent == 100.0
    assert event_names(job.id) == [
        "job.created",
        "job.started",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.completed",
    ]


def test_invalid_payload_fails_permanently(worker: WorkerProcess) -> None:
    from orchestrator.delivery.celery_app import app

    # Bypass submit's validation, as a hand-made message would.
    job_id = app.send_task("test-typed", kwargs={"times": "many"}, queue="default").id

    done = wait_for_job(job_id)

    assert done.status == "failed"
    assert done.error["type"] == "InvalidPayload"
    assert "name" in done.error["message"]


def test_checkpoint_survives_a_retry(worker: WorkerProcess) -> None:
    job = submit("test-checkpoint").job

    done = wait_for_job(job.id)

    assert done.status == "completed"
    assert done.result == {"found": {"done": ["first step"]}}
    assert done.checkpoint == {"done": ["first step"]}


def test_a_result_no_database_can_store_fails_the_job_saying_so(worker: WorkerProcess) -> None:
    """Half of a surrogate pair in a result used to fail the completing transaction on
    PostgreSQL: the job stayed ``processing``, later blamed on a worker that did not die."""
    job = submit("test-unstorable-result").job

    done = wait_for_job(job.id, timeout=20)

    assert (done.status, done.attempts) == ("failed", 1)
    assert done.error is not None and "surrogate" in done.error["message"]
