"""Hostile messages, runaway jobs and Celery's own revoke, against a real worker.

- A message published straight to the broker with a payload the worker cannot hand to
  its pool (nested hundreds of levels deep, positional arguments) fails its job or is
  dropped with a log line; the worker lives on and runs the next job.
- The API refuses such payloads, and NaN/Infinity/1e400, with a 400.
- Every job type has a time limit: soft (the handler is interrupted), then hard (its
  process is killed); either way the job is retried or failed, saying so.
- ``celery control revoke`` cancels the job; a job cancelled while running and retried
  by hand runs again.
- A job type named with a dot works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import String, cast, func, or_, select

from orchestrator import submit
from orchestrator.delivery.broker import queue_depths
from orchestrator.delivery.celery_app import app
from orchestrator.jobs.dispatch import build_job, insert_job, retry_job
from orchestrator.jobs.models import Job, JobEvent
from orchestrator.jobs.unit_of_work import unit_of_work
from orchestrator.storage.db import read_session
from tests.conftest import (
    API_KEY,
    REPO_ROOT,
    ApiServer,
    WorkerProcess,
    event_names,
    wait_for_job,
)

# What Python's json writes for numbers JSON does not have.
NOT_JSON = ("NaN", "Infinity")
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _deep_json(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _publish_raw(task: str, task_id: str, body: str, queue: str = "default") -> None:
    """Publish a Celery message whose body is ``body``, byte for byte."""
    headers = app.amqp.as_task_v2(task_id, task, args=(), kwargs={}).headers
    target = app.amqp.queues[queue]
    with app.producer_or_acquire() as producer:
        producer.publish(
            body,
            exchange=target.exchange,
            routing_key=target.routing_key,
            declare=[target],
            headers=headers,
            content_type="application/json",
            content_encoding="utf-8",
        )


def _recorded_job(payload: dict[str, Any] | None = None) -> str:
    """A job row, unpublished: the test publishes its message itself."""
    job = build_job("test-echo", payload or {"fine": True})
    with unit_of_work() as uow:
        insert_job(uow, job)
    return job.id


def _logged(worker: WorkerProcess, text: str, timeout: float = 10.0) -> bool:
    # The job is failed first, then Celery logs the dropped message.
    deadline = time.monotonic() + timeout
    while text not in worker.log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _drained(queue: str = "default", timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue_depths()[queue] == 0:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("levels", [100, 950])
def test_a_deeply_nested_message_fails_its_job_and_the_worker_lives_on(
    worker: WorkerProcess, levels: int
) -> None:
    job_id = _recorded_job()
    _publish_raw("test-echo", job_id, f"[[], {_deep_json(levels)}, {json.dumps(EMBED)}]")

    failed = wait_for_job(job_id)

    assert failed.status == "failed"
    assert failed.error["type"] == "UnrunnableMessage"
    assert "nested more than 64 levels deep" in failed.error["message"]
    assert worker.process.poll() is None, worker.log()[-3000:]
    assert _logged(worker, f"Received invalid task message: job {job_id} (test-echo)")
    assert wait_for_job(submit("test-echo", {"after": levels}).job.id).status == "completed"
    assert _drained()  # dropped, not given back to poison the next worker


def test_a_message_too_deep_to_decode_is_dropped_and_the_worker_lives_on(
    worker: WorkerProcess,
) -> None:
    _publish_raw("test-echo", "not-a-job-0001", f"[[], {_deep_json(5000)}, {{}}]")

    assert wait_for_job(submit("test-echo", {"after": 5000}).job.id).status == "completed"
    assert worker.process.poll() is None
    assert _drained()


def test_positional_arguments_fail_the_job_instead_of_the_handler(
    worker: WorkerProcess,
) -> None:
    job_id = _recorded_job()
    _publish_raw("test-echo", job_id, f"[[1, 2], {{}}, {json.dumps(EMBED)}]")

    failed = wait_for_job(job_id)

    assert failed.status == "failed"
    assert "positional arguments" in failed.error["message"]
    assert worker.process.poll() is None


@pytest.fixture(scope="module")
def api(worker: WorkerProcess) -> Any:
    server = ApiServer()
    with httpx.Client(base_url=server.url, headers={"X-Api-Key": API_KEY}, timeout=10) as client:
        yield client
    server.stop()


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "test-echo", "payload": {"x": NaN}}',
        '{"type": "test-echo", "payload": {"x": Infinity}}',
        '{"type": "test-echo", "payload": {"x": -Infinity}}',
        '{"type": "test-echo", "payload": {"x": 1e400}}',
        '{"type": "test-echo", "payload": ' + _deep_json(100) + "}",
        '{"type": "test-echo", "payload": ' + _deep_json(950) + "}",
    ],
    ids=["nan", "infinity", "minus-infinity", "1e400", "100-deep", "950-deep"],
)
def test_the_api_refuses_what_json_does_not_have_and_payloads_nested_too_deep(
    api: httpx.Client, raw: str
) -> None:
    headers = {"Content-Type": "application/json"}

    submitted = api.post("/api/v1/jobs", content=raw, headers=headers)
    webhook = api.post("/api/webhooks/radarr", content=raw.replace('"type"', '"eventType"'))

    assert submitted.status_code == 400, submitted.text
    assert webhook.status_code == 400, webhook.text
    assert submitted.headers["Content-Type"] == "application/problem+json"
    with read_session() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(or_(*(cast(Job.payload, String).contains(word) for word in NOT_JSON)))
        )
    assert stored == 0
    listed = api.get("/api/v1/jobs", params={"limit": 500})
    json.loads(listed.text, parse_constant=pytest.fail)  # valid JSON: no NaN anywhere


def test_a_job_interrupted_at_its_soft_time_limit_is_retried_saying_why(
    worker: WorkerProcess,
) -> None:
    started = time.monotonic()
    job = submit("test-time-limited", {"seconds": 30}).job

    done = wait_for_job(job.id, timeout=30)

    assert (done.status, done.attempts) == ("completed", 2)
    assert time.monotonic() - started < 15  # interrupted, not slept through
    assert "ran longer than its time limit of 1 s" in _retry_error(job.id)
    assert worker.process.poll() is None


def test_a_job_that_ignores_its_soft_limit_is_killed_at_the_hard_one(
    worker: WorkerProcess,
) -> None:
    started = time.monotonic()
    job = submit("test-time-limited", {"seconds": 30, "stubborn": True}).job

    done = wait_for_job(job.id, timeout=30)

    assert (done.status, done.attempts) == ("completed", 2)
    assert time.monotonic() - started < 15
    assert "killed at its hard time limit of 2 s" in _retry_error(job.id)
    assert worker.process.poll() is None


def _retry_error(job_id: str) -> str:
    with read_session() as session:
        rows = session.query(JobEvent).filter_by(job_id=job_id, name="job.retrying").all()
    assert rows, event_names(job_id)
    return str(rows[0].data.get("error"))


def _celery_control(*command: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "orchestrator", "control", *command],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip


def test_celery_revoke_cancels_a_waiting_job(worker: WorkerProcess) -> None:
    # Due in 10 s: the celery CLI takes seconds to start on a loaded machine, and a revoke
    # of a job held for later takes effect when it comes due.
    job = submit("test-echo", {"revoke": "me"}, countdown=10).job

    _celery_control("revoke", job.id)

    done = wait_for_job(job.id, timeout=40)
    assert done.status == "cancelled"
    assert "job.started" not in event_names(job.id)


@pytest.mark.parametrize(
    "waiting",
    [
        {"countdown": 300},  # held by the worker until it is due
        {"payload": {"fail_times": 1, "delay": 300}},  # a retry held as long
    ],
    ids=["countdown", "retry-delay"],
)
def test_celery_revoke_cancels_a_job_waiting_minutes_at_once(
    worker: WorkerProcess, waiting: dict[str, Any]
) -> None:
    job = submit("test-flaky", waiting.get("payload", {}), countdown=waiting.get("countdown")).job
    wait_for_job(job.id, statuses=("pending", "retrying"))
    if "payload" in waiting:
        wait_for_job(job.id, statuses=("retrying",))

    _celery_control("revoke", job.id)

    # Within seconds, not when its message comes due five minutes later.
    done = wait_for_job(job.id, timeout=20)
    assert done.status == "cancelled"
    assert event_names(job.id)[-1] == "job.cancelled"


def test_celery_revoke_with_terminate_cancels_a_running_job_and_a_retry_runs_it(
    worker: WorkerProcess,
) -> None:
    job = submit("test-hang-once", {"seconds": 60}).job
    wait_for_job(job.id, statuses=("processing",))

    _celery_control("terminate", "SIGTERM", job.id)  # what Flower's terminate sends

    assert wait_for_job(job.id, timeout=20).status == "cancelled"
    retry_job(job.id)  # the worker still remembers the revoke: the job must run anyway
    done = wait_for_job(job.id, timeout=30)
    assert (done.status, done.result) == ("completed", {"attempt": 2})


def test_a_job_type_named_with_a_dot_runs(worker: WorkerProcess) -> None:
    done = wait_for_job(submit("test.dotted-name").job.id)

    assert (done.status, done.result) == ("completed", "dotted")
