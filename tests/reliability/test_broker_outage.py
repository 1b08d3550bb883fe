"""The broker goes away for 10 s under a webhook load: every 202 still completes.

A Redis of the test's own (append-only file on) serves a real API (gunicorn), a
real worker and beat; it is stopped mid-load and started again on the same port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.processes.embedded import redis_server_binary
from tests.conftest import API_KEY, REPO_ROOT, WorkerProcess, free_port, sqlite_only, wait_for_job

OUTAGE_SECONDS = 10.0
LOAD_SECONDS = OUTAGE_SECONDS + 5.0
BODY = json.loads((REPO_ROOT / "tests" / "fixtures" / "radarr_test.json").read_text())


class Redis:
    """A Redis server on a TCP port, keeping its data in an append-only file."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.folder), "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("test Redis did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[tuple[Redis, str]]:
    """Redis, the API under gunicorn, a worker and beat, all on the test's Redis."""
    sqlite_only(database)
    redis = Redis(tmp_path)
    redis.start()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "ORCH_BROKER_URL": redis.url,
        "ORCH_SWEEP_INTERVAL": "1",
    }
    processes: list[subprocess.Popen[bytes]] = []
    worker = None
    try:
        for args, cwd in ((["api", "--port", str(port)], REPO_ROOT), (["beat"], tmp_path)):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "orchestrator", *args],
                    cwd=cwd,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
            )
        worker = WorkerProcess(concurrency=2, env={"ORCH_BROKER_URL": redis.url})
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield redis, url
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)
        if worker is not None:
            worker.stop()
        redis.stop()


# The test's own waits decide (15 s of load, then up to 60 s for any one job): the
# suite-wide limit of 120 s is for tests that hang, and two test processes share the cores.
@pytest.mark.timeout(300)
def test_every_accepted_webhook_completes_after_a_broker_outage(
    stack: tuple[Redis, str],
) -> None:
    redis, url = stack
    headers = {"X-Api-Key": API_KEY}
    accepted: list[str] = []
    statuses: list[int] = []
    readiness: list[int] = []
    started = time.monotonic()
    stopped = restarted = False
    with httpx.Client(timeout=10) as client:
        while (elapsed := time.monotonic() - started) < LOAD_SECONDS:
            if not stopped and elapsed > 2:
                redis.stop()
                stopped = True
            if stopped and not restarted and elapsed > 2 + OUTAGE_SECONDS:
                redis.start()
                restarted = True
            response = client.post(f"{url}/api/webhooks/radarr", json=BODY, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 202:
                accepted.append(response.json()["job_id"])
            else:
                assert response.status_code == 503 and "Retry-After" in response.headers
            if stopped and not restarted:
                readiness.append(client.get(f"{url}/readyz").status_code)
            time.sleep(0.02)

    assert restarted and set(statuses) <= {202, 503}
    assert 503 in readiness  # not ready while the broker was away
    assert len(accepted) > 50
    unfinished = []
    for job_id in accepted:
        try:
            assert wait_for_job(job_id, timeout=60).status == "completed"
        except AssertionError:
            unfinished.append(job_id)
    assert unfinished == []
    print(f"\n{len(accepted)} webhooks accepted, {statuses.count(503)} answered 503")
