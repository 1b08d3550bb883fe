"""A deployment spread over the hosts of a ``Network``: the API and beat on one host,
workers on others, all sharing the Network's PostgreSQL and Redis, as a user who outgrew
one machine runs it (docs/production.md, "Several hosts").

Timings are the defaults scaled down so that a scenario takes seconds: a worker silent
for 6 s is dead, the reaper looks every 2 s, a silent database or broker is given up
after 3 s, beat's lease lasts 6 s. ``ORCH_REAPER_TIMEOUT`` keeps its default (600 s): a
job comes back because its worker is known gone, never by that shortcut.

Jobs of the type ``test-run-log`` note every run's start and end, with its host, in a
file every host sees: :meth:`Deployment.runs` reads what really ran, where and when.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, create_engine, text

from tests.conftest import REPO_ROOT
from tests.multihost.network import Host, Network

API_KEY = "multihost-api-key-0123456789"
API_PORT = 8000
TIMINGS = {
    "ORCH_WORKER_TIMEOUT": "6",
    "ORCH_REAPER_INTERVAL": "2",
    "ORCH_NETWORK_TIMEOUT": "3",
    "ORCH_BEAT_LEASE": "6",
    "ORCH_SWEEP_INTERVAL": "5",
    "ORCH_SWEEP_GRACE": "2",
}


@dataclass
class Run:
    """One attempt of a job as it really ran on a host (from the run log)."""

    job: str
    attempt: int
    host: str
    start: float
    end: float | None  # None: it never ended (its process was killed)

    def overlaps(self, other: Run) -> bool:
        """True if the two runs were running at the same moment."""
        mine = self.end if self.end is not None else float("inf")
        theirs = other.end if other.end is not None else float("inf")
        return self.start < theirs and other.start < mine


class Deployment:
    """The platform's processes on the hosts of ``net``; see the module docstring."""

    def __init__(self, net: Network, folder: Path, broker_url: str | None = None) -> None:
        self.net = net
        self.folder = folder
        self.broker_url = broker_url or net.redis_url
        self.run_log = folder / "runs.jsonl"
        self.run_log.touch()
        self.run_log.chmod(0o666)
        self.api_host: Host | None = None
        self.engine: Engine = create_engine(
            net.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
            connect_args={"connect_timeout": 3},
        )

    def close(self) -> None:
        """Let go of the database (the Network kills the processes)."""
        self.engine.dispose()

    def env(self, host: Host, **extra: str) -> dict[str, str]:
        """The environment of a process of the platform on ``host``."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        return {
            **inherited,
            "PYTHONPATH": str(REPO_ROOT),
            "ORCH_DATA_DIR": str(self.folder / host.name),  # one data dir per host
            "ORCH_DATABASE_URL": self.net.postgres_url,
            "ORCH_BROKER_URL": self.broker_url,
            "ORCH_API_KEY": API_KEY,
            "ORCH_JOB_MODULES": "tests.jobs",
            "ORCH_TEST_HOST": host.name,
            **TIMINGS,
            **extra,
        }

    def _start(self, host: Host, name: str, argv: list[str], **extra: str) -> subprocess.Popen:
        return host.popen(
            [sys.executable, *argv],
            env=self.env(host, **extra),
            log=self.folder / f"{name}.log",
            cwd=REPO_ROOT,
        )

    def log(self, name: str) -> str:
        """What the process started as ``name`` has logged."""
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_api(self, host: Host) -> subprocess.Popen:
        """``orchestrator api`` on ``host`` (it migrates the database), once it answers."""
        process = self._start(
            host, "api", ["-m", "orchestrator", "api", "--host", host.address,
                          "--port", str(API_PORT)],
        )  # fmt: skip
        self.api_host = host
        wait_for(lambda: self._answers("/healthz"), 40, "the API", lambda: self.log("api"))
        return process

    def start_beat(self, host: Host, name: str = "beat", bare: bool = False) -> subprocess.Popen:
        """``orchestrator beat`` on ``host`` (``bare``: ``celery beat`` itself), logging at
        DEBUG: its sends of the routine maintenance, which the tests read, are DEBUG lines."""
        if bare:
            schedule = str(self.folder / f"{name}-schedule")
            argv = ["-m", "celery", "-A", "orchestrator", "beat", "--schedule", schedule,
                    "--loglevel", "DEBUG"]  # fmt: skip
            return self._start(host, name, argv)
        return self._start(host, name, ["-m", "orchestrator", "beat", "--loglevel", "DEBUG"])

    def start_worker(self, host: Host, concurrency: int = 2) -> subprocess.Popen:
        """A worker named after ``host`` on every queue, once it is ready."""
        name = f"worker-{host.name}"
        process = self._start(
            host, name, ["-m", "orchestrator", "worker", "-c", str(concurrency),
                         "--hostname", f"w@{host.name}"],
        )  # fmt: skip
        wait_for(lambda: "ready." in self.log(name), 40, name, lambda: self.log(name))
        return process

    def url(self, path: str) -> str:
        assert self.api_host is not None, "start the API first"
        return f"http://{self.api_host.address}:{API_PORT}{path}"

    def _answers(self, path: str) -> bool:
        try:
            return httpx.get(self.url(path), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def submit(self, payload: dict[str, Any], count: int = 1, **options: Any) -> list[str]:
        """Submit ``count`` ``test-run-log`` jobs through the API; their ids."""
        body = {"type": "test-run-log", "payload": {"log": str(self.run_log), **payload}}
        ids = []
        for _ in range(count):
            response = httpx.post(
                self.url("/api/v1/jobs"), json={**body, **options},
                headers={"X-Api-Key": API_KEY}, timeout=10,
            )  # fmt: skip
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        return ids

    def query(self, sql: str, **params: Any) -> list[Any]:
        """Rows of ``sql`` on the deployment's database."""
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def job(self, job_id: str) -> Any:
        """The job's row."""
        rows = self.query("SELECT * FROM jobs WHERE id = :id", id=job_id)
        assert rows, f"no job {job_id}"
        return rows[0]

    def wait_done(self, ids: list[str], timeout: float) -> None:
        """Wait until every job of ``ids`` completed; fails naming the others."""

        def left() -> list[Any]:
            return self.query(
                "SELECT id, status, attempts, worker FROM jobs"
                " WHERE id = ANY(:ids) AND status <> 'completed'",
                ids=ids,
            )

        wait_for(lambda: not left(), timeout, "the jobs to complete", lambda: str(left()))

    def runs(self) -> list[Run]:
        """Every run of a ``test-run-log`` job so far, from the run log."""
        starts: dict[tuple[str, int, str], Run] = {}
        for line in self.run_log.read_text().splitlines():
            note = json.loads(line)
            key = (note["job"], note["attempt"], note["host"])
            if "start" in note:
                starts[key] = Run(*key, start=note["start"], end=None)
            else:
                starts[key].end = note["end"]
        return list(starts.values())

    def runs_started(self, job_id: str, attempt: int) -> Run | None:
        """The run of ``attempt`` of the job, once it started."""
        found = [r for r in self.runs() if r.job == job_id and r.attempt == attempt]
        return found[0] if found else None

    def wait_heard(self, hosts: list[Host]) -> None:
        """Wait until the reaper has heard the workers of ``hosts`` answer, from now on."""
        since = self.query("SELECT now() AT TIME ZONE 'UTC' AS now")[0].now
        names = {f"w@{host.name}" for host in hosts}

        def heard() -> bool:
            rows = self.query("SELECT hostname FROM workers_seen WHERE seen_at > :since",
                              since=since)  # fmt: skip
            return names <= {row.hostname for row in rows}

        wait_for(heard, 30, f"reaper answers from {sorted(names)}")

    def failed_maintenance(self) -> list[Any]:
        """Reaper, sweep or retention rows that failed."""
        return self.query(
            "SELECT id, type, error FROM jobs"
            " WHERE type IN ('reaper', 'retention') AND status = 'failed'"
        )


