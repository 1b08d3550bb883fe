"""The Celery application: ``celery -A orchestrator ...`` finds it as ``orchestrator.app``."""

from __future__ import annotations

import os
import sys
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_process_init,
    worker_process_shutdown,
)
from kombu.transport import TRANSPORT_ALIASES

from orchestrator.delivery.broker_transport import REDIS_TRANSPORT
from orchestrator.jobs.priorities import message_priority, queue_for
from orchestrator.jobs.registry import scheduled_job_types
from orchestrator.observability.background import flush_all

# Redis URLs use kombu's Redis transport with one client per channel (see the module).
TRANSPORT_ALIASES.update(dict.fromkeys(("redis", "rediss"), REDIS_TRANSPORT))

app = Celery("orchestrator")
app.config_from_object("celeryconfig")


def _flower_defaults() -> None:
    """Give ``celery -A orchestrator flower`` the project's Flower settings.

    Flower reads ``FLOWER_*`` variables; set the ones the user did not: basic auth
    (``ORCH_FLOWER_USER``/``ORCH_FLOWER_PASSWORD`` or the generated password), state
    kept in the data dir across restarts, and a cap on the tasks kept in memory.
    """
    from orchestrator.runtime import current
    from orchestrator.storage import credentials

    settings = current().settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    user, password, _ = credentials.flower_credentials(settings)
    os.environ.setdefault("FLOWER_BASIC_AUTH", f"{user}:{password}")
    os.environ.setdefault("FLOWER_PERSISTENT", "true")
    os.environ.setdefault("FLOWER_DB", str(settings.data_dir.resolve() / "flower.db"))
    os.environ.setdefault("FLOWER_MAX_TASKS", "10000")


if "flower" in sys.argv[1:]:
    _flower_defaults()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _format_celery_logs(logger: Any, **_: Any) -> None:
    from orchestrator.observability.logs import use_format_on
    from orchestrator.runtime import current

    use_format_on(logger, current().settings.log_format)


@worker_process_init.connect
def _reset_connections_after_fork(**_: Any) -> None:
    # A forked pool process must not share the parent's sockets.
    from orchestrator.runtime import current

    current().after_fork()


@worker_process_shutdown.connect
def _write_batches_before_exit(**_: Any) -> None:
    # A pool process leaves without running atexit handlers.
    flush_all()


@app.on_after_finalize.connect
def _schedule_periodic_jobs(sender: Celery, **_: Any) -> None:
    # Beat sends a bare message; the worker gives it its job row on first run. A run
    # still queued when the next is due is dropped (expires): runs queued behind long
    # jobs would otherwise pile up, then all run at once.
    for kind in scheduled_job_types():
        interval = kind.interval()
        options = {
            "queue": queue_for(kind.priority),
            "priority": message_priority(kind.priority, sender.conf.broker_url),
            "expires": interval,
        }
        sender.add_periodic_task(
            interval, sender.signature(kind.name, options=options), name=kind.name
        )
