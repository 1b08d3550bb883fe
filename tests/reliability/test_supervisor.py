"""`orchestrator up` as a process supervisor: children killed outright are restarted,
start-up fails clearly, one `up` per data dir, Ctrl-C stops the broker last, and a
worker of its own keeps critical work moving while the main worker hangs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO_ROOT, free_port

WORKER_READY = re.compile(r"celery@\S+ ready\.")


class Up:
    """`orchestrator up` in a subprocess, in a session of its own (as a terminal's job)."""

    def __init__(self, data_dir: Path, port: int | None = None, flower_port: int | None = None):
        self.data_dir = data_dir
        self.port, self.flower_port = port or free_port(), flower_port or free_port()
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
        self.env.update(
            ORCH_DATA_DIR=str(data_dir), ORCH_JOB_MODULES="tests.jobs", PYTHONPATH=str(REPO_ROOT)
        )
        self.log_path = data_dir / f"up-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "up",
             "--port", str(self.port), "--flower-port", str(self.flower_port)],
            cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.api = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout}s:\n{self.output()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": (self.data_dir / "api_key").read_text().strip()}


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0]


def children(pid: int) -> dict[int, str]:
    """The living direct children of ``pid`` and their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (_stat(int(entry.name)) or (0, ""))[0] == pid:
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if command:  # a zombie has none
                found[int(entry.name)] = command
    return found


ROLES: dict[str, Callable[[str], bool]] = {
    "api": lambda command: "gunicorn" in command,
    "worker": lambda command: " worker " in command and "critical@" not in command,
    "critical-worker": lambda command: " worker " in command and "critical@" in command,
    "beat": lambda command: " beat " in command,
    "flower": lambda command: " flower " in command,
    "redis": lambda command: "redis-server" in command,
}


def child_pid(up: Up, role: str) -> int | None:
    """The pid of the child of ``up`` that plays ``role``, if it runs."""
    return next((pid for pid, cmd in children(up.process.pid).items() if ROLES[role](cmd)), None)


def process_count(up: Up, role: str) -> int:
    return sum(1 for command in children(up.process.pid).values() if ROLES[role](command))


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] != "Z"


def restarts(up: Up, service: str) -> float:
    """``orchestrator_process_restarts_total`` of ``service`` in /metrics."""
    text = httpx.get(f"{up.api}/metrics", headers=up.headers(), timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "orchestrator_process_restarts_total" and sample.labels == {
                "service": service
            }:
                return sample.value
    return 0.0


def submit(up: Up, job_type: str, payload: dict[str, Any], **fields: Any) -> str:
    body = {"type": job_type, "payload": payload, **fields}
    response = httpx.post(f"{up.api}/api/v1/jobs", json=body, headers=up.headers(), timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def job(up: Up, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{up.api}/api/v1/jobs/{job_id}", headers=up.headers(), timeout=10)
    return dict(response.json())


def wait_status(up: Up, job_id: str, statuses: set[str], timeout: float) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (found := job(up, job_id))["status"] in statuses and found,
            timeout,
            f"job {job_id} {statuses}",
        )
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[Up]:
    # Short: the embedded Redis listens on a Unix socket in the data dir.
    up = Up(Path(tempfile.mkdtemp(prefix="orch-sup-")))
    try:
        wait_for(
            lambda: "orchestrator is up" in up.output() or up.process.poll() is not None,
            90,
            "orchestrator is up",
        )
        assert up.process.poll() is None, up.output()
        yield up
    finally:
        up.stop()
        shutil.rmtree(up.data_dir, ignore_errors=True)


@pytest.mark.parametrize("option", ["--port", "--flower-port"])
def test_a_taken_port_is_refused_in_one_line_before_anything_starts(option: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="orch-sup-"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = Up(data_dir, **{option.lstrip("-").replace("-", "_"): port})
        try:
            code = up.wait_exit(60)
            output = up.output()
        finally:
            up.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
    assert code != 0, output
    assert f"port {port} on 127.0.0.1 is already in use; choose another with {option}" in output
    assert "is up" not in output and "Traceback" not in output, output


def test_a_killed_worker_is_restarted_and_jobs_still_complete(stack: Up) -> None:
    worker = child_pid(stack, "worker")
    assert worker is not None
    readies = len(WORKER_READY.findall(stack.output()))

    os.kill(worker, signal.SIGKILL)
    killed_at = time.monotonic()

    wait_for(lambda: child_pid(stack, "worker") not in {None, worker}, 20, "a new worker")
    wait_for(lambda: len(WORKER_READY.findall(stack.output())) > readies, 40, "worker ready")
    print(f"killed worker replaced and ready in {time.monotonic() - killed_at:.1f}s")
    done = wait_status(stack, submit(stack, "test-echo", {"after": "kill"}), {"completed"}, 30)
    assert done["result"]["echo"] == {"after": "kill"}
    assert "worker exited with code -9 (SIGKILL); restarting in 1 s" in stack.output()
    assert "worker restarted (pid" in stack.output()
    assert wait_for(lambda: restarts(stack, "worker") == 1, 10, "restart counted")


def test_killed_beat_and_flower_are_restarted(stack: Up) -> None:
    beat, flower = child_pid(stack, "beat"), child_pid(stack, "flower")
    assert beat and flower

    os.kill(beat, signal.SIGKILL)
    os.kill(flower, signal.SIGKILL)

    wait_for(lambda: child_pid(stack, "beat") not in {None, beat}, 20, "a new beat")
    wait_for(lambda: child_pid(stack, "flower") not in {None, flower}, 20, "a new Flower")

    def flower_answers() -> bool:
        try:
            url = f"http://127.0.0.1:{stack.flower_port}/healthcheck"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(flower_answers, 30, "Flower serving again")
    for service in ("beat", "flower"):
        assert f"{service} exited with code -9 (SIGKILL); restarting in 1 s" in stack.output()
        assert wait_for(lambda: restarts(stack, service) == 1, 10, f"{service} restart counted")  # noqa: B023
    assert process_count(stack, "beat") == 1


def test_a_second_up_or_beat_on_the_same_data_dir_is_refused(stack: Up) -> None:
    second = Up(stack.data_dir)
    try:
        code = second.wait_exit(30)
    finally:
        second.stop()
    expected = f"data dir {stack.data_dir.resolve()} is in use by pid {stack.process.pid}"
    assert code != 0 and expected in second.output(), second.output()
    assert "is up" not in second.output()

    beat = subprocess.run(
        [sys.executable, "-m", "orchestrator", "beat"],
        cwd=REPO_ROOT, env=stack.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert beat.returncode != 0 and expected in beat.stderr, beat.stderr
    assert process_count(stack, "beat") == 1
    assert httpx.get(f"{stack.api}/readyz", timeout=5).status_code == 200


def test_critical_work_runs_while_the_main_worker_hangs(stack: Up) -> None:
    worker = wait_for(lambda: child_pid(stack, "worker"), 20, "the main worker")
    pool = os.cpu_count() or 1  # Celery's default concurrency
    wait_for(lambda: len(children(worker)) == pool, 20, "the main worker's whole pool")
    hung = [submit(stack, "test-sleep", {"seconds": 60}) for _ in range(pool)]
    try:
        for job_id in hung:
            wait_status(stack, job_id, {"processing"}, 30)

        # A webhook is critical work (API clients cannot submit at that priority).
        response = httpx.post(
            f"{stack.api}/api/webhooks/radarr", json={"eventType": "Test"},
            headers=stack.headers(), timeout=10,
        )  # fmt: skip
        assert response.status_code == 202, response.text
        critical = str(response.json()["job_id"])

        done = wait_status(stack, critical, {"completed"}, 20)
        assert done["worker"].startswith("critical@")
        assert all(job(stack, job_id)["status"] == "processing" for job_id in hung)
    finally:
        for job_id in hung:
            httpx.post(
                f"{stack.api}/api/v1/jobs/{job_id}/cancel", headers=stack.headers(), timeout=10
            )
    for job_id in hung:
        wait_status(stack, job_id, {"cancelled"}, 20)


def test_sigint_to_the_process_group_stops_the_broker_last(stack: Up) -> None:
    # Last in this module: it stops the stack.
    running = children(stack.process.pid)
    redis = next(pid for pid, command in running.items() if ROLES["redis"](command))
    for role in ("api", "worker", "beat", "flower"):
        assert process_count(stack, role) == 1, running
    before = len(stack.output())

    os.killpg(stack.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does

    broker_gone_first = []
    deadline = time.monotonic() + 45
    while stack.process.poll() is None and time.monotonic() < deadline:
        others = [pid for pid in running if pid != redis and alive(pid)]
        if others and not alive(redis):
            broker_gone_first.append(others)
        time.sleep(0.02)
    assert stack.wait_exit(5) == 0
    output = stack.output()[before:]
    assert not broker_gone_first, output
    assert "connection to broker lost" not in output.lower(), output
    assert "stopped" in output
    assert not [pid for pid in running if alive(pid)]
    assert not _processes_of(stack.data_dir), "left running"


def _processes_of(data_dir: Path) -> list[int]:
    """Processes whose environment points at ``data_dir`` (every child of the stack's)."""
    marker = f"ORCH_DATA_DIR={data_dir}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


def test_restarts_back_off_doubling_up_to_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    from orchestrator.processes.supervisor import Child, Supervisor

    restarted: list[str] = []
    crashing = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor = Supervisor(
        [crashing], lambda child: restarted.append(child.name), first_delay=0.1, max_delay=0.4
    )
    caplog.set_level("WARNING", logger="orchestrator.processes.supervisor")
    supervisor.start()
    try:
        wait_for(lambda: supervisor.poll() or len(restarted) >= 4, 20, "four restarts")
    finally:
        supervisor.stop()
    delays = re.findall(r"crasher exited with code 3; restarting in (\S+) s", caplog.text)
    assert delays[:4] == ["0.1", "0.2", "0.4", "0.4"]  # doubled, then capped
