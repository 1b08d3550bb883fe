"""Large payloads: what 1,000 queued jobs of a mebibyte cost the broker and the API.

The production API (gunicorn as ``orchestrator.processes.stack.api_command`` builds it) over a fresh
SQLite data dir and its own Redis, no worker: every job stays queued. 1,000 jobs whose
payload is a string of about a mebibyte are submitted by 4 clients; then Redis is paused
(SIGSTOP) while 500 more are submitted, and resumed, so that the relay publishes them in
one go. Reported: Redis's ``used_memory``, and the resident memory (``VmRSS``) of the
gunicorn master, which runs the relay, and of its workers, at the start, after each
phase and at their peak.
Run: ``python -m bench.payload_memory [--quick]`` (200 and 100 jobs instead).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

from bench import API_KEY, Stack, finish, log, parse_args, rss_kib, tree_rss_kib, wait_until

CLIENTS = 4
BLOB = 1024 * 1024 - 200  # the body stays under the 1 MiB limit


def submit(url: str, count: int) -> None:
    """Submit ``count`` jobs with a large payload from ``CLIENTS`` clients; all must be 202."""
    import httpx

    body = json.dumps({"type": "webhook", "payload": {"eventType": "Test", "x": "y" * BLOB}})
    headers = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}
    failures: list[str] = []

    def client(share: int) -> None:
        with httpx.Client(timeout=60) as http:
            for _ in range(share):
                response = http.post(f"{url}/api/v1/jobs", content=body, headers=headers)
                if response.status_code != 202:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(count // CLIENTS,)) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} submissions refused, first: {failures[0]}")


def unpublished() -> int:
    from sqlalchemy import func, select

    from orchestrator.jobs.models import Job
    from orchestrator.storage.db import read_session

    with read_session() as session:
        query = select(func.count()).where(Job.dispatched_at.is_(None))
        return int(session.scalar(query) or 0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    first, second = (200, 100) if args.quick else (1000, 500)
    with Stack("payloads") as stack:
        broker, env = stack.platform(ORCH_JOB_MODULES="")
        import redis

        from orchestrator.runtime import current
        from orchestrator.storage.migrate import upgrade

        current().settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade()
        api, port = stack.api(env)
        url = f"http://127.0.0.1:{port}"
        client = redis.Redis.from_url(broker)
        peak = {"master": 0, "workers": 0}
        points: dict[str, dict[str, float]] = {}
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.2):
                tree = tree_rss_kib(api.pid)
                master = tree.pop(api.pid, 0)
                peak["master"] = max(peak["master"], master)
                peak["workers"] = max(peak["workers"], sum(tree.values()))

        def point(name: str) -> None:
            tree = tree_rss_kib(api.pid)
            master = tree.pop(api.pid, 0)
            points[name] = {
                "redis_mib": int(client.info("memory")["used_memory"]) / 2**20,
                "master_mib": master / 1024,
                "workers_mib": sum(tree.values()) / 1024,
            }
            log(f"{name}: " + ", ".join(f"{k} {v:.0f}" for k, v in points[name].items()))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        point("start")
        submit(url, first)
        wait_until(lambda: unpublished() == 0, timeout=300, what="every job published")
        point(f"{first} jobs queued")
        redis_pid = stack.processes["redis"].pid
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            submit(url, second)
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        wait_until(lambda: unpublished() == 0, timeout=300, what="every job published")
        time.sleep(1)
        point(f"{second} more, published after a pause")
        done.set()
        watcher.join()
        master_now = rss_kib(api.pid)

    results = {
        "jobs": [first, second],
        "payload_bytes": BLOB,
        "points": points,
        "peak_mib": {name: kib / 1024 for name, kib in peak.items()},
        "master_after_mib": master_now / 1024,
    }
    log(f"peak: master {peak['master'] / 1024:.0f} MiB, workers {peak['workers'] / 1024:.0f} MiB")
    return finish(results, args.out)


if __name__ == "__main__":
    main()
