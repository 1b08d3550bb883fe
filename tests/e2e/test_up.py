"""`orchestrator up` on embedded defaults: the whole stack, as a new user starts it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT, free_port, wait_until


class Stack:
    """A running `orchestrator up` in its own data dir."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="orch-up-"))
        self.data_dir.chmod(0o755)  # as older versions left it: `up` must make it private
        self.port, self.flower_port = free_port(), free_port()
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
        self.env.update(
            ORCH_DATA_DIR=str(self.data_dir),
            ORCH_JOB_MODULES="tests.jobs",
            PYTHONPATH=str(REPO_ROOT),
        )
        self.log = open(self.data_dir / "up.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "up",
             "--port", str(self.port), "--flower-port", str(self.flower_port)],
            cwd=REPO_ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.api = f"http://127.0.0.1:{self.port}"
        self.flower = f"http://127.0.0.1:{self.flower_port}"

    def output(self) -> str:
        return (self.data_dir / "up.log").read_text(errors="replace")

    def secret(self, name: str) -> str:
        return (self.data_dir / name).read_text().strip()

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                api_ready = httpx.get(f"{self.api}/readyz", timeout=1).status_code == 200
                flower_up = httpx.get(f"{self.flower}/healthcheck", timeout=1).status_code
                # The banner comes once the ports listen and the workers answer.
                if api_ready and flower_up == 200 and "orchestrator is up" in self.output():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"stack not serving after {timeout}s:\n{self.output()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(40)
        self.log.close()
        return self.process.returncode


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    running = Stack()
    try:
        running.wait_until_serving()
        yield running
    finally:
        running.stop()
        shutil.rmtree(running.data_dir, ignore_errors=True)


def _wait_done(stack: Stack, job_id: str, key: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{stack.api}/api/v1/jobs/{job_id}", headers={"X-Api-Key": key}).json()
        if job["status"] in {"completed", "failed", "cancelled"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not finished:\n{stack.output()}")


def test_up_serves_jobs_from_http_and_celery_call_and_flower_sees_them(stack: Stack) -> None:
    key = stack.secret("api_key")
    assert key in stack.output()  # printed for the user
    # The page first, the API and Flower after, each secret with where it is kept.
    banner = stack.output().split("orchestrator is up\n", 1)[1].splitlines()
    assert [line.split()[0] for line in banner[:4]] == ["page", "API", "API", "Flower"]
    assert banner[0].split()[1] == f"{stack.api}/"
    assert banner[2].endswith(f"(kept in {stack.data_dir.resolve() / 'api_key'})")
    assert f"kept in {stack.data_dir.resolve() / 'flower_password'}" in banner[3]
    assert f"Listening at: http://127.0.0.1:{stack.port} (" in stack.output()  # not ""
    headers = {"X-Api-Key": key}

    submitted = httpx.post(
        f"{stack.api}/api/v1/jobs",
        json={"type": "test-flaky", "payload": {"fail_times": 1}},
        headers=headers,
    )
    assert submitted.status_code == 202, submitted.text
    job = _wait_done(stack, submitted.json()["id"], key)
    assert (job["status"], job["retry_count"], job["attempts"]) == ("completed", 1, 2)

    with httpx.stream(
        "GET", f"{stack.api}/api/v1/jobs/{job['id']}/stream", headers=headers, timeout=10
    ) as response:
        names = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert names == [
        "job.created", "job.started", "job.retrying", "job.started", "job.completed",
    ]  # fmt: skip

    called = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "orchestrator", "call", "test-echo",
         "--kwargs", json.dumps({"from": "celery call"})],
        cwd=REPO_ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    echoed = _wait_done(stack, called.stdout.split()[-1], key)
    assert echoed["status"] == "completed" and echoed["payload"] == {"from": "celery call"}

    password = stack.secret("flower_password")
    assert httpx.get(f"{stack.flower}/api/tasks").status_code == 401
    deadline = time.monotonic() + 20
    names_seen: set[str] = set()
    while time.monotonic() < deadline and not {"test-flaky", "test-echo"} <= names_seen:
        tasks = httpx.get(f"{stack.flower}/api/tasks", auth=("admin", password)).json()
        names_seen = {task["name"] for task in tasks.values()}
        time.sleep(0.5)
    assert {"test-flaky", "test-echo"} <= names_seen
    assert job["id"] in tasks
    workers = httpx.get(
        f"{stack.flower}/api/workers?refresh=1", auth=("admin", password), timeout=15
    ).json()
    # The worker on every queue, and the one of the critical queue alone.
    assert sorted(name.split("@")[0] for name in workers) == ["celery", "critical"]
    for worker in workers.values():
        registered = set(worker["registered"])
        assert {"test-flaky", "webhook", "scan-movie", "notify-players", "reaper"} <= registered
    assert (stack.data_dir / "flower.db").exists() or any(stack.data_dir.glob("flower.db*"))


def test_webhook_query_key_stays_out_of_the_logs(stack: Stack) -> None:
    key = stack.secret("api_key")
    body = json.loads((REPO_ROOT / "tests" / "fixtures" / "radarr_test.json").read_text())

    response = httpx.post(f"{stack.api}/api/webhooks/radarr?apikey={key}", json=body)

    assert response.status_code == 202
    line = 'POST /api/webhooks/radarr HTTP/1.1" 202'
    wait_until(lambda: line in stack.output(), timeout=5, what="the access log line")
    assert stack.output().count(key) == 1  # the banner shown to the user, nothing else


def test_a_hostile_request_path_stays_on_its_access_log_line(stack: Stack) -> None:
    # Gunicorn decodes the path: %0a is a newline, %1b an ESC, in the access line.
    response = httpx.get(f"{stack.api}/nowhere%0a[fake]%20ERROR%20forged%1b[31m")

    assert response.status_code in (401, 404)
    escaped = '"GET /nowhere\\n[fake] ERROR forged\\x1b[31m HTTP/1.1" ' + str(response.status_code)
    wait_until(lambda: escaped in stack.output(), timeout=5, what="the escaped access line")
    assert not [line for line in stack.output().splitlines() if line.startswith("[fake]")]
    assert "\x1b" not in stack.output()


def test_data_dir_and_every_file_in_it_are_private(stack: Stack) -> None:
    # The first test ran jobs: the database, its WAL and the broker's file hold data.
    assert stat.S_IMODE(stack.data_dir.stat().st_mode) == 0o700
    expected = {"orchestrator.db", "orchestrator.db-wal", "redis.aof", "redis.log", "api_key"}
    found = {path.name for path in stack.data_dir.iterdir()}
    assert expected <= found, found
    loose = {
        str(path.relative_to(stack.data_dir)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in stack.data_dir.rglob("*")
        if path.name != "up.log"  # the test's own file
        and stat.S_IMODE(path.lstat().st_mode) & 0o077
    }
    assert loose == {}


def test_sigterm_stops_every_child(stack: Stack) -> None:
    assert stack.stop() == 0
    assert "stopped" in stack.output()
    for port in (stack.port, stack.flower_port):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    assert not (stack.data_dir / "redis.sock").exists()
