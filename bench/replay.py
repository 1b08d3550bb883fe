"""Replay amplification: 200 event streams resuming from ``Last-Event-ID: 0`` at once.

The production API (gunicorn as ``orchestrator.processes.stack.api_command`` builds it: two
processes) over a fresh SQLite data dir holding ``EVENTS`` stored events. 200 clients open
``/api/v1/events`` with ``Last-Event-ID: 0`` and read everything they are sent, as fast
as they can, for ``SECONDS``; meanwhile ``/healthz`` and a job submission are timed every
half second. Reported: bytes the streams received, the answers' median and worst times,
and the API's resident memory (gunicorn master and workers, ``VmRSS``) idle, at its peak
and 40 s after the streams closed.
Run: ``python -m bench.replay [--quick]`` (20 s of streams instead of 60).
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from typing import Any

from bench import API_KEY, Stack, finish, log, parse_args, percentile, tree_rss_kib

STREAMS = 200
EVENTS = 9_300
JOB = b'{"type": "webhook", "payload": {"eventType": "Test"}}'


def seed_events(count: int) -> None:
    """One job and ``count`` progress events of it, written directly."""
    from sqlalchemy import insert

    from orchestrator import submit
    from orchestrator.jobs.models import JobEvent, utcnow
    from orchestrator.storage.db import write_session

    job = submit("webhook", {"eventType": "Test"}).job
    row = {
        "job_id": job.id, "root_id": job.id, "job_type": job.type, "name": "job.progress",
        "status": "processing", "attempt": 1, "created_at": utcnow(),
    }  # fmt: skip
    with write_session() as session:
        session.execute(
            insert(JobEvent),
            [{**row, "data": {"percent": n % 100, "message": f"step {n}"}} for n in range(count)],
        )


def read_streams(port: int, count: int, seconds: float, received: list[int]) -> None:
    """Open ``count`` streams from id 0 and read them for ``seconds``; bytes into ``received``."""
    head = (
        f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {API_KEY}\r\n"
        "Last-Event-ID: 0\r\nConnection: close\r\n\r\n"
    ).encode()
    socks = []
    with selectors.DefaultSelector() as selector:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(head)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            socks.append(sock)
        ends = time.monotonic() + seconds
        while time.monotonic() < ends and selector.get_map():
            for key, _ in selector.select(0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(262144)
                except (BlockingIOError, ConnectionResetError):
                    continue
                if not data:
                    selector.unregister(sock)
                received[0] += len(data)
    for sock in socks:
        sock.close()


def timed(method: str, url: str, body: bytes | None = None) -> float:
    """Seconds one request on a new connection took (it must succeed)."""
    import httpx

    started = time.monotonic()
    response = httpx.request(
        method, url, content=body, timeout=30,
        headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
    )  # fmt: skip
    response.raise_for_status()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    seconds = 20.0 if args.quick else 60.0
    with Stack("replay") as stack:
        _, env = stack.platform(ORCH_JOB_MODULES="")
        from orchestrator.runtime import current
        from orchestrator.storage.migrate import upgrade

        current().settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade()
        seed_events(EVENTS)
        api, port = stack.api(env)
        url = f"http://127.0.0.1:{port}"
        idle = sum(tree_rss_kib(api.pid).values())
        received = [0]
        reader = threading.Thread(target=read_streams, args=(port, STREAMS, seconds, received))
        started = time.monotonic()
        reader.start()
        health: list[float] = []
        submit: list[float] = []
        peak = idle
        while reader.is_alive():
            health.append(timed("GET", f"{url}/healthz"))
            submit.append(timed("POST", f"{url}/api/v1/jobs", JOB))
            peak = max(peak, sum(tree_rss_kib(api.pid).values()))
            time.sleep(0.5)
        reader.join()
        elapsed = time.monotonic() - started
        # A closed stream ends at its next write: after its pause and a keep-alive (15 s).
        time.sleep(40)
        after = sum(tree_rss_kib(api.pid).values())

    results = {
        "streams": STREAMS,
        "stored_events": EVENTS,
        "seconds": elapsed,
        "received_mb": received[0] / 1e6,
        "received_mb_per_s": received[0] / 1e6 / elapsed,
        "healthz_ms": {"p50": percentile(health, 50) * 1000, "max": max(health) * 1000},
        "submit_ms": {"p50": percentile(submit, 50) * 1000, "max": max(submit) * 1000},
        "api_mib": {"idle": idle / 1024, "peak": peak / 1024, "after": after / 1024},
    }
    log(
        f"replay: {results['received_mb']:.1f} MB in {elapsed:.0f} s; healthz p50 "
        f"{results['healthz_ms']['p50']:.0f} ms max {results['healthz_ms']['max']:.0f} ms; "
        f"submit p50 {results['submit_ms']['p50']:.0f} ms max {results['submit_ms']['max']:.0f}"
        f" ms; API {idle / 1024:.0f} → peak {peak / 1024:.0f} → {after / 1024:.0f} MiB"
    )
    return finish(results, args.out)


if __name__ == "__main__":
    main()
