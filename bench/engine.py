"""Engine: no-op jobs per second through the platform, next to the Celery set-ups a user
would pick instead.

Platform: N ``bench-noop`` jobs submitted with ``orchestrator.submit`` from this process
while a worker (concurrency 2, prefork, the flags of
``orchestrator.processes.stack.worker_command``)
runs them; timed from the first submit to the last ``completed_at`` in SQL. Then chains:
a ``bench-chain`` root submits a child which submits a grandchild (3 jobs per chain).
*Drain alone*: N jobs submitted with no worker running, then drained by a fresh worker,
timed from the first ``started_at`` to the last ``completed_at``. On PostgreSQL the same
drain again with two workers of concurrency 2 (the scale-out figure).

Baseline: ``bench.bare_celery`` on the same Redis with the same worker flags; N ``bench.noop``
tasks sent with ``send_task``, timed from the first send to the last task's Redis counter
update, and the same three-step chain. The baseline runs before and after the platform and
the mean of the two is the baseline (the spread shows the machine's noise).

Peers, drain alone (measured like the platform's: N tasks queued with no worker, one fresh
worker, first task start to last completion, both stamped in Redis by the worker's
``task_prerun`` / ``task_postrun``), before and after the platform, mean of the two:
bare Celery (results ignored), Celery with the Redis result backend, and Celery with its
SQL result backend on a scratch PostgreSQL database (``task_track_started`` and
``result_extended`` on, as the platform records a job's start, name and arguments).

With ``ORCH_BENCH_POSTGRES_URL`` the platform runs again on a scratch PostgreSQL database
(created and dropped here, as ``tests/conftest.py`` does), and the SQL-backend peer runs.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from datetime import datetime
from typing import Any

from bench import (
    ALL_QUEUES,
    Stack,
    finish,
    log,
    parse_args,
    stop_process,
    use_env,
    wait_until,
)

CONCURRENCY = 2
CHAIN_STEPS = 3
SCALE_OUT_WORKERS = 2
PEER_LABELS = {
    "bare": "bare Celery, results ignored",
    "redis_backend": "Celery + Redis result backend",
    "sql_backend": "Celery + SQL result backend (PostgreSQL)",
}
# docs/design.md §7.4: the platform's drain-alone figure over a peer's, in the same run.
DRAIN_TARGETS = {
    "sqlite": ("bare", 0.5),
    "postgresql": ("sql_backend", 1.0),
}


def start_workers(
    stack: Stack, name: str, env: dict[str, str], count: int, app: str = "orchestrator"
) -> list[subprocess.Popen[bytes]]:
    """``count`` workers as :meth:`Stack.worker` starts them (``worker_command`` flags, with
    ``-A app``, each its own hostname), all spawned before waiting for any to be ready, so
    that none of them starts draining a queue long before the others."""
    from orchestrator.processes.stack import worker_command

    started = []
    for index in range(1, count + 1):
        hostname = f"{name}-{index}-{uuid.uuid4().hex[:6]}@localhost"
        command = worker_command(
            ALL_QUEUES, concurrency=CONCURRENCY, pool="prefork", hostname=hostname
        )
        command[command.index("-A") + 1] = app
        process = stack.spawn(f"{name}-{index}", command, env)
        started.append((hostname, process, stack.logs[-1]))
    deadline = time.monotonic() + 60
    waiting = list(started)
    while waiting:
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker {waiting[0][0]} not ready after 60 s; see {waiting[0][2]}")
        for entry in list(waiting):
            hostname, process, log_path = entry
            if process.poll() is not None:
                raise RuntimeError(f"worker {hostname} exited early; see {log_path}")
            if f"{hostname} ready." in log_path.read_text(errors="replace"):
                waiting.remove(entry)
        time.sleep(0.05)
    return [process for _, process, _ in started]


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

    from orchestrator.jobs.models import Job
    from orchestrator.storage.db import read_session

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
    from orchestrator.jobs.models import utcnow

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


def split_run(
    stack: Stack, env: dict[str, str], db_name: str, tasks: int, workers: int = 1
) -> dict[str, Any]:
    """Submit and execution apart: ``tasks`` jobs submitted with no worker running, then
    drained by ``workers`` fresh workers (first ``started_at`` to last ``completed_at``)."""
    from sqlalchemy import func, select

    from orchestrator import submit
    from orchestrator.jobs.models import Job, utcnow
    from orchestrator.storage.db import read_session

    since = utcnow()
    started = time.time()
    for _ in range(tasks):
        submit("bench-noop", {})
    submit_seconds = time.time() - started
    name = f"drain-{db_name}" if workers == 1 else f"drain{workers}x-{db_name}"
    processes = start_workers(stack, name, env, workers)
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
        per_worker = session.execute(
            select(func.count(), func.min(Job.started_at))
            .where(Job.type == "bench-noop", Job.created_at >= since)
            .group_by(Job.worker)
        ).all()
    for process in processes:
        stop_process(process)
    assert first is not None and last is not None
    drain_seconds = (last - first).total_seconds()
    return {
        "workers": workers,
        "submit_seconds": round(submit_seconds, 3),
        "submit_per_s": tasks / submit_seconds,
        "drain_seconds": round(drain_seconds, 3),
        "drain_per_s": tasks / drain_seconds,
        # How the jobs spread over the workers, and how long after the first job the last
        # worker to join started its first one (its start-up inside the timed window).
        "jobs_per_worker": sorted((int(count) for count, _ in per_worker), reverse=True),
        "last_worker_joined_s": round(
            max((joined - first).total_seconds() for _, joined in per_worker if joined), 3
        ),
    }


def peer_drain(
    stack: Stack, name: str, env: dict[str, str], broker: str, tasks: int
) -> dict[str, float]:
    """A Celery peer's drain alone, measured as :func:`split_run` measures the platform's:
    ``tasks`` tasks sent with no worker running, then one fresh ``bench.bare_celery``
    worker whose environment picks the result settings; first task start to last
    completion. The tasks are ``bench.drain`` no-ops, then one ``bench.drain-end`` per
    pool process, whose finish times end the drain (see ``bench.bare_celery``)."""
    import redis

    from bench import bare_celery

    client = redis.Redis.from_url(broker)
    client.delete(bare_celery.FIRST_STARTED_AT, bare_celery.DRAIN_ENDED)
    # The sending app stores no results; the worker's app (from ``env``) decides what the
    # worker stores, as the message leaves ``ignore_result`` unset.
    app = bare_celery.app
    task_names = [bare_celery.DRAIN] * (tasks - CONCURRENCY)
    task_names += [bare_celery.DRAIN_END] * CONCURRENCY
    started = time.time()
    with app.producer_or_acquire() as producer:
        for task_name in task_names:
            app.send_task(
                task_name,
                queue=bare_celery.DEFAULT_QUEUE,
                priority=bare_celery.DEFAULT_PRIORITY,
                producer=producer,
            )
    send_seconds = time.time() - started
    processes = start_workers(stack, f"drain-{name}", env, 1, app="bench.bare_celery")
    wait_until(
        lambda: client.llen(bare_celery.DRAIN_ENDED) >= CONCURRENCY,
        timeout=900,
        interval=0.05,
        what=f"{tasks} queued {name} tasks drained",
    )
    first = float(client.get(bare_celery.FIRST_STARTED_AT) or "nan")
    last = max(float(t) for t in client.lrange(bare_celery.DRAIN_ENDED, 0, -1))
    for process in processes:
        stop_process(process)
    drain_seconds = last - first
    return {
        "submit_seconds": round(send_seconds, 3),
        "submit_per_s": tasks / send_seconds,
        "drain_seconds": round(drain_seconds, 3),
        "drain_per_s": tasks / drain_seconds,
    }


def _create_result_tables(result_backend: str) -> None:
    """Create Celery's result tables before any worker starts (no race between its processes)."""
    from bench import bare_celery

    app = bare_celery.make_app(result_backend, extended=True, set_as_current=False)
    app.backend.ResultSession().close()


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

    from orchestrator.runtime import current

    current().close()
    admin = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    tasks = 500 if args.quick else 2000
    chains = tasks // CHAIN_STEPS
    postgres = os.environ.get("ORCH_BENCH_POSTGRES_URL")
    with Stack("engine") as stack:
        broker, sqlite_env = stack.platform()
        from orchestrator.storage.migrate import upgrade

        upgrade()
        databases: list[tuple[str, dict[str, str]]] = [("sqlite", sqlite_env)]
        peers: dict[str, dict[str, str]] = {
            "bare": {**sqlite_env, "BENCH_RESULT_BACKEND": "", "BENCH_RESULT_EXTENDED": ""},
            "redis_backend": {
                **sqlite_env,
                "BENCH_RESULT_BACKEND": broker,
                "BENCH_RESULT_EXTENDED": "",
            },
        }
        if postgres:
            url, name = _postgres_database(postgres)
            stack.callback(_drop_postgres_database, postgres, name)
            databases.append(("postgresql", {**sqlite_env, "ORCH_DATABASE_URL": url}))
            log(f"engine: scratch PostgreSQL database {name}")
            celery_url, celery_name = _postgres_database(postgres)
            stack.callback(_drop_postgres_database, postgres, celery_name)
            backend = f"db+{celery_url}"
            _create_result_tables(backend)
            peers["sql_backend"] = {
                **sqlite_env,
                "BENCH_RESULT_BACKEND": backend,
                "BENCH_RESULT_EXTENDED": "1",
            }
            log(f"engine: scratch PostgreSQL database {celery_name} for Celery's SQL backend")

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

        def peer_drains(label: str) -> dict[str, dict[str, float]]:
            drains = {}
            for peer, env in peers.items():
                with Stack(f"engine-{peer}") as inner:
                    drains[peer] = peer_drain(inner, peer, env, broker, tasks)
                log(
                    f"engine peer {PEER_LABELS[peer]} ({label}): drain alone "
                    f"{drains[peer]['drain_per_s']:.0f} tasks/s"
                )
            return drains

        bare_before = bare("before")
        peers_before = peer_drains("before")
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
                if db_name == "postgresql":
                    result["scale_out"] = split_run(
                        inner, env, db_name, tasks, workers=SCALE_OUT_WORKERS
                    )
            platform[db_name] = result
            log(
                f"engine platform ({db_name}): {result['noop']['jobs_per_s']:.0f} jobs/s "
                f"(submit {result['noop']['submit_per_s']:.0f}/s), "
                f"{result['chain']['per_s']:.1f} chains/s; submit alone "
                f"{result['split']['submit_per_s']:.0f}/s, drain alone "
                f"{result['split']['drain_per_s']:.0f} jobs/s"
                + (
                    f", drain by {SCALE_OUT_WORKERS} workers "
                    f"{result['scale_out']['drain_per_s']:.0f} jobs/s"
                    if "scale_out" in result
                    else ""
                )
            )
        use_env(sqlite_env)
        bare_after = bare("after")
        peers_after = peer_drains("after")

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
    peer_drain_per_s = {
        peer: (peers_before[peer]["drain_per_s"] + peers_after[peer]["drain_per_s"]) / 2
        for peer in peers
    }
    drain_ratios = {
        db: {
            peer: result["split"]["drain_per_s"] / per_s for peer, per_s in peer_drain_per_s.items()
        }
        for db, result in platform.items()
    }
    targets = {}
    for db, (peer, target) in DRAIN_TARGETS.items():
        if db in drain_ratios and peer in drain_ratios[db]:
            value = drain_ratios[db][peer]
            targets[f"drain_{db}_vs_{peer}"] = {
                "value": value,
                "target": target,
                "met": value >= target,
                "db": db,
                "peer": peer,
            }
    results = {
        "quick": args.quick,
        "jobs": tasks,
        "chains": chains,
        "concurrency": CONCURRENCY,
        "scale_out_workers": SCALE_OUT_WORKERS,
        "bare_before": bare_before,
        "bare_after": bare_after,
        "baseline": baseline,
        "platform": platform,
        "ratios": ratios,
        "peer_labels": {peer: PEER_LABELS[peer] for peer in peers},
        "peers_before": peers_before,
        "peers_after": peers_after,
        "peer_drain_per_s": peer_drain_per_s,
        "drain_ratios": drain_ratios,
        "postgres": bool(postgres),
        "targets": targets,
    }
    return finish(results, args.out)


if __name__ == "__main__":
    main()
