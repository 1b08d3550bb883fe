"""What the job commands tell a person: summaries, children, the state while waiting, and
no INFO log lines unless asked (``-v``)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator import submit
from orchestrator.cli.main import main
from tests.conftest import WorkerProcess, wait_for_job

STATES = ["pending", "processing", "completed", "failed"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def waited_states(output: str) -> list[str]:
    """The labels ``submit --wait`` printed (without a terminal, each once, as it changes)."""
    head = output[output.index("submitted") : output.index("{")]
    return [line.strip() for line in head.splitlines()[1:] if line.strip()]


@pytest.mark.parametrize(("job_type", "final"), [("test-progress", "completed"),
                                                   ("test-permanent", "failed")])  # fmt: skip
def test_submit_wait_labels_the_state_the_job_is_in(
    worker: WorkerProcess, runner: CliRunner, job_type: str, final: str
) -> None:
    result = runner.invoke(main, ["submit", job_type, "--wait", "--json"])

    states = waited_states(result.output)
    # In order, each once, ending with the state the JSON below says: never a lagging one.
    assert states[-1] == final, result.output
    assert states == sorted(set(states), key=STATES.index), result.output
    assert json.loads(result.output[result.output.index("{") :])["status"] == final


def test_jobs_list_and_watch_show_summaries_and_search_them(
    worker: WorkerProcess, runner: CliRunner
) -> None:
    tag = uuid.uuid4().hex[:8]
    job_id = wait_for_job(submit("test-echo", {"path": f"/data/movies/Cli {tag}"}).job.id).id
    other = wait_for_job(submit("test-echo", {"path": f"/data/movies/Other {tag}"}).job.id).id

    listed = runner.invoke(main, ["jobs", "list", "--search", f"CLI {tag}"])
    watched = runner.invoke(main, ["jobs", "watch", "--count", "1", "-q", tag])

    assert listed.exit_code == 0, listed.output
    assert "SUMMARY" in listed.output
    assert f"/data/movies/Cli {tag}" in listed.output
    assert job_id in listed.output and other not in listed.output
    assert watched.exit_code == 0, watched.output
    assert job_id in watched.output and other in watched.output


def test_jobs_show_includes_the_children(worker: WorkerProcess, runner: CliRunner) -> None:
    root_id = wait_for_job(submit("test-chain", {"steps": 2, "path": "/data/chain"}).job.id).id

    def show() -> dict[str, Any]:
        shown = runner.invoke(main, ["jobs", "show", root_id])
        assert shown.exit_code == 0, shown.output
        return dict(json.loads(shown.output[shown.output.index("{") :]))

    # The child is written as its parent completes.
    wait_for_job(show()["children"][0]["id"])
    body = show()

    assert body["summary"] == "/data/chain"
    (child,) = body["children"]
    assert (child["type"], child["status"], child["summary"]) == ("test-chain", "completed", None)
    assert set(child) >= {"id", "type", "summary", "status", "error"}
    assert "payload" not in child and "result" not in child


@pytest.mark.parametrize(
    "args",
    [["jobs", "list"], ["submit", "test-echo"], ["status"], ["scan", "{library}/Heat (1995)"],
     ["library", "list"], ["mapping", "list"], ["group", "list"], ["player", "list"]],
)  # fmt: skip
def test_commands_print_no_info_lines_unless_verbose(
    worker: WorkerProcess, runner: CliRunner, args: list[str], tmp_path: Path
) -> None:
    if "scan" in args:  # a folder of a library: scan queues nothing for one in none
        added = runner.invoke(
            main, ["library", "add", f"quiet-{uuid.uuid4().hex[:8]}", str(tmp_path)]
        )
        assert added.exit_code == 0, added.output
        args = [arg.format(library=tmp_path) for arg in args]
    result = runner.invoke(main, args)

    assert result.exit_code == 0, result.output
    assert " INFO " not in result.output, result.output


def test_verbose_brings_the_info_lines_back(worker: WorkerProcess, runner: CliRunner) -> None:
    result = runner.invoke(main, ["-v", "submit", "test-echo"])

    assert result.exit_code == 0, result.output
    assert " INFO " in result.output and "created (priority" in result.output
