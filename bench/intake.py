"""Intake: webhook POSTs per second and latency percentiles at 1, 16 and 64 connections.

The production server (gunicorn as ``orchestrator.stack.api_command`` builds it, 2
workers x 16 threads, fresh SQLite data dir, its own Redis) next to ``bench.bare_flask``
under the same gunicorn command and the same Redis. Levels alternate between the two
servers so that both see the same background load of the shared machine.

Load generator: ``wrk`` (installed with apt-get when missing and possible; a Lua script
reports p50/p95/p99), else a keep-alive asyncio client in Python (``BENCH_LOADGEN=python``
forces it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import (
    API_KEY,
    FIXTURE,
    WEBHOOK_PATH,
    Stack,
    emit,
    free_port,
    load_average,
    log,
    orchestrator_env,
    parse_args,
    percentile,
    use_env,
    wait_http,
)

LEVELS = (1, 16, 64)
WORKERS, THREADS = 2, 16
TARGET_RPS_16 = 1500.0
TARGET_P99_MS = 20.0
TARGET_RATIO = 0.5

WRK_SCRIPT = """
wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "{key}"

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
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
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


def run_python(port: int, body: bytes, connections: int, seconds: float) -> dict[str, Any]:
    """One run of the keep-alive asyncio client."""
    request = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nX-Api-Key: {API_KEY}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body
    return asyncio.run(_python_load("127.0.0.1", port, request, connections, seconds))


# --- the benchmark ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    seconds = 3.0 if args.quick else 10.0
    with Stack("intake") as stack:
        data_dir = stack.root / "data"
        broker = stack.redis()
        env = orchestrator_env(data_dir, broker, ORCH_JOB_MODULES="")
        use_env(env)
        from orchestrator.migrate import upgrade
        from orchestrator.settings import get_settings
        from orchestrator.stack import api_command

        settings = get_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.effective_database_url)

        ports = {"bare": free_port(), "platform": free_port()}
        bare_settings = settings.model_copy(update={"data_dir": stack.root / "bare"})
        bare_settings.data_dir.mkdir()
        bare_command = api_command(bare_settings, "127.0.0.1", ports["bare"], WORKERS, THREADS)
        bare_command[-1] = "bench.bare_flask:app"
        servers = {
            "bare": stack.spawn(
                "gunicorn-bare", bare_command, {**env, "BENCH_REDIS_URL": broker}, stop_timeout=15
            ),
            "platform": stack.spawn(
                "gunicorn-api",
                api_command(settings, "127.0.0.1", ports["platform"], WORKERS, THREADS),
                {**env, "ORCH_SERVICE": "api"},
                stop_timeout=15,
            ),
        }
        for name, process in servers.items():
            wait_http(f"http://127.0.0.1:{ports[name]}/healthz", process)

        body = FIXTURE.read_bytes()
        wrk = find_wrk()
        script = stack.root / "webhook.lua"
        script.write_text(WRK_SCRIPT.format(body=FIXTURE, key=API_KEY))

        def load(name: str, connections: int, duration: float) -> dict[str, Any]:
            if wrk:
                url = f"http://127.0.0.1:{ports[name]}{WEBHOOK_PATH}"
                return run_wrk(wrk, script, url, connections, duration)
            return run_python(ports[name], body, connections, duration)

        log(f"intake: warming up both servers ({'wrk' if wrk else 'python client'})")
        for name in servers:
            load(name, 16, 2.0)
        levels: dict[str, dict[str, Any]] = {"bare": {}, "platform": {}}
        for connections in LEVELS:
            for name in ("bare", "platform"):
                result = load(name, connections, seconds)
                levels[name][str(connections)] = result
                log(
                    f"intake {name:8} c={connections:<3} {result['rps']:8.0f} req/s  "
                    f"p50 {result['p50_ms']:6.1f}  p95 {result['p95_ms']:6.1f}  "
                    f"p99 {result['p99_ms']:6.1f} ms  errors {result['errors']}"
                )

        from sqlalchemy import func, select

        from orchestrator.db import read_session
        from orchestrator.models import Job

        with read_session() as session:
            recorded = session.scalar(select(func.count()).where(Job.type == "webhook"))
        sent = sum(r["requests"] for r in levels["platform"].values())

    at16 = levels["platform"]["16"]
    ratio = at16["rps"] / levels["bare"]["16"]["rps"]
    results = {
        "quick": args.quick,
        "loadgen": "wrk" if wrk else "python-asyncio",
        "seconds_per_level": seconds,
        "server": f"gunicorn gthread {WORKERS} workers x {THREADS} threads",
        "levels": levels,
        "ratio_rps": {
            c: levels["platform"][c]["rps"] / levels["bare"][c]["rps"] for c in levels["platform"]
        },
        "webhook_jobs_recorded": recorded,
        "platform_requests_measured": sent,
        "targets": {
            "rps_16": {
                "value": at16["rps"],
                "target": TARGET_RPS_16,
                "met": at16["rps"] >= TARGET_RPS_16,
            },
            "p99_16_ms": {
                "value": at16["p99_ms"],
                "target": TARGET_P99_MS,
                "met": at16["p99_ms"] <= TARGET_P99_MS,
            },
            "ratio_16": {"value": ratio, "target": TARGET_RATIO, "met": ratio >= TARGET_RATIO},
        },  # fmt: skip
        "load_average": load_average(),
    }
    emit(results, args.out)
    return results


if __name__ == "__main__":
    main()
