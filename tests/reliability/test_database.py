"""The database fails under a real API: unreachable, locked, or shared by many writers.

Each test runs its own API in a subprocess (gunicorn, as in production, or a
werkzeug server when a module constant must be changed first) on a database and
a Redis broker of its own, so that nothing it publishes reaches the session's
workers. The API must answer a database failure with a 503 problem+json carrying
``Retry-After`` (never a 500, never a traceback), publish nothing for a request
it refused, and serve again once the database is back, without a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from orchestrator.delivery.broker import queue_depths
from orchestrator.processes.embedded import redis_server_binary
from orchestrator.processes.stack import api_command
from orchestrator.processes.stopping import terminate
from orchestrator.settings import settings_from_env
from tests.conftest import (
    API_KEY,
    REPO_ROOT,
    WorkerProcess,
    _drop_postgres_database,
    _postgres_database,
    free_port,
)

HEADERS = {"X-Api-Key": API_KEY}
TEST_WEBHOOK = {"eventType": "Test"}
RADARR_TEST = json.loads((REPO_ROOT / "tests" / "fixtures" / "radarr_test.json").read_text())
# A PostgreSQL URL nothing listens on: every connection is refused at once.
REFUSED = "postgresql://nobody@127.0.0.1:{port}/none"
# Busy timeout of the API that must give up on a lock (orchestrator.storage.db has 30 s, fixed).
SHORT_BUSY_TIMEOUT_S = 1
LOAD_SECONDS = 12.0
LOAD_CLIENTS = 16


# --- processes of the test's own ----------------------------------------------------


@contextlib.contextmanager
def _redis(folder: Path) -> Iterator[str]:
    """A Redis broker of the test's own on a TCP port; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("test Redis did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        terminate(process)


class _Worker(WorkerProcess):
    """A worker that is stopped, not left behind, when it does not come up."""

    def _wait_ready(self, timeout: float = 30.0) -> None:
        try:
            super()._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise


class Api:
    """An API subprocess on 127.0.0.1, its output (access log, app log) in a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_up(self, timeout: float = 30.0) -> None:
        """Wait for ``/healthz`` (not ``/readyz``: the database may be down on purpose)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"API exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).is_success:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"API not up after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        terminate(self.process)
        self._log.close()


def _env(tmp_path: Path, database_url: str, broker_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "ORCH_DATA_DIR": str(tmp_path),
        "ORCH_DATABASE_URL": database_url,
        "ORCH_BROKER_URL": broker_url,
    }


def _gunicorn(stack: contextlib.ExitStack, env: dict[str, str], log_path: Path) -> Api:
    """The production API command (2 gunicorn processes), started and up."""
    port = free_port()
    api = Api(api_command(settings_from_env(env), "127.0.0.1", port), env, log_path, port)
    stack.callback(api.stop)
    api.wait_up()
    return api


_WERKZEUG = """
import sys
from werkzeug.serving import run_simple
from api import create_app
run_simple("127.0.0.1", int(sys.argv[1]), create_app(), threaded=True)
"""


def _werkzeug(
    stack: contextlib.ExitStack, env: dict[str, str], log_path: Path, busy_timeout_s: int
) -> Api:
    """The API app under a threaded werkzeug server, with the given SQLite busy timeout."""
    port = free_port()
    env = {**env, "ORCH_SQLITE_BUSY_TIMEOUT": str(busy_timeout_s)}
    command = [sys.executable, "-c", _WERKZEUG, str(port)]
    api = Api(command, env, log_path, port)
    stack.callback(api.stop)
    api.wait_up()
    return api


