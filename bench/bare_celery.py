"""The engine's peers: a bare Celery app with no-op tasks and the platform's broker settings.

Same broker type and the settings of ``celeryconfig.py`` that shape throughput: late
acknowledgement, prefetch 1, priority queues and per-message priority steps, task events.
Worker: ``celery -A bench.bare_celery worker`` with the same flags as the platform's.

One module serves every Celery peer, chosen by the worker's environment:

- ``BENCH_RESULT_BACKEND`` empty (the default): results ignored, the bare baseline;
- ``BENCH_RESULT_BACKEND`` a backend URL (the bench's Redis, or ``db+postgresql+psycopg://``
  for Celery's SQL backend): results stored, ``task_ignore_result`` off;
- ``BENCH_RESULT_EXTENDED=1`` besides: ``task_track_started`` and ``result_extended`` on,
  so that the backend records the start and the task's name, arguments and worker, as the
  platform's SQL record does.

Completion is counted the same way for all of them: Redis counters on the broker, bumped
by ``task_postrun`` (after the result, if any, was stored), with the wall time of the
first ``task_prerun`` (before a ``STARTED`` state is stored) and of the last ``task_postrun``.

The drain-alone figures, which set the targets, use tasks that cost the peer nothing
beyond Celery's own work: ``bench.drain`` tasks touch Redis only in the first task of each
pool process (its start time), and the ``bench.drain-end`` tasks queued behind them
record when they finish: the drain's end.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery
from celery.signals import task_postrun, task_prerun

BROKER_URL = os.environ.get("ORCH_BROKER_URL", "redis://127.0.0.1:6379/0")
RESULT_BACKEND = os.environ.get("BENCH_RESULT_BACKEND", "")
RESULT_EXTENDED = os.environ.get("BENCH_RESULT_EXTENDED", "") == "1"
NOOP_DONE = "bench:bare:noop-done"
CHAIN_DONE = "bench:bare:chain-done"
WEBHOOK_DONE = "bench:bare:webhook-done"
FIRST_STARTED_AT = "bench:bare:first-started-at"
LAST_DONE_AT = "bench:bare:last-done-at"
CHAIN_STEPS = 3
DEFAULT_QUEUE = "default"
DEFAULT_PRIORITY = 4  # "normal" (5) as a Redis priority step, as the platform sends it
NOOP, CHAIN, WEBHOOK = "bench.noop", "bench.chain", "bench.webhook"
DRAIN, DRAIN_END = "bench.drain", "bench.drain-end"
DRAIN_ENDED = "bench:bare:drain-ended"  # a list: the time each drain-end task finished
COUNTERS = {NOOP: NOOP_DONE, CHAIN: CHAIN_DONE, WEBHOOK: WEBHOOK_DONE}


def make_app(
    result_backend: str = "", extended: bool = False, set_as_current: bool = True
) -> Celery:
    """A Celery app with the platform's broker settings and the given result settings."""
    app = Celery("bare", set_as_current=set_as_current)
    app.conf.update(
        broker_url=BROKER_URL,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        task_ignore_result=not result_backend,
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
        task_track_started=bool(result_backend) and extended,
    )
    if result_backend:
        app.conf.update(result_backend=result_backend, result_extended=extended)
    return app


app = make_app(RESULT_BACKEND, RESULT_EXTENDED)

_client: tuple[int, redis.Redis] | None = None


def counters() -> redis.Redis:
    """A Redis client of this process (a forked pool process makes its own)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(BROKER_URL))
    return _client[1]


_drain_started_here = False


@task_prerun.connect
def _started(sender: Any = None, **_: Any) -> None:
    global _drain_started_here
    name = getattr(sender, "name", None)
    if name == DRAIN and not _drain_started_here:
        _drain_started_here = True  # once per pool process
        counters().set(FIRST_STARTED_AT, repr(time.time()), nx=True)
    elif name in COUNTERS:
        counters().set(FIRST_STARTED_AT, repr(time.time()), nx=True)


@task_postrun.connect
def _finished(sender: Any = None, **_: Any) -> None:
    if getattr(sender, "name", None) == DRAIN_END:
        counters().rpush(DRAIN_ENDED, repr(time.time()))
        return
    counter = COUNTERS.get(getattr(sender, "name", None) or "")
    if counter is None:
        return
    pipe = counters().pipeline(transaction=False)
    pipe.incr(counter)
    pipe.set(LAST_DONE_AT, repr(time.time()))
    pipe.execute()


@app.task(name=NOOP)
def noop() -> None:
    """Do nothing (counted by ``task_postrun``)."""


@app.task(name=DRAIN)
def drain() -> None:
    """Do nothing at all: the drain-alone peer task."""


@app.task(name=DRAIN_END)
def drain_end() -> None:
    """Do nothing; ``task_postrun`` records when it finished (the drain's end)."""


@app.task(name=CHAIN, bind=True)
def chain(self: Any, step: int = 1) -> None:
    """Send the next step until ``CHAIN_STEPS`` steps ran (each step counted)."""
    if step < CHAIN_STEPS:
        self.app.send_task(
            CHAIN, kwargs={"step": step + 1}, queue=DEFAULT_QUEUE, priority=DEFAULT_PRIORITY
        )


@app.task(name=WEBHOOK)
def webhook(**fields: Any) -> None:
    """The intake peers' task (``bench.peer_flask_send_task`` and Flower's async-apply);
    no worker runs it during the intake benchmark."""
