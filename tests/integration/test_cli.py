"""The job commands of the CLI: submit --wait, status, jobs watch, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from orchestrator import submit
from orchestrator.cli.main import main
from tests.conftest import REPO_ROOT, WorkerProcess, wait_for_job


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_submit_wait_shows_progress_and_the_result(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    result = runner.invoke(main, ["submit", "test-progress", "--payload", "{}", "--wait"])

    assert result.exit_code == 0, result.output
    assert "submitted test-progress job" in result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert (body["status"], body["result"]) == ("completed", "done")


def test_submit_wait_exits_non_zero_when_the_job_fails(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    result = runner.invoke(main, ["submit", "test-permanent", "--wait"])

    assert result.exit_code == 1
    assert '"status": "failed"' in result.output


def test_submit_rejects_bad_input_with_a_message(runner: CliRunner) -> None:
    bad_json = runner.invoke(main, ["submit", "test-echo", "--payload", "{oops"])
    unknown = runner.invoke(main, ["submit", "no-such-type"])

    assert bad_json.exit_code == 1 and "--payload is not valid JSON" in bad_json.output
    assert unknown.exit_code == 1 and "unknown job type 'no-such-type'" in unknown.output


def test_status_lists_workers_queues_and_jobs(worker: WorkerProcess, runner: CliRunner) -> None:
    wait_for_job(submit("test-echo").job.id)

    result = runner.invoke(main, ["status"])

    assert result.exit_code == 0, result.output
    assert f"  {worker.hostname}  running" in result.output
    for queue in ("critical", "high", "default", "low"):
        assert f"{queue} " in result.output
    completed = int(result.output.split("completed ")[1].split()[0])
    assert completed >= 1


def test_jobs_watch_refreshes_a_table(worker: WorkerProcess, runner: CliRunner) -> None:
    job_id = wait_for_job(submit("test-echo", {"watch": 1}).job.id).id

    result = runner.invoke(
        main, ["jobs", "watch", "--count", "2", "--interval", "0.1", "--type", "test-echo"]
    )

    assert result.exit_code == 0, result.output
    assert result.output.count("STATUS") == 2
    assert job_id in result.output


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"ORCH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, ["jobs", "list"],
         "database unreachable at postgresql+psycopg://nobody@127.0.0.1:1/none"),
        ({"ORCH_BROKER_URL": "redis://127.0.0.1:9/0"}, ["status"],
         "broker unreachable at redis://127.0.0.1:9/0"),
    ],
)  # fmt: skip
def test_unreachable_services_give_one_clear_line(
    database: str, env: dict[str, str], args: list[str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
