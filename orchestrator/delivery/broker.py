"""What the broker and the workers say right now: queue depths and live workers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kombu import Producer, Queue

from orchestrator.delivery.celery_app import app
from orchestrator.jobs.priorities import QUEUES

log = logging.getLogger(__name__)

# A queue that holds one marker message and that no worker reads.
MARKER_QUEUE = "orchestrator.marker"


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


@dataclass
class WorkerReplies:
    """Who answered an inspection, and every task id they run, hold or keep for later."""

    hostnames: set[str]
    held: set[str]


def inspect_workers(timeout: float = 1.0) -> WorkerReplies | None:
    """Ask every worker what it runs, holds (prefetched) or keeps for later (ETA);
    None if no worker answered.

    On a connection of its own, not one of the process's pool: a broker that restarted
    leaves the pool's sockets dead, and the first use of each fails.
    """
    with app.connection_for_write() as connection:
        pongs = app.control.inspect(timeout=timeout, connection=connection).ping() or {}
        if not pongs:
            return None
        # Knowing how many answer, each question returns as soon as they all have.
        inspect = app.control.inspect(timeout=timeout, limit=len(pongs), connection=connection)
        replies = WorkerReplies(hostnames=set(pongs), held=set())
        for answers in (inspect.active(), inspect.reserved(), inspect.scheduled()):
            for hostname, tasks in (answers or {}).items():
                replies.hostnames.add(hostname)
                for task in tasks or []:
                    replies.held.add(task.get("request", task)["id"])
    return replies


def marker_is_there() -> bool:
    """True if the broker still holds its marker message.

    The marker sits in a queue no worker reads: a broker that lost it (restarted empty,
    flushed) lost the jobs' messages too.
    """
    with _marker_queue() as (queue, _):
        return _marker_count(queue) > 0


def plant_marker() -> None:
    """Give the broker its marker message, unless it holds one already."""
    with _marker_queue() as (queue, channel):
        if not _marker_count(queue):
            Producer(channel).publish(
                {"marker": "the broker holds its messages"},
                exchange="",
                routing_key=MARKER_QUEUE,
                serializer="json",
                delivery_mode=2,
            )


def _marker_count(queue: Queue) -> int:
    # Declared each time: a broker that lost its data lost the queue too.
    return int(queue.queue_declare().message_count)


@contextmanager
def _marker_queue() -> Iterator[tuple[Queue, Any]]:
    # A bare channel, no consumer: a consumer would take the marker off the queue's count.
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        channel = connection.channel()
        try:
            yield Queue(MARKER_QUEUE, durable=True, channel=channel), channel
        finally:
            channel.close()


def restore_unacknowledged(
    held: set[str], older_than: float, handed_back: frozenset[str] = frozenset()
) -> list[str]:
    """Put back at the head of their queue the messages taken by a worker more than
    ``older_than`` seconds ago and never acknowledged, unless a live worker holds them
    (``held``); returns their task ids. Redis only: RabbitMQ gives them back when the
    worker's connection drops; Redis keeps them until its visibility timeout (an hour).

    The messages of jobs in ``handed_back`` (published again with their retry) are
    dropped instead: the job needs one message, not two.
    """
    restored: list[str] = []
    with app.connection_for_write() as connection:
        if connection.transport.driver_type != "redis":
            return restored
        connection.ensure_connection(max_retries=1, timeout=2)
        channel = connection.default_channel
        client = channel.client
        taken_before = time.time() - older_than
        for tag in client.zrangebyscore(channel.unacked_index_key, 0, taken_before):
            raw = client.hget(channel.unacked_key, tag)
            if raw is None:
                continue  # acknowledged meanwhile
            message = json.loads(raw)[0]
            task_id = (message.get("headers") or {}).get("id")
            if task_id in held:
                continue
            if task_id in handed_back:
                channel.qos.reject(tag, requeue=False)
                continue
            # Not "leftmost": kombu pushes on the left and workers take from the right.
            channel.qos.restore_by_tag(tag, leftmost=False)
            restored.append(str(task_id))
    if restored:
        log.warning("put back %d messages no live worker holds: %s", len(restored), restored)
    return restored
