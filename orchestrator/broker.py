"""What the broker and the workers say right now: queue depths and live workers."""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.celery_app import app
from orchestrator.priorities import QUEUES

log = logging.getLogger(__name__)


def queue_depths(broker_url: str | None = None) -> dict[str, int]:
    """Messages waiting in each job queue (all priority levels together), on the
    configured broker or on ``broker_url``."""
    depths = {}
    with app.connection_for_read(broker_url) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)  # fail fast, never hang
        channel = connection.default_channel
        for queue in QUEUES:
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception:  # a queue nobody declared yet holds nothing
                depths[queue] = 0
    return depths


def live_workers(timeout: float = 1.0) -> dict[str, list[str]] | None:
    """Each answering worker with the ids of the tasks it runs; None if none answered."""
    replies: dict[str, Any] | None = app.control.inspect(timeout=timeout).active()
    if not replies:
        return None
    return {worker: [task["id"] for task in tasks or []] for worker, tasks in replies.items()}


def held_task_ids(timeout: float = 1.0) -> set[str] | None:
    """Ids of every task some worker runs, holds (prefetched) or keeps for later (ETA);
    None if no worker answered."""
    inspect = app.control.inspect(timeout=timeout)
    held: set[str] = set()
    answered = False
    for replies in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        for tasks in (replies or {}).values():
            answered = True
            for task in tasks or []:
                held.add(task.get("request", task)["id"])
    return held if answered else None
