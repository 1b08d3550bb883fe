"""Delivery guarantees: celery call, duplicates, the re-dispatch sweep, dedupe, cancel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from orchestrator import submit
from orchestrator.delivery.celery_app import app
from orchestrator.jobs.dispatch import cancel_job
from orchestrator.jobs.models import Job
from orchestrator.storage.db import read_session
from tests.conftest import REPO_ROOT, WorkerProcess, event_names, wait_for_job


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _wait_for_log(worker: WorkerProcess, *parts: str, timeout: float = 10.0) -> None:
    """Wait for a worker log line containing every one of ``parts``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(all(p in line for p in parts) for line in worker.log().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no line with {parts} in the worker log:\n{worker.log()[-3000:]}")


def test_celery_call_creates_a_tracked_job(worker: WorkerProcess) -> None:
    called = _run(
        [sys.executable, "-m", "celery", "-A", "orchestrator", "call", "test-echo",
         "--kwargs", json.dumps({"via": "celery call"})]
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    job_id = called.stdout.strip().splitlines()[-1]

    done = wait_for_job(job_id)

    assert done.status == "completed"
    assert done.type == "test-echo"
    assert done.payload == {"via": "celery call"}
    assert done.root_id == job_id
    assert event_names(job_id) == ["job.created", "job.started", "job.completed"]


def test_duplicate_delivery_of_a_finished_job_is_skipped(worker: WorkerProcess) -> None:
    job = submit("test-echo", {"n": 1}).job
    wait_for_job(job.id)

    app.send_task("test-echo", kwargs={"n": 1}, task_id=job.id, queue="default")

    _wait_for_log(worker, f"[test-echo {job.id} ", "message skipped: job is already completed")
    done = wait_for_job(job.id)
    assert done.attempts == 1
    assert event_names(job.id) == ["job.created", "job.started", "job.completed"]


def test_simultaneous_duplicates_run_once(worker: WorkerProcess) -> None:
    job = submit("test-sleep", {"seconds": 0.5}, priority="normal").job
    app.send_task("test-sleep", kwargs={"seconds": 0.5}, task_id=job.id, queue="default")

    # The copy that lost finds the job processing, or loses the conditional update.
    _wait_for_log(worker, f"[test-sleep {job.id} ", "message skipped: job is already")
    done = wait_for_job(job.id)
    assert done.status == "completed"
    assert done.attempts == 1
    assert event_names(job.id).count("job.started") == 1


def test_sweep_publishes_a_job_committed_while_the_broker_was_down(
    worker: WorkerProcess,
) -> None:
    submitted = _run(
        [sys.executable, "-m", "orchestrator", "submit", "test-echo",
         "--payload", '{"while": "broker down"}'],
        ORCH_BROKER_URL="redis://127.0.0.1:9/0",
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert "not published" in submitted.stderr
    job_id = submitted.stdout.split()[3]
    with read_session() as session:
        row = session.get(Job, job_id)
    assert row is not None and row.status == "pending" and row.dispatched_at is None

    # What beat does every ORCH_SWEEP_INTERVAL seconds.
    app.send_task("orchestrator.redispatch", queue="critical")

    done = wait_for_job(job_id)
    assert done.status == "completed"
    assert done.dispatched_at is not None
    assert done.result == {"echo": {"while": "broker down"}, "attempt": 1}


def test_dedupe_key_returns_the_pending_job(worker: WorkerProcess) -> None:
    first = submit("test-echo", {"n": 1}, dedupe_key="same-scan", countdown=60)
    second = submit("test-echo", {"n": 2}, dedupe_key="same-scan")

    assert first.created and not second.created
    assert second.job.id == first.job.id

    cancelled = cancel_job(first.job.id)
    assert cancelled.status == "cancelled"
    third = submit("test-echo", {"n": 3}, dedupe_key="same-scan")
    assert third.created and third.job.id != first.job.id
    assert wait_for_job(third.job.id).status == "completed"


def test_cancel_stops_a_running_job(worker: WorkerProcess) -> None:
    job = submit("test-sleep", {"seconds": 30}, priority="normal").job
    wait_for_job(job.id, statuses=("processing",))

    cancel_job(job.id)

    _wait_for_log(worker, "Terminating")
    assert wait_for_job(job.id, statuses=("cancelled",), timeout=5).status == "cancelled"
    assert event_names(job.id)[-1] == "job.cancelled"
    # The worker goes on serving other jobs.
    assert wait_for_job(submit("test-echo").job.id).status == "completed"


def test_a_dedupe_key_longer_than_its_column_still_dedupes(worker: WorkerProcess) -> None:
    """A follow-up keyed by a long folder (``scan-season:<1,000 characters>``) used to fail
    the completing transaction on PostgreSQL (the column holds 255), leaving its parent
    ``processing``, later blamed on a dead worker."""
    folder = "/tv/" + "a" * 600
    first = submit("test-echo", {"n": 1}, dedupe_key=f"scan-season:{folder}/1", countdown=60)
    again = submit("test-echo", {"n": 2}, dedupe_key=f"scan-season:{folder}/1")
    other = submit("test-echo", {"n": 3}, dedupe_key=f"scan-season:{folder}/2", countdown=60)

    assert first.created and not again.created and again.job.id == first.job.id
    assert other.created and other.job.id != first.job.id
    assert len(first.job.dedupe_key or "") <= 255