@contextmanager
def rabbitmq_vhost(net: Network) -> Iterator[str]:
    """A vhost of its own on the machine's RabbitMQ (``ORCH_TEST_AMQP_URL``), reached from
    the hosts through a forwarder on the bridge; yields its URL, deletes it after."""
    base = urlsplit(os.environ["ORCH_TEST_AMQP_URL"])
    vhost = f"orch-multihost-{net.subnet}"
    ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, base.username or "guest", ".*", ".*", ".*"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        port = net.forward(base.port or 5672, base.hostname or "127.0.0.1")
        credentials = f"{base.username}:{base.password}@" if base.username else ""
        yield f"amqp://{credentials}{net.bridge_address}:{port}/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, why: Callable[[], str] = str
) -> Any:
    """Poll ``condition`` until it is truthy (its value) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"no {what} after {timeout:g} s:\n{why()[-3000:]}")


INF = float("inf")


def concurrent_duplicates(
    runs: list[Run], faults: dict[str, tuple[float, float]]
) -> list[tuple[Run, Run]]:
    """Pairs of runs of one job that ran at the same moment on healthy hosts.

    ``faults`` gives each faulty host's fault as (from, until) in ``time.time()``: a run
    on it is unhealthy if it was running then. A host back after a cut is healthy again.
    """

    def healthy(run: Run) -> bool:
        start, end = faults.get(run.host, (INF, INF))
        return not run.overlaps(Run(run.job, 0, run.host, start, end))

    healthy_runs = [r for r in runs if healthy(r)]
    return [
        (a, b)
        for i, a in enumerate(healthy_runs)
        for b in healthy_runs[i + 1 :]
        if a.job == b.job and a.overlaps(b)
    ]


def record_mismatches(deployment: Deployment, ids: list[str]) -> list[str]:
    """Jobs whose row does not match the run whose result it stores: the result's attempt
    and host against the row's attempt and worker, and the completion event's attempt."""
    wrong = []
    for job_id in ids:
        row = deployment.job(job_id)
        completed = deployment.query(
            "SELECT attempt FROM job_events WHERE job_id = :id AND name = 'job.completed'",
            id=job_id,
        )
        result = row.result or {}
        record = (row.attempts, (row.worker or "").split("@")[-1], [c.attempt for c in completed])
        run = (result.get("attempt"), result.get("host"), [result.get("attempt")])
        if record != run:
            wrong.append(f"{job_id}: row {record}, run {run}")
    return wrong
