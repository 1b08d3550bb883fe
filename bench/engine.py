"""Engine: no-op jobs per second through the platform, next to bare Celery no-op tasks.

Platform: N ``bench-noop`` jobs submitted with ``orchestrator.submit`` from this process
while a worker (concurrency 2, prefork, the flags of ``orchestrator.stack.worker_command``)
runs them; timed from the first submit to the last ``completed_at`` in SQL. Then chains:
a ``bench-chain`` root submits a child which submits a grandchild (3 jobs per chain).

Baseline: ``bench.bare_celery`` on the same Redis with the same worker flags; N ``bench.noop``
tasks sent with ``send_task``, timed from the first send to the last task's Redis counter
update, and the same three-step chain. The baseline runs before and after the platform and
the mean of the two is the baseline (the spread shows the machine's noise).

With ``ORCH_BENCH_POSTGRES_URL`` the platform runs again on a scratch PostgreSQL database
(created and dropped here, as ``tests/conftest.py`` does).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime
from typing import Any

from bench import (
    Stack,
    emit,
    load_average,
    log,
    orchestrator_env,
    parse_args,
    stop_process,
    use_env,
    wait_until,
)

CONCURRENCY = 2
TARGET_RATIO = 0.5
CHAIN_STEPS = 3


def bare_run(broker: str, tasks: int, chains: int) -> dict[str, Any]:
    """Send ``tasks`` no-op tasks, then ``chains`` chains, to the running bare worker."""
    import redis

    from bench import bare_celery

    client = redis.Redis.from_url(broker)
    client.delete(bare_celery.NOOP_DONE, bare_celery.CHAIN_DONE, bare_celery.LAST_DONE_AT)
    app = bare_celery.app

    def send_all(name: str, count: int, counter: str, expected: int) -> dict[str, float]:
        started = time.time()
        with app.producer_or_acquire() as producer:
            for _ in range(count):
                app.send_task(
                    name,
                    queue=bare_celery.DEFAULT_QUEUE,
                    priority=bare_celery.DEFAULT_PRIORITY,
                    producer=producer,
                )
        sent = time.time()
        wait_until(
            lambda: int(client.get(counter) or 0) >= expected,
            timeout=600,
            interval=0.02,
            what=f"{expected} bare {name} steps",
        )
        finished = float(client.get(bare_celery.LAST_DONE_AT) or time.time())
        seconds = finished - started
        return {
            "seconds": round(seconds, 3),
            "send_seconds": round(sent - started, 3),
            "jobs_per_s": expected / seconds,
            "per_s": count / seconds,
        }

    noop = send_all("bench.noop", tasks, bare_celery.NOOP_DONE, tasks)
    client.delete(bare_celery.LAST_DONE_AT)
    chain = send_all("bench.chain", chains, bare_celery.CHAIN_DONE, chains * CHAIN_STEPS)
    return {"noop": noop, "chain": chain}


def _completed(job_type: str, since: datetime) -> tuple[int, datetime | None]:
    from sqlalchemy import func, select

    from orchestrator.db import read_session
    from orchestrator.models import Job

    with read_session() as session:
        count, last = session.execute(
            select(func.count(), func.max(Job.completed_at)).where(
                Job.type == job_type, Job.status == "completed", Job.created_at >= since
            )
        ).one()
    return int(count), last


def platform_run(tasks: int, chains: int) -> dict[str, Any]:
    """Submit ``tasks`` no-op jobs, then ``chains`` chains, to the running platform worker."""
    from orchestrator import submit
    from orchestrator.models import utcnow

    def submit_all(job_type: str, count: int, expected: int) -> dict[str, float]:
        since = utcnow()
        started = time.time()
        for _ in range(count):
            submit(job_type, {})
        sent = time.time()
        wait_until(
            lambda: _completed(job_type, since)[0] >= expected,
            timeout=900,
            interval=0.25,
            what=f"{expected} {job_type} jobs completed",
        )
        _, last = _completed(job_type, since)
        assert last is not None
        seconds = last.timestamp() - started
        return {
            "seconds": round(seconds, 3),
            "submit_seconds": round(sent - started, 3),
            "submit_per_s": count / (sent - started),
            "jobs_per_s": expected / seconds,
            "per_s": count / seconds,
        }

    noop = submit_all("bench-noop", tasks, tasks)
    chain = submit_all("bench-chain", chains, chains * CHAIN_STEPS)
    return {"noop": noop, "chain": chain}


def split_run(stack: Stack, env: dict[str, str], db_name: str, tasks: int) -> dict[str, float]:
    """Submit and execution apart: ``tasks`` jobs submitted with no worker running, then
    drained by a fresh worker (first ``started_at`` to last ``completed_at``)."""
    from sqlalchemy import func, select

    from orchestrator import submit
    from orchestrator.db import read_session
    from orchestrator.models import Job, utcnow

    since = utcnow()
    started = time.time()
    for _ in range(tasks):
        submit("bench-noop", {})
    submit_seconds = time.time() - started
    stack.worker(f"drain-{db_name}", env, CONCURRENCY)
    wait_until(
        lambda: _completed("bench-noop", since)[0] >= tasks,
        timeout=900,
        interval=0.25,
        what=f"{tasks} queued jobs drained",
    )
    with read_session() as session:
        first, last = session.execute(
            select(func.min(Job.started_at), func.max(Job.completed_at)).where(
                Job.type == "bench-noop", Job.created_at >= since
            )
        ).one()
    drain_seconds = (last - first).total_seconds()
    return {
        "submit_seconds": round(submit_seconds, 3),
        "submit_per_s": tasks / submit_seconds,
        "drain_seconds": round(drain_seconds, 3),
        "drain_per_s": tasks / drain_seconds,
    }


def _postgres_database(base_url: str) -> tuple[str, str]:
    """A fresh database on the server of ``base_url``; returns (SQLAlchemy url, name)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"orch_bench_{uuid.uuid4().hex[:10]}"
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(base_url: str, name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from orchestrator.db import reset_engines

    reset_engines()
    admin = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    tasks = 500 if args.quick else 2000
    chains = tasks // CHAIN_STEPS
    postgres = os.environ.get("ORCH_BENCH_POSTGRES_URL")
    with Stack("engine") as stack:
        broker = stack.redis()
        sqlite_env = orchestrator_env(stack.root / "data", broker)
        use_env(sqlite_env)
        from orchestrator.migrate import upgrade

        upgrade()
        databases: list[tuple[str, dict[str, str]]] = [("sqlite", sqlite_env)]
        if postgres:
            url, name = _postgres_database(postgres)
            stack.callback(_drop_postgres_database, postgres, name)
            databases.append(("postgresql", {**sqlite_env, "ORCH_DATABASE_URL": url}))
            log(f"engine: scratch PostgreSQL database {name}")

        def bare(label: str) -> dict[str, Any]:
            with Stack("engine-bare") as inner:
                inner.worker("bare", sqlite_env, CONCURRENCY, app="bench.bare_celery")
                bare_run(broker, 50, 10)  # warm-up
                result = bare_run(broker, tasks, chains)
            log(
                f"engine bare ({label}): {result['noop']['jobs_per_s']:.0f} tasks/s, "
                f"{result['chain']['per_s']:.1f} chains/s"
            )
            return result

        bare_before = bare("before")
        platform: dict[str, Any] = {}
        for db_name, env in databases:
            use_env(env)
            upgrade()
            with Stack(f"engine-{db_name}") as inner:
                worker = inner.worker(f"platform-{db_name}", env, CONCURRENCY)
                platform_run(50, 10)  # warm-up
                result = platform_run(tasks, chains)
                stop_process(worker)
                result["split"] = split_run(inner, env, db_name, tasks)
            platform[db_name] = result
            log(
                f"engine platform ({db_name}): {result['noop']['jobs_per_s']:.0f} jobs/s "
                f"(submit {result['noop']['submit_per_s']:.0f}/s), "
                f"{result['chain']['per_s']:.1f} chains/s; submit alone "
                f"{result['split']['submit_per_s']:.0f}/s, drain alone "
                f"{result['split']['drain_per_s']:.0f} jobs/s"
            )
        use_env(sqlite_env)
        bare_after = bare("after")

    def mean(kind: str, key: str) -> float:
        return (bare_before[kind][key] + bare_after[kind][key]) / 2

    baseline = {
        "noop_jobs_per_s": mean("noop", "jobs_per_s"),
        "chain_per_s": mean("chain", "per_s"),
    }
    ratios = {
        db: {
            "noop": result["noop"]["jobs_per_s"] / baseline["noop_jobs_per_s"],
            "chain": result["chain"]["per_s"] / baseline["chain_per_s"],
        }
        for db, result in platform.items()
    }
    results = {
        "quick": args.quick,
        "jobs": tasks,
        "chains": chains,
        "concurrency": CONCURRENCY,
        "bare_before": bare_before,
        "bare_after": bare_after,
        "baseline": baseline,
        "platform": platform,
        "ratios": ratios,
        "postgres": bool(postgres),
        "targets": {
            f"ratio_noop_{db}": {
                "value": r["noop"],
                "target": TARGET_RATIO,
                "met": r["noop"] >= TARGET_RATIO,
            }
            for db, r in ratios.items()
        },
        "load_average": load_average(),
    }
    emit(results, args.out)
    return results


if __name__ == "__main__":
    main()
