"""Big payloads, results and errors stay out of job lists.

Twenty jobs of about 1 MiB of payload each (and as much of result: ``test-echo`` returns
its payload) once made a page of 50 jobs weigh over 100 MB and the API process hold all of
it at once. A list item is a summary: the list answer stays small, its SQL reads none of
the big columns, and the job's own GET still has everything.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import event
from sqlalchemy.engine import Engine

from orchestrator import submit
from orchestrator.cli.main import main
from tests.conftest import ApiServer, WorkerProcess, wait_for_job
from tests.pipeline import HEADERS

MIB = 1 << 20
ECHOES = 20
BIG_COLUMNS = ("payload", "result", "checkpoint")


def blob(n: int) -> str:
    """About 1 MiB of text, different for each job."""
    return f"{n:04d}" * (MIB // 4)


@pytest.fixture(scope="module")
def big_jobs(worker: WorkerProcess, database: str) -> dict[str, Any]:
    """20 completed echoes of ~1 MiB and 2 failed jobs with a 1 MiB message; ids by kind.

    Submitted from this process: the API refuses bodies over ORCH_MAX_REQUEST_BYTES (1 MiB).
    """
    echoes = [submit("test-echo", {"blob": blob(n), "n": n}).job.id for n in range(ECHOES)]
    failed = [submit("test-permanent", {"why": blob(n)}).job.id for n in range(2)]
    for job_id in echoes:
        assert wait_for_job(job_id, timeout=60).status == "completed"
    for job_id in failed:
        assert wait_for_job(job_id, timeout=60).status == "failed"
    return {"echoes": echoes, "failed": failed}


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL every engine runs while the test runs."""
    seen: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", keep)
    yield seen
    event.remove(Engine, "before_cursor_execute", keep)


def job_selects(statements: list[str]) -> list[str]:
    """The SELECTs reading the jobs table, lower-cased."""
    return [s.lower() for s in statements if s.lstrip().upper().startswith("SELECT") and
            " jobs" in s.lower()]  # fmt: skip


def assert_reads_no_big_column(selects: list[str]) -> None:
    """No SELECT names payload, result or checkpoint, nor error but inside the database's
    JSON functions (SQLite's json_extract, PostgreSQL's ->>)."""
    assert selects
    for sql in selects:
        for column in BIG_COLUMNS:
            assert f"jobs.{column}" not in sql, sql
        rest = sql.replace("json_extract(jobs.error,", "").replace("jobs.error ->>", "")
        assert "jobs.error" not in rest, sql


def test_the_list_is_small_and_says_what_each_job_is(
    big_jobs: dict[str, Any], api_server: ApiServer, statements: list[str]
) -> None:
    # The client first: its TLS set-up alone allocates megabytes.
    with httpx.Client(base_url=api_server.url, headers=HEADERS, timeout=30) as client:
        tracemalloc.start()
        try:
            response = client.get("/api/v1/jobs?limit=50")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert response.status_code == 200, response.text[:500]
    # 22 jobs of ~1 MiB each (twice that for the echoes): the list must not carry them.
    assert len(response.content) < 64 * 1024, len(response.content)
    # Whole rows would take over 80 MiB (40 MiB of decoded strings, then a 45 MB answer);
    # summaries take under 1 MiB, but the peak is of the whole test process, whose other
    # threads (server, stamps, doorbell) sometimes add several MiB.
    assert peak < 32 * MIB, f"the list needed {peak / MIB:.1f} MiB of Python memory"
    assert_reads_no_big_column(job_selects(statements))
    assert "Traceback" not in response.text
    assert not any(blob(n)[:1000] in response.text for n in range(ECHOES))

    items = {item["id"]: item for item in response.json()["items"]}
    for job_id in big_jobs["echoes"] + big_jobs["failed"]:
        item = items[job_id]
        assert not set(BIG_COLUMNS) & set(item), sorted(item)
        assert item["links"]["self"] == f"/api/v1/jobs/{job_id}"
    for job_id in big_jobs["echoes"]:
        assert (items[job_id]["type"], items[job_id]["status"]) == ("test-echo", "completed")
        assert items[job_id]["error"] is None
    for job_id in big_jobs["failed"]:
        item = items[job_id]
        assert (item["type"], item["status"]) == ("test-permanent", "failed")
        # Why it failed, cut short: the type and the start of the message.
        assert set(item["error"]) == {"type", "message"}
        assert item["error"]["type"] == "PermanentError"
        message = item["error"]["message"]
        assert message.startswith("this can never work: 0") and message.endswith("…")
        assert len(message) == 301


def test_the_jobs_own_get_still_has_everything(
    big_jobs: dict[str, Any], api_server: ApiServer
) -> None:
    echo_id, failed_id = big_jobs["echoes"][3], big_jobs["failed"][1]
    url = f"{api_server.url}/api/v1/jobs"

    echo = httpx.get(f"{url}/{echo_id}", headers=HEADERS, timeout=30).json()
    failed = httpx.get(f"{url}/{failed_id}", headers=HEADERS, timeout=30).json()

    assert echo["payload"] == {"blob": blob(3), "n": 3}
    assert echo["result"] == {"echo": {"blob": blob(3), "n": 3}, "attempt": 1}
    assert echo["error"] is None and "checkpoint" in echo and echo["children"] == []
    assert failed["payload"] == {"why": blob(1)}
    assert failed["error"]["message"] == f"this can never work: {blob(1)}"
    assert "PermanentError" in failed["error"]["traceback"]


def test_a_chain_list_and_a_page_of_failures_stay_summaries(
    big_jobs: dict[str, Any], api_server: ApiServer
) -> None:
    url = f"{api_server.url}/api/v1/jobs"
    failed_id = big_jobs["failed"][0]

    chain = httpx.get(f"{url}?root_id={failed_id}", headers=HEADERS, timeout=30).json()
    failures = httpx.get(f"{url}?status=failed&type=test-permanent", headers=HEADERS, timeout=30)

    assert [item["id"] for item in chain["items"]] == [failed_id]
    assert "traceback" not in json.dumps(chain)
    assert len(failures.content) < 64 * 1024
    assert {failed_id, big_jobs["failed"][1]} <= {i["id"] for i in failures.json()["items"]}


def test_the_cli_table_reads_no_big_column(big_jobs: dict[str, Any], statements: list[str]) -> None:
    listed = CliRunner().invoke(main, ["jobs", "list", "--limit", "30"])
    watched = CliRunner().invoke(main, ["jobs", "watch", "--count", "1", "--limit", "30"])

    for result in (listed, watched):
        assert result.exit_code == 0, result.output
        for job_id in big_jobs["echoes"] + big_jobs["failed"]:
            assert job_id in result.output
    assert_reads_no_big_column(job_selects(statements))