def _migrate(env: dict[str, str]) -> None:
    """Bring the database of ``env`` up to date (in a subprocess: no engine cached here)."""
    subprocess.run(
        [sys.executable, "-m", "orchestrator", "db", "upgrade"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


class Gate:
    """A TCP port on 127.0.0.1 that refuses connections while shut and forwards them
    to ``target`` while open; shutting it also cuts the connections it carries."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._open.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def shut(self) -> None:
        self._open.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._open.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


# --- what the broker and the database hold ------------------------------------------


def _jobs(database_url: str) -> dict[str, tuple[str, bool]]:
    """Every job of the database: id -> (status, whether its message was published)."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, status, dispatched_at FROM jobs"))
            return {row.id: (row.status, row.dispatched_at is not None) for row in rows}
    finally:
        engine.dispose()


def _assert_unavailable(response: httpx.Response) -> None:
    """A 503 problem+json naming the database, with a usable Retry-After."""
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == 503, (where, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), where
    assert int(response.headers.get("Retry-After", "")) > 0, (where, response.headers)
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail"}, body
    assert body["status"] == 503 and "database" in body["detail"], body
    assert "Traceback" not in response.text, where


# --- 1. the database is unreachable -------------------------------------------------


def test_an_unreachable_database_is_a_503_with_retry_after(tmp_path: Path) -> None:
    """Every route that touches the database answers 503 problem+json with Retry-After;
    /readyz says the database (not the broker) is down; /healthz stays 200."""
    job_id = str(uuid.uuid4())
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(_redis(tmp_path))
        database = REFUSED.format(port=free_port())
        api = _gunicorn(stack, _env(tmp_path, database, broker), tmp_path / "api.log")
        before = queue_depths(broker)
        with httpx.Client(base_url=api.url, headers=HEADERS, timeout=10, trust_env=False) as c:
            answers = [
                c.post("/api/v1/jobs", json={"type": "test-echo", "payload": {"n": 1}}),
                c.post("/api/webhooks/radarr", json=TEST_WEBHOOK),
                c.get("/api/v1/jobs"),
                c.get(f"/api/v1/jobs/{job_id}"),
                c.get("/api/v1/libraries"),
                # Beyond the brief's list: every other route that reads or writes.
                c.put("/api/webhooks/sonarr", json=TEST_WEBHOOK),
                c.post(f"/api/v1/jobs/{job_id}/cancel"),
                c.post(f"/api/v1/jobs/{job_id}/retry"),
                c.get(f"/api/v1/jobs/{job_id}/stream"),
                c.get("/api/v1/events"),
                c.post(
                    "/api/v1/libraries",
                    json={"name": "films", "path": "/films", "allow_missing": True},
                ),
                c.patch("/api/v1/libraries/1", json={"name": "movies"}),
                c.delete("/api/v1/libraries/1"),
                c.post("/api/v1/libraries/1/scan"),
                c.get("/api/v1/movies"),
                c.get("/metrics"),
            ]
            ready, alive = c.get("/readyz"), c.get("/healthz")

        for response in answers:
            _assert_unavailable(response)
        assert ready.status_code == 503, ready.text
        assert ready.json() == {
            "status": "unavailable",
            "checks": {"database": False, "broker": True},
        }
        assert alive.status_code == 200
        assert queue_depths(broker) == before  # the refused submissions published nothing
        log = api.log()
        assert "Traceback" not in log and "unhandled error" not in log, log
        assert "database unavailable" in log  # logged once per refused request


# --- 2. no half-written job, and back to work without a restart ---------------------


