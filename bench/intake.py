"""Intake: webhook POSTs per second and latency percentiles at 1, 16 and 64 connections.

The production server (gunicorn as ``orchestrator.processes.stack.api_command`` builds it, 2
workers x 16 threads, fresh SQLite data dir, its own Redis) next to what a user would run
instead, on the same Redis:

- ``bench.peer_flask_send_task``: a Flask endpoint that checks the API key, parses the
  body and calls Celery's ``send_task`` (no SQL), under the same gunicorn command;
- Flower's ``POST /api/task/async-apply/bench.webhook`` with basic auth and the body
  ``{"kwargs": <the webhook body>}`` (``celery -A bench.bare_celery flower``);
- ``bench.bare_flask`` (an LPUSH of the body), the floor, under the same gunicorn command.

Levels alternate between the servers so that all see the same background load of the
shared machine. No worker runs: the tasks and jobs stay queued.

Load generator: ``wrk`` (installed with apt-get when missing and possible; a Lua script
reports p50/p95/p99), else a keep-alive asyncio client in Python (``BENCH_LOADGEN=python``
forces it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import (
    ALL_QUEUES,
    API_KEY,
    FIXTURE,
    WEBHOOK_PATH,
    Stack,
    finish,
    free_port,
    log,
    parse_args,
    percentile,
    wait_http,
)

LEVELS = (1, 16, 64)
WORKERS, THREADS = 2, 16
SERVERS = ("bare", "send_task", "flower", "platform")
LABELS = {
    "bare": "bare Flask + LPUSH",
    "send_task": "Flask + Celery send_task",
    "flower": "Flower async-apply",
    "platform": "orchestrator API",
}
# docs/design.md §7.4: the platform's req/s at 16 connections over each peer's, same run.
TARGET_RATIO_SEND_TASK = 1.0  # and a p99 no worse than the peer's
TARGET_RATIO_FLOWER = 1.0
FLOWER_USER, FLOWER_PASSWORD = "bench", "bench-flower-password"
FLOWER_PATH = "/api/task/async-apply/bench.webhook"

WRK_SCRIPT = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
{headers}

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d,'
    .. ' "p99_us": %d, "max_us": %d, "status_errors": %d, "socket_errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


# --- load generators ------------------------------------------------------------------------


def find_wrk() -> str | None:
    """``wrk``, installed with apt-get if it is missing and this runs as root."""
    if os.environ.get("BENCH_LOADGEN") == "python":
        return None
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    log("wrk is missing: apt-get install -y wrk")
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, **quiet,
                          timeout=180).returncode != 0:  # fmt: skip
            subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=180, **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, timeout=180,
                           **quiet)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        log(f"could not install wrk ({exc}): using the Python load generator")
    return shutil.which("wrk")


def run_wrk(wrk: str, script: Path, url: str, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run; latencies in milliseconds."""
    threads = min(2, connections)
    command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
               "--timeout", "10s", "-s", str(script), url]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^BENCHJSON (.*)$", output, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "seconds": round(duration, 3),
        "rps": raw["requests"] / duration,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": raw["status_errors"] + raw["socket_errors"],
    }


async def _python_load(
    host: str, port: int, request: bytes, connections: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    duration = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return {
        "requests": len(latencies),
        "seconds": round(duration, 3),
        "rps": len(latencies) / duration,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms, default=float("nan")),
        "errors": errors,
    }


