"""Celery's result API reads the job table: ``AsyncResult`` and ``celery result``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from celery import states

from orchestrator import app, submit
from tests.conftest import WorkerProcess, wait_for_job


def test_a_completed_job_is_success_with_its_result(worker: WorkerProcess) -> None:
    job = submit("test-echo", {"hello": "world"}).job
    wait_for_job(job.id)

    result = app.AsyncResult(job.id)

    assert result.state == states.SUCCESS
    assert result.get(timeout=5) == {"echo": {"hello": "world"}, "attempt": 1}


def test_a_failed_job_raises_its_error_type_and_message(worker: WorkerProcess) -> None:
    job = submit("test-permanent", {"why": "bad input"}).job
    wait_for_job(job.id)

    result = app.AsyncResult(job.id)

    assert result.state == states.FAILURE
    assert "Traceback" in result.traceback
    with pytest.raises(Exception, match="bad input") as raised:
        result.get(timeout=5)
    assert type(raised.value).__name__ == "PermanentError"


def test_waiting_and_unknown_jobs_are_pending() -> None:
    waiting = submit("test-echo", {}, countdown=3600).job  # no worker takes it in time

    assert app.AsyncResult(waiting.id).state == states.PENDING
    assert app.AsyncResult("no-such-job").state == states.PENDING


def test_the_celery_result_command_prints_the_result(worker: WorkerProcess) -> None:
    job = submit("test-echo", {"n": 7}).job
    wait_for_job(job.id)

    printed = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "orchestrator", "result", job.id],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert "'echo': {'n': 7}" in printed.stdout
