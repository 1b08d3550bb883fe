"""``ORCH_LOG_FORMAT=json``: one JSON object per line with the job's context."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from orchestrator import submit
from orchestrator.observability.logs import JsonFormatter, job_logger, make_formatter
from tests.conftest import WorkerProcess, wait_for_job


@pytest.fixture(scope="module")
def json_worker(database: str) -> Iterator[WorkerProcess]:
    process = WorkerProcess.for_module(
        concurrency=1, env={"ORCH_LOG_FORMAT": "json", "ORCH_SERVICE": "worker"}
    )
    yield process
    process.stop()


def test_worker_logs_one_json_object_per_line_with_job_context(
    json_worker: WorkerProcess,
) -> None:
    job = submit("test-flaky", {"fail_times": 1}).job
    wait_for_job(job.id)

    records = [json.loads(line) for line in json_worker.log().splitlines() if line.startswith("{")]
    about_job = [r for r in records if r.get("job_id") == job.id]

    # "created" is logged by the process that submitted it (this one), not the worker.
    assert {r["message"].split(" (")[0] for r in about_job} >= {
        "processing",
        "retrying",
        "completed",
    }
    for record in about_job:
        assert record["service"] == "worker"
        assert record["job_type"] == "test-flaky"
        assert record["root_id"] == job.id
        assert {"ts", "level", "logger", "attempt"} <= set(record)
        assert not record["message"].startswith("[")  # no readable prefix in JSON
    assert {r["attempt"] for r in about_job if r["message"].startswith("completed")} == {2}


def test_text_format_keeps_the_readable_prefix() -> None:
    class FakeJob:
        id, type, root_id, attempts = "j1", "demo", "r1", 2

    logger = logging.getLogger("test.logs")
    record = logger.makeRecord("test.logs", logging.INFO, __file__, 1, "x", (), None)
    make_formatter("text")
    message, kwargs = job_logger(logger, FakeJob()).process("hello", {})
    assert message == "[demo j1 attempt=2 root=r1] hello"
    assert kwargs["extra"]["job_id"] == "j1"
    make_formatter("json")
    message, _ = job_logger(logger, FakeJob()).process("hello", {})
    assert message == "hello"
    record.job_id = "j1"
    assert json.loads(JsonFormatter().format(record))["job_id"] == "j1"
    make_formatter("text")


def test_lifecycle_lines_are_logged_once_their_transaction_commits(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    from orchestrator.jobs import lifecycle
    from orchestrator.jobs.dispatch import build_job
    from orchestrator.jobs.unit_of_work import unit_of_work

    caplog.set_level(logging.INFO, logger="orchestrator.jobs.lifecycle")

    def created(job_id: str) -> int:
        return sum(
            1
            for r in caplog.records
            if "created (priority" in r.getMessage() and getattr(r, "job_id", None) == job_id
        )

    # A transaction that never commits (a full disk, a lost connection) says nothing.
    lost = build_job("test-echo", {"n": 1})
    with pytest.raises(RuntimeError), unit_of_work() as uow:
        lifecycle.create(uow, lost)
        raise RuntimeError("the commit never comes")
    assert created(lost.id) == 0

    kept = build_job("test-echo", {"n": 2})
    with unit_of_work() as uow:
        lifecycle.create(uow, kept)
        assert created(kept.id) == 0  # not before the commit
    assert created(kept.id) == 1
