"""The job commands of the CLI: submit --wait, status, jobs watch, and clear errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

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
    result = runner.invoke(main, ["submit", "test-progress", "--payload", "{}", "--wait", "--json"])

    assert result.exit_code == 0, result.output
    assert "submitted test-progress job" in result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert (body["status"], body["result"]) == ("completed", "done")


def test_submit_wait_exits_non_zero_when_the_job_fails(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    result = runner.invoke(main, ["submit", "test-permanent", "--wait", "--json"])

    assert result.exit_code == 1
    assert '"status": "failed"' in result.output


def test_submit_wait_ends_with_one_line_saying_how_the_job_ended(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    done = runner.invoke(
        main, ["submit", "test-echo", "--payload", '{"path": "/m/Heat"}', "--wait"]
    )
    failed = runner.invoke(main, ["submit", "test-permanent", "--wait"])

    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == (
        'completed: test-echo /m/Heat -> {"echo": {"path": "/m/Heat"}, "attempt": 1}'
    )
    assert failed.exit_code == 1
    last = failed.output.splitlines()[-1]
    assert last.startswith("failed: test-permanent: PermanentError: "), failed.output
    assert "{" not in failed.output and "Traceback" not in failed.output


def test_a_payload_that_does_not_fit_is_one_line_naming_the_field(runner: CliRunner) -> None:
    result = runner.invoke(main, ["submit", "test-typed", "--payload", "{}"])

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "invalid payload for test-typed: " in result.stderr
    assert "Field required" in result.stderr and "pydantic" not in result.stderr


def test_jobs_list_says_how_many_more_there_are_and_how_to_page(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    for _ in range(4):
        wait_for_job(submit("test-echo", {}).job.id)

    first = runner.invoke(main, ["jobs", "list", "--limit", "2"])
    second = runner.invoke(main, ["jobs", "list", "--limit", "2", "--offset", "2"])

    more = first.output.splitlines()[-1]
    assert re.fullmatch(
        r"(\d+) more: --offset 2 for the next 2, or --limit N for more at once", more
    )
    assert len(second.output.splitlines()) >= 3  # the header and the next two rows
    assert first.output.splitlines()[1] not in second.output


def test_scan_wait_ends_with_how_the_whole_chain_ended(
    worker: WorkerProcess, runner: CliRunner, tmp_path: Path
) -> None:
    movie = tmp_path / "movies" / "Heat (1995)"
    movie.mkdir(parents=True)
    (movie / "Heat (1995).mkv").write_bytes(b"not really a film")
    added = runner.invoke(
        main, ["library", "add", f"cli-{uuid.uuid4().hex[:8]}", str(movie.parent)]
    )
    assert added.exit_code == 0, added.output

    result = runner.invoke(main, ["scan", str(movie), "--wait"])

    assert result.exit_code == 0, result.output
    last = result.output.splitlines()[-1]
    assert last.startswith(f"completed: manual-scan {movie}"), result.output
    assert re.search(r" \(and the [1-9]\d* jobs it led to\)$", last), last


def test_jobs_watch_piped_prints_the_table_once_then_only_what_changed(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    for _ in range(2):
        wait_for_job(submit("test-echo", {}).job.id)

    quiet = runner.invoke(main, ["jobs", "watch", "--count", "3", "--interval", "0.1"])

    assert quiet.exit_code == 0, quiet.output
    assert quiet.output.count("ID  ") == 1  # one table, no reprint of unchanged rows


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


def test_jobs_watch_refreshes_a_table(
    worker: WorkerProcess, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = wait_for_job(submit("test-echo", {"watch": 1}).job.id).id
    monkeypatch.setattr("orchestrator.cli.jobs._on_a_terminal", lambda: True)

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


def test_jobs_list_hides_the_platforms_maintenance_unless_asked(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    run = wait_for_job(submit("retention").job.id)
    echo = wait_for_job(submit("test-echo", {}).job.id)

    plain = runner.invoke(main, ["jobs", "list", "--limit", "500"])
    asked = runner.invoke(main, ["jobs", "list", "--limit", "500", "--maintenance"])
    by_type = runner.invoke(main, ["jobs", "list", "--type", "retention", "--limit", "500"])

    assert echo.id in plain.output and run.id not in plain.output
    assert run.id in asked.output and run.id in by_type.output
