"""The engine baseline: a bare Celery app with no-op tasks and the platform's broker settings.

Same broker type and the settings of ``celeryconfig.py`` that shape throughput: late
acknowledgement, prefetch 1, priority queues and per-message priority steps, task events.
Completion is counted with Redis counters the tasks increment (no result backend).
Worker: ``celery -A bench.bare_celery worker`` with the same flags as the platform's.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

BROKER_URL = os.environ.get("ORCH_BROKER_URL", "redis://127.0.0.1:6379/0")
NOOP_DONE = "bench:bare:noop-done"
CHAIN_DONE = "bench:bare:chain-done"
LAST_DONE_AT = "bench:bare:last-done-at"
CHAIN_STEPS = 3
DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY = 4  # "normal" (5) as a Redis priority step, as the platform sends it

app = Celery("bare")
app.conf.update(
    broker_url=BROKER_URL,
    task_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    enable_utc=True,
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=DEFAULT_QUEUE,
    task_create_missing_queues=True,
    task_default_priority=DEFAULT_PRIORITY,
    task_queue_max_priority=10,
    broker_transport_options={
        "queue_order_strategy": "priority",
        "priority_steps": list(range(10)),
        "sep": ":",
        "visibility_timeout": 3600,
    },
    broker_connection_retry_on_startup=True,
    worker_send_task_events=True,
    task_send_sent_event=False,
    task_track_started=False,
)

_client: tuple[int, redis.Redis] | None = None


def counters() -> redis.Redis:
    """A Redis client of this process (a forked pool process makes its own)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(BROKER_URL))
    return _client[1]


def _done(counter: str) -> None:
    pipe = counters().pipeline(transaction=False)
    pipe.incr(counter)
    pipe.set(LAST_DONE_AT, repr(time.time()))
    pipe.execute()


@app.task(name="bench.noop")
def noop() -> None:
    """Do nothing but count."""
    _done(NOOP_DONE)


@app.task(name="bench.chain", bind=True)
def chain(self: Any, step: int = 1) -> None:
    """Send the next step until ``CHAIN_STEPS`` steps ran, counting each step."""
    if step < CHAIN_STEPS:
        self.app.send_task(
            "bench.chain", kwargs={"step": step + 1}, queue=DEFAULT_QUEUE, priority=DEFAULT_PRIORITY
        )
    _done(CHAIN_DONE)