def run_python(
    port: int, path: str, body: bytes, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, Any]:
    """One run of the keep-alive asyncio client."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body
    return asyncio.run(_python_load("127.0.0.1", port, request, connections, seconds))


# --- the benchmark ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its children alive now (gunicorn's
    workers), from /proc; 0 where /proc is not there."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    seconds = 3.0 if args.quick else 10.0
    with Stack("intake") as stack:
        broker, env = stack.platform(ORCH_JOB_MODULES="")
        from orchestrator.processes.stack import api_command, flower_command
        from orchestrator.runtime import current
        from orchestrator.storage.migrate import upgrade

        settings = current().settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.effective_database_url)

        ports = {name: free_port() for name in SERVERS if name != "platform"}
        peer_env = {**env, "BENCH_REDIS_URL": broker, "BENCH_RESULT_BACKEND": ""}

        def gunicorn_peer(name: str, application: str) -> Any:
            """``application`` under the API's gunicorn command (a data dir of its own for
            gunicorn's control socket)."""
            peer_settings = settings.model_copy(update={"data_dir": stack.root / name})
            peer_settings.data_dir.mkdir()
            command = api_command(peer_settings, "127.0.0.1", ports[name], WORKERS, THREADS)
            command[-1] = application
            return stack.spawn(f"gunicorn-{name}", command, peer_env, stop_timeout=15)

        flower = flower_command("127.0.0.1", ports["flower"])
        flower[flower.index("-A") + 1] = "bench.bare_celery"
        flower.append(f"--basic-auth={FLOWER_USER}:{FLOWER_PASSWORD}")
        servers = {
            "bare": gunicorn_peer("bare", "bench.bare_flask:app"),
            "send_task": gunicorn_peer("send_task", "bench.peer_flask_send_task:app"),
            "flower": stack.spawn("flower", flower, peer_env, stop_timeout=15),
        }
        for name, process in servers.items():
            health = "/healthcheck" if name == "flower" else "/healthz"
            wait_http(f"http://127.0.0.1:{ports[name]}{health}", process)
        servers["platform"], ports["platform"] = stack.api(env, workers=WORKERS, threads=THREADS)

        body = FIXTURE.read_bytes()
        flower_body = stack.root / "flower-body.json"
        flower_body.write_bytes(b'{"kwargs": ' + body + b"}")
        basic = base64.b64encode(f"{FLOWER_USER}:{FLOWER_PASSWORD}".encode()).decode()
        requests: dict[str, tuple[str, Path, dict[str, str]]] = {
            name: (WEBHOOK_PATH, FIXTURE, {"X-Api-Key": API_KEY})
            for name in ("bare", "send_task", "platform")
        }
        requests["flower"] = (FLOWER_PATH, flower_body, {"Authorization": f"Basic {basic}"})
        wrk = find_wrk()
        scripts = {}
        for name, (_, body_file, headers) in requests.items():
            scripts[name] = stack.root / f"{name}.lua"
            lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
            scripts[name].write_text(WRK_SCRIPT.format(body=body_file, headers=lines))

        def load(name: str, connections: int, duration: float) -> dict[str, Any]:
            path, body_file, headers = requests[name]
            if wrk:
                url = f"http://127.0.0.1:{ports[name]}{path}"
                return run_wrk(wrk, scripts[name], url, connections, duration)
            return run_python(
                ports[name], path, body_file.read_bytes(), headers, connections, duration
            )

        log(f"intake: warming up the servers ({'wrk' if wrk else 'python client'})")
        for name in servers:
            load(name, 16, 2.0)
        levels: dict[str, dict[str, Any]] = {name: {} for name in SERVERS}
        # Where the CPU goes at 16 connections: the server's processes, and the Redis all
        # share (wrk's own is left out). On 2 cores this, not waiting, bounds req/s.
        cpu_ms: dict[str, dict[str, float]] = {}
        redis_pid = stack.processes["redis"].pid
        for connections in LEVELS:
            for name in SERVERS:
                before = cpu_seconds(servers[name].pid), cpu_seconds(redis_pid)
                result = load(name, connections, seconds)
                after = cpu_seconds(servers[name].pid), cpu_seconds(redis_pid)
                levels[name][str(connections)] = result
                if connections == 16 and result["requests"]:
                    per_request = 1000 / result["requests"]
                    cpu_ms[name] = {
                        "server": (after[0] - before[0]) * per_request,
                        "redis": (after[1] - before[1]) * per_request,
                    }
                log(
                    f"intake {name:9} c={connections:<3} {result['rps']:8.0f} req/s  "
                    f"p50 {result['p50_ms']:6.1f}  p95 {result['p95_ms']:6.1f}  "
                    f"p99 {result['p99_ms']:6.1f} ms  errors {result['errors']}"
                )

        from sqlalchemy import func, select

        from orchestrator.jobs.models import Job
        from orchestrator.storage.db import read_session

        with read_session() as session:
            recorded = session.scalar(select(func.count()).where(Job.type == "webhook"))
        sent = sum(r["requests"] for r in levels["platform"].values())
        import redis

        client = redis.Redis.from_url(broker)
        # The queues' lists (one per priority step): the peers' tasks and the platform's
        # jobs, none of them run.
        queues = set(ALL_QUEUES.split(","))
        broker_messages = sum(
            int(client.llen(key))
            for key in client.scan_iter(count=1000)
            if key.decode().split(":")[0] in queues and client.type(key) == b"list"
        )

    at16 = levels["platform"]["16"]

    def ratios(peer: str) -> dict[str, float]:
        return {c: levels["platform"][c]["rps"] / levels[peer][c]["rps"] for c in levels[peer]}

    peer_ratios = {peer: ratios(peer) for peer in SERVERS if peer != "platform"}
    send_task16, flower16 = levels["send_task"]["16"], levels["flower"]["16"]
    results = {
        "quick": args.quick,
        "loadgen": "wrk" if wrk else "python-asyncio",
        "seconds_per_level": seconds,
        "server": f"gunicorn gthread {WORKERS} workers x {THREADS} threads",
        "servers": {name: LABELS[name] for name in SERVERS},
        "levels": levels,
        "ratio_rps": peer_ratios["bare"],
        "ratio_rps_peers": peer_ratios,
        "cpu_ms_per_request_16": cpu_ms,
        "webhook_jobs_recorded": recorded,
        "platform_requests_measured": sent,
        "broker_messages_queued": broker_messages,
        "targets": {
            "ratio_16_send_task": {
                "value": peer_ratios["send_task"]["16"],
                "target": TARGET_RATIO_SEND_TASK,
                "met": peer_ratios["send_task"]["16"] >= TARGET_RATIO_SEND_TASK,
            },
            "p99_16_send_task": {
                "value": at16["p99_ms"],
                "target": send_task16["p99_ms"],
                "met": at16["p99_ms"] <= send_task16["p99_ms"],
            },
            "ratio_16_flower": {
                "value": at16["rps"] / flower16["rps"],
                "target": TARGET_RATIO_FLOWER,
                "met": at16["rps"] / flower16["rps"] >= TARGET_RATIO_FLOWER,
            },
        },
    }
    return finish(results, args.out)


if __name__ == "__main__":
    main()