def test_nothing_is_published_while_the_database_is_away_and_the_api_recovers(
    database: str, tmp_path: Path
) -> None:
    """SQLite: the database file cannot be opened; PostgreSQL: its port refuses connections.
    Each on a database of the test's own; the same API process serves again once it is back."""
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(_redis(tmp_path))
        if database.startswith("sqlite"):
            path = tmp_path / "outage.db"
            path.mkdir()  # a directory where the database file should be
            url = direct = f"sqlite:///{path}"

            def database_back() -> None:
                path.rmdir()
                _migrate(_env(tmp_path, url, broker))

        else:
            base = os.environ["ORCH_TEST_POSTGRES_URL"]
            direct, name = _postgres_database(base)
            stack.callback(_drop_postgres_database, base, name)
            _migrate(_env(tmp_path, direct, broker))
            real = make_url(direct)
            gate = Gate((real.host or "127.0.0.1", real.port or 5432))
            stack.callback(gate.shut)
            url = real.set(host="127.0.0.1", port=gate.port).render_as_string(hide_password=False)
            database_back = gate.open
        api = _gunicorn(stack, _env(tmp_path, url, broker), tmp_path / "api.log")
        before = queue_depths(broker)

        with httpx.Client(base_url=api.url, headers=HEADERS, timeout=10, trust_env=False) as c:
            for n in range(5):
                job = {"type": "test-echo", "payload": {"n": n}, "dedupe_key": f"outage-{n}"}
                _assert_unavailable(c.post("/api/v1/jobs", json=job))
                _assert_unavailable(c.post("/api/webhooks/radarr", json=TEST_WEBHOOK))
            assert c.get("/readyz").json()["checks"] == {"database": False, "broker": True}
            assert queue_depths(broker) == before  # nothing published for a refused request

            database_back()

            deadline = time.monotonic() + 15
            while (ready := c.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, f"not ready again: {ready.text}"
                time.sleep(0.2)
            submitted = c.post("/api/v1/jobs", json={"type": "test-echo", "payload": {"n": 9}})
            hook = c.post("/api/webhooks/radarr", json=TEST_WEBHOOK)
            assert (submitted.status_code, hook.status_code) == (202, 202), (
                submitted.text,
                hook.text,
            )
            accepted = {submitted.json()["id"], hook.json()["job_id"]}
            assert c.get(f"/api/v1/jobs/{submitted.json()['id']}").status_code == 200
        # Both accepted jobs were published (by the API's relay, a moment after the
        # 202), once each...
        deadline = time.monotonic() + 5
        while sum(queue_depths(broker).values()) < sum(before.values()) + len(accepted):
            assert time.monotonic() < deadline, queue_depths(broker)
            time.sleep(0.05)
        time.sleep(0.5)  # nothing more may come
        assert sum(queue_depths(broker).values()) == sum(before.values()) + len(accepted)
        # ...and are the only rows: the refused requests left nothing behind.
        deadline = time.monotonic() + 5
        while (rows := _jobs(direct)) != dict.fromkeys(accepted, ("pending", True)):
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
        assert "Traceback" not in api.log()


def test_resuming_the_event_stream_during_an_outage_is_a_503(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(_redis(tmp_path))
        database = REFUSED.format(port=free_port())
        api = _gunicorn(stack, _env(tmp_path, database, broker), tmp_path / "api.log")
        with (
            httpx.Client(base_url=api.url, headers=HEADERS, timeout=10, trust_env=False) as c,
            # What a browser's EventSource sends when it reconnects.
            c.stream("GET", "/api/v1/events", headers={"Last-Event-ID": "5"}) as response,
            contextlib.suppress(httpx.HTTPError),  # the body is cut short
        ):
            response.read()
        log = api.log()
    assert response.status_code == 503, response.headers  # not a 200 whose body breaks off
    _assert_unavailable(response)
    assert "Traceback" not in log, log


@contextlib.contextmanager
def _small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (skips where mounting is not allowed)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(path: Path) -> None:
    """Write ``path`` until its disk is full (bounded by the disk's own size)."""
    with open(path, "wb") as ballast, contextlib.suppress(OSError):  # ENOSPC: full
        while True:
            ballast.write(b"\0" * 65536)
            ballast.flush()


def test_a_full_disk_makes_the_api_unready_and_it_recovers(tmp_path: Path) -> None:
    """SQLite on a disk that fills up: webhooks get 503 (nothing recorded), and /readyz
    says so too (it used to answer ready: reads still worked); room again, both recover."""
    with contextlib.ExitStack() as stack:
        disk = stack.enter_context(_small_disk(tmp_path / "disk", "24m"))
        broker = stack.enter_context(_redis(tmp_path))
        env = _env(disk, f"sqlite:///{disk / 'orchestrator.db'}", broker)
        _migrate(env)
        api = _gunicorn(stack, env, tmp_path / "api.log")
        with httpx.Client(base_url=api.url, headers=HEADERS, timeout=10, trust_env=False) as c:
            assert c.get("/readyz").status_code == 200
            assert c.post("/api/webhooks/radarr", json=RADARR_TEST).status_code == 202

            _fill(disk / "ballast")
            hook = c.post("/api/webhooks/radarr", json=RADARR_TEST)
            ready = c.get("/readyz")
            assert hook.status_code == 503, hook.text
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"] == {"database": False, "broker": True}

            (disk / "ballast").unlink()
            assert c.get("/readyz").status_code == 200
            assert c.post("/api/webhooks/radarr", json=RADARR_TEST).status_code == 202
        assert "Traceback" not in api.log()


# --- 3. the database is locked (SQLite) ---------------------------------------------


def test_a_write_locked_sqlite_database_is_a_503_then_serves_again(tmp_path: Path) -> None:
    """A lock held longer than the busy timeout: writes give up with a 503, reads go on
    (WAL), nothing is published; once the lock is gone, writes are accepted at once.

    ``orchestrator.storage.db`` fixes the busy timeout at 30 s (no setting), so this API runs
    with it patched to 1 s; the next test covers the real 30 s.
    """
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(_redis(tmp_path))
        env = _env(tmp_path, url, broker)
        _migrate(env)
        api = _werkzeug(stack, env, tmp_path / "api.log", SHORT_BUSY_TIMEOUT_S)
        echo = {"type": "test-echo", "payload": {}}
        with httpx.Client(base_url=api.url, headers=HEADERS, timeout=30, trust_env=False) as c:
            assert c.post("/api/v1/jobs", json=echo).status_code == 202
            before = queue_depths(broker)

            locker = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
            stack.callback(locker.close)
            locker.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            refused = [
                c.post("/api/v1/jobs", json=echo),
                c.post("/api/webhooks/radarr", json=TEST_WEBHOOK),
            ]
            waited = time.monotonic() - started
            listed = c.get("/api/v1/jobs")
            locked_depths = queue_depths(broker)
            locker.execute("ROLLBACK")

            started = time.monotonic()
            accepted = c.post("/api/v1/jobs", json=echo)
            took = time.monotonic() - started
            hook = c.post("/api/webhooks/radarr", json=TEST_WEBHOOK)

        for response in refused:
            _assert_unavailable(response)
        # Each write queued on the busy timeout before it gave up, rather than at once.
        assert waited >= len(refused) * SHORT_BUSY_TIMEOUT_S * 0.9, waited
        assert listed.status_code == 200 and len(listed.json()["items"]) == 1
        assert locked_depths == before  # a refused write published nothing
        assert (accepted.status_code, hook.status_code) == (202, 202), (accepted.text, hook.text)
        assert took < SHORT_BUSY_TIMEOUT_S, took
        log = api.log()
        assert "Traceback" not in log and "database is locked" in log, log
    statuses = [state for state, _ in _jobs(url).values()]
    assert statuses == ["pending"] * 3  # the first job and the two accepted after the lock


def test_with_the_default_busy_timeout_a_write_waits_out_a_short_lock(tmp_path: Path) -> None:
    """The production API (30 s busy timeout): a write that meets a 2 s lock waits, then
    succeeds; the client sees a slow 202, not an error."""
    path = tmp_path / "short-lock.db"
    url = f"sqlite:///{path}"
    hold = 2.0
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(_redis(tmp_path))
        env = _env(tmp_path, url, broker)
        _migrate(env)
        api = _gunicorn(stack, env, tmp_path / "api.log")
        with httpx.Client(base_url=api.url, headers=HEADERS, timeout=30, trust_env=False) as c:
            assert c.get("/readyz").status_code == 200  # puts the file in WAL mode
            locker = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
            stack.callback(locker.close)
            locker.execute("BEGIN EXCLUSIVE")
            release = threading.Timer(hold, locker.execute, args=("ROLLBACK",))
            release.start()
            stack.callback(release.cancel)
            started = time.monotonic()
            response = c.post("/api/webhooks/radarr", json=TEST_WEBHOOK)
            took = time.monotonic() - started
            release.join()
    assert response.status_code == 202, response.text
    assert hold * 0.9 <= took < hold + 5, took


# --- 4. SQLite under concurrent API and worker writers ------------------------------


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def test_sqlite_takes_concurrent_api_and_worker_writers_without_lock_errors(
    tmp_path: Path,
) -> None:
    """16 clients post jobs and webhooks for 12 s to gunicorn (2 processes) while a
    worker (concurrency 2) runs them, all on one SQLite file: every answer is a 202, no
    process meets "database is locked", and every accepted job completes."""
    path = tmp_path / "load.db"
    url = f"sqlite:///{path}"
    results: list[tuple[int, float, str | None]] = []  # status, seconds, job id
    failures: list[str] = []
    guard = threading.Lock()

    def load(index: int, base_url: str, stop_at: float) -> None:
        with httpx.Client(base_url=base_url, headers=HEADERS, timeout=10, trust_env=False) as c:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                webhook = (index + n) % 2 == 0
                started = time.perf_counter()
                try:
                    if webhook:
                        response = c.post("/api/webhooks/radarr", json=RADARR_TEST)
                    else:
                        job = {"type": "test-echo", "payload": {"client": index, "n": n}}
                        response = c.post("/api/v1/jobs", json=job)
                except httpx.HTTPError as exc:
                    with guard:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                took = time.perf_counter() - started
                job_id = None
                if response.status_code == 202:
                    job_id = response.json()["job_id" if webhook else "id"]
                else:
                    with guard:
                        failures.append(f"{response.status_code}: {response.text[:300]}")
                with guard:
                    results.append((response.status_code, took, job_id))

    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(_redis(tmp_path))
        env = _env(tmp_path, url, broker)
        _migrate(env)
        api = _gunicorn(stack, env, tmp_path / "api.log")
        worker = _Worker(concurrency=2, env={"ORCH_DATABASE_URL": url, "ORCH_BROKER_URL": broker})
        stack.callback(worker.stop)

        started = time.monotonic()
        stop_at = started + LOAD_SECONDS
        threads = [
            threading.Thread(target=load, args=(i, api.url, stop_at), daemon=True)
            for i in range(LOAD_CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(LOAD_SECONDS + 20)
        elapsed = time.monotonic() - started

        accepted = {job_id for _, _, job_id in results if job_id}
        deadline = time.monotonic() + 60
        while True:
            jobs = _jobs(url)
            open_jobs = [i for i in accepted if jobs.get(i, ("missing",))[0] != "completed"]
            if not open_jobs or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        drained = time.monotonic() - started
        api_log, worker_log = api.log(), worker.log()

    latencies = sorted(took for _, took, _ in results)
    print(
        f"\nSQLite, gunicorn 2x16 + worker concurrency 2, {LOAD_CLIENTS} clients,"
        f" {os.cpu_count()} CPUs:"
        f" {len(results)} requests in {elapsed:.1f} s = {len(results) / elapsed:.0f} req/s;"
        f" latency p50 {_percentile(latencies, 0.50) * 1000:.0f} ms,"
        f" p95 {_percentile(latencies, 0.95) * 1000:.0f} ms,"
        f" p99 {_percentile(latencies, 0.99) * 1000:.0f} ms"
        f" (mean {statistics.fmean(latencies) * 1000:.0f} ms);"
        f" {len(accepted) - len(open_jobs)}/{len(accepted)} jobs completed"
        f" {drained:.1f} s after the load began"
    )
    assert failures == [], failures[:10]
    assert len(results) > 100
    for log in (api_log, worker_log):
        assert "database is locked" not in log
        assert "Traceback" not in log
    assert open_jobs == [], f"{len(open_jobs)} accepted jobs not completed"
