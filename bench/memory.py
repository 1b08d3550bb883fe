"""Memory: resident memory of the API and the worker before, after 5,000 and after 10,000 jobs.

The production API (gunicorn as ``orchestrator.processes.stack.api_command`` builds it) and a worker
(concurrency 2) on a fresh SQLite data dir and their own Redis. Jobs come in as Radarr
webhooks (``tests/fixtures/radarr_test.json``: each one a ``webhook`` job) posted by a few
keep-alive client threads, in chunks; the worker runs them as they come. RSS is ``VmRSS``
of /proc/<pid>/status summed over the gunicorn master and its workers, and over the Celery
main process and its pool processes. "Before" is after a warm-up of 200 jobs; the
checkpoints wait until every job so far completed. The second half must not grow.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from bench import (
    API_KEY,
    FIXTURE,
    WEBHOOK_PATH,
    Stack,
    finish,
    log,
    parse_args,
    tree_rss_kib,
    wait_until,
)

CLIENT_THREADS = 6
WARMUP = 200
# "Not growing": the second half adds at most this much (MiB), or this share of the RSS.
FLAT_MIB, FLAT_SHARE = 4.0, 0.02


def post_webhooks(url: str, count: int) -> None:
    """POST ``count`` webhooks from ``CLIENT_THREADS`` keep-alive clients; all must be 202."""
    import httpx

    body = FIXTURE.read_bytes()
    headers = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}
    failures: list[str] = []

    def client(share: int) -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(share):
                response = http.post(url + WEBHOOK_PATH, content=body, headers=headers)
                if response.status_code != 202:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    shares = [count // CLIENT_THREADS + (n < count % CLIENT_THREADS) for n in range(CLIENT_THREADS)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} webhooks refused, first: {failures[0]}")


def completed_jobs() -> int:
    from sqlalchemy import func, select

    from orchestrator.jobs.models import Job
    from orchestrator.storage.db import read_session

    with read_session() as session:
        query = select(func.count()).where(Job.type == "webhook", Job.status == "completed")
        return int(session.scalar(query) or 0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    half = 1000 if args.quick else 5000
    chunk = half // 5
    with Stack("memory") as stack:
        _, env = stack.platform(ORCH_JOB_MODULES="")
        from orchestrator.runtime import current
        from orchestrator.storage.migrate import upgrade

        settings = current().settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade()
        api, port = stack.api(env)
        url = f"http://127.0.0.1:{port}"
        worker = stack.worker("memory", env, concurrency=2)

        def sample(jobs: int | None, settle: bool) -> dict[str, Any]:
            if settle and jobs is not None:
                wait_until(
                    lambda: completed_jobs() >= jobs + WARMUP,
                    timeout=900,
                    interval=0.25,
                    what=f"{jobs} jobs completed",
                )
                time.sleep(1.0)
            api_rss, worker_rss = tree_rss_kib(api.pid), tree_rss_kib(worker.pid)
            point = {
                "jobs": jobs,
                "settled": settle,
                "api_kib": sum(api_rss.values()),
                "worker_kib": sum(worker_rss.values()),
                "api_processes": len(api_rss),
                "worker_processes": len(worker_rss),
            }
            when = "idle" if jobs is None else f"after {jobs} jobs"
            log(
                f"memory {when}: API {point['api_kib'] / 1024:7.1f} MiB "
                f"({len(api_rss)} processes), worker {point['worker_kib'] / 1024:7.1f} MiB "
                f"({len(worker_rss)} processes)"
            )
            return point

        idle = sample(None, settle=False)
        post_webhooks(url, WARMUP)
        samples = [sample(0, settle=True)]
        started = time.monotonic()
        for done in range(chunk, 2 * half + 1, chunk):
            post_webhooks(url, chunk)
            samples.append(sample(done, settle=done % half == 0))
        seconds = time.monotonic() - started

    by_jobs = {s["jobs"]: s for s in samples if s["settled"]}
    before, middle, after = by_jobs[0], by_jobs[half], by_jobs[2 * half]
    services: dict[str, Any] = {}
    for name in ("api", "worker"):
        key = f"{name}_kib"
        first, second = middle[key] - before[key], after[key] - middle[key]
        limit = max(FLAT_MIB * 1024, FLAT_SHARE * middle[key])
        services[name] = {
            "idle_mib": idle[key] / 1024,
            "before_mib": before[key] / 1024,
            "middle_mib": middle[key] / 1024,
            "after_mib": after[key] / 1024,
            "growth_first_half_mib": first / 1024,
            "growth_second_half_mib": second / 1024,
            "second_half_bytes_per_job": second * 1024 / half,
            "flat": second <= limit,
            "flat_limit_mib": limit / 1024,
        }
    results = {
        "quick": args.quick,
        "checkpoints": [0, half, 2 * half],
        "idle": idle,
        "samples": samples,
        "services": services,
        "jobs_per_s": 2 * half / seconds,
        "targets": {
            f"{name}_flat": {
                "value": services[name]["growth_second_half_mib"],
                "target": services[name]["flat_limit_mib"],
                "met": services[name]["flat"],
            }
            for name in services
        },
    }
    return finish(results, args.out)


if __name__ == "__main__":
    main()
