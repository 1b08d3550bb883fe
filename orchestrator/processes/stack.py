"""The long-running processes of the stack and the commands that start them.

``orchestrator up`` runs them all as children; ``orchestrator api|worker|beat|flower``
runs one. With no broker configured the embedded Redis is started first, and
the database schema is brought up to date before anything serves.
"""

from __future__ import annotations

import subprocess
import sys

from orchestrator.jobs.priorities import QUEUES
from orchestrator.processes import embedded
from orchestrator.settings import Settings
from orchestrator.storage.migrate import upgrade

CELERY = [sys.executable, "-m", "celery", "-A", "orchestrator"]
SERVICE_GROUP = "orchestrator.services"
# The worker of `up` that runs only the critical queue, with one process.
CRITICAL_WORKER = "critical@%h"


def prepare(settings: Settings, *, own_redis: bool = False) -> subprocess.Popen | None:
    """Make the broker and database usable: start the embedded Redis if needed, migrate.

    With ``own_redis`` the embedded Redis runs as a child (returned, for ``up`` to
    stop); otherwise it is left running in the background for the next command.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    child = None
    if settings.uses_embedded_redis:
        child = embedded.start(
            settings.embedded_redis_socket,
            daemonize=not own_redis,
            maxmemory=settings.redis_maxmemory,
        )
    try:
        upgrade(settings.effective_database_url)
    except BaseException:
        # In a session of its own, the Redis would outlive us: nothing else stops it.
        if child is not None:
            embedded.stop(child)
        raise
    return child


def api_command(
    settings: Settings, host: str, port: int, workers: int = 2, threads: int = 16
) -> list[str]:
    """Gunicorn serving ``api:create_app()``: ``workers`` processes, each with ``threads``
    threads for ordinary requests plus one per event stream it may serve.

    Each event stream holds a thread for its whole life, so a process has
    ``ORCH_MAX_STREAMS`` threads for streams on top of ``threads``, and refuses streams
    beyond that many with a 503 (``api.events``): streams never take the threads that
    answer health checks, webhooks and submissions. Threads (not gevent) because the
    processes run threads of their own and block in SQLite and ``flock`` calls, which
    would stall a whole gevent process. The worker class is gthread reading request
    heads in its event loop (``orchestrator.web.gunicorn_worker``), so that clients sending
    their headers slowly hold no thread, and are closed after a header timeout.
    ``--reuse-port`` gives each process a listening socket of its own, among which the
    kernel spreads connections evenly: one shared socket lets whichever process wakes
    first take them all, streams included, while the other serves none.
    """
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{port}",
        "--worker-class", "orchestrator.web.gunicorn_worker.HeadReadingWorker",
        "--workers", str(workers),
        "--threads", str(threads + settings.max_streams),
        "--reuse-port",
        "--graceful-timeout", "5",
        "--config", "python:orchestrator.web.gunicorn_conf",
        # Gunicorn's control socket defaults to one per user: keep ours per data dir.
        "--control-socket", str(settings.data_dir.resolve() / "gunicorn.ctl"),
        "api:create_app()",
    ]  # fmt: skip


def worker_command(
    queues: str = ",".join(QUEUES),
    concurrency: int | None = None,
    pool: str | None = None,
    hostname: str | None = None,
    loglevel: str = "INFO",
) -> list[str]:
    """A Celery worker on the given queues, sending events for Flower."""
    command = [*CELERY, "worker", "-E", "-Q", queues, "--loglevel", loglevel]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    if pool:
        command += ["--pool", pool]
    if hostname:
        command += ["--hostname", hostname]
    return command


def beat_command(settings: Settings, loglevel: str = "INFO") -> list[str]:
    """Celery beat, its schedule state kept in the data dir."""
    schedule = settings.data_dir / "celerybeat-schedule"
    return [*CELERY, "beat", "--schedule", str(schedule), "--loglevel", loglevel]


def flower_command(host: str, port: int) -> list[str]:
    """Flower; its auth, state file and task cap come from the project's settings
    (see ``orchestrator.delivery.celery_app``), as for ``celery -A orchestrator flower``."""
    return [*CELERY, "flower", f"--address={host}", f"--port={port}"]


def up_commands(
    settings: Settings, host: str, port: int, flower_port: int
) -> list[tuple[str, list[str]]]:
    """The children of ``orchestrator up``, by name.

    Besides the worker on every queue, a worker with one process on the critical
    queue alone: critical work never waits behind normal jobs that hang.
    """
    return [
        ("api", api_command(settings, host, port)),
        ("worker", worker_command()),
        ("critical-worker", worker_command("critical", concurrency=1, hostname=CRITICAL_WORKER)),
        ("beat", beat_command(settings)),
        ("flower", flower_command(host, flower_port)),
        *plugin_services(),
    ]


def plugin_services() -> list[tuple[str, list[str]]]:
    """The long-running commands other packages add to ``up``: each entry point of the
    ``orchestrator.services`` group names a child and the ``orchestrator`` command it runs
    (the media package's folder watcher: ``watcher = "watch"``)."""
    from importlib.metadata import entry_points

    return [
        (entry.name, [sys.executable, "-m", "orchestrator", *entry.value.split()])
        for entry in entry_points(group=SERVICE_GROUP)
    ]
