"""The relay: publishes committed jobs whose message was never sent (the outbox).

Every waiting job without ``dispatched_at`` is in the outbox. :func:`publish_unpublished`
takes them most urgent first, publishes them and stamps them in one statement; it is
how the sweep re-publishes what a failed publish left behind, and what the API's relay
does for every job the API records.

The API's request threads do not publish: they commit the row (that is what the 202
promises) and ring the relay's doorbell, a pipe, with the job's id. The relay is a
thread of gunicorn's master process (``orchestrator.web.gunicorn_conf``), which serves no
requests: publishing takes no time from the worker processes that do, and jobs recorded
together leave in one batch. It publishes the jobs it is rung for, and looks every
second for older unpublished ones (a lost ring, a failed publish). A relay that finds
the broker away tries again with backoff; the jobs wait in the table meanwhile, and
the sweep is the fallback should the relay itself be gone.

No transaction is open while the broker is spoken to: the batch is read, published,
then stamped in a transaction of its own. A relay stuck on a broker that stopped
answering (a network cut) holds no lock and no snapshot, so other relays, the sweep and
the event streams go on. The price: relays of several API hosts that look at the same
moment may both publish an old unpublished job (only after the broker was away, since
each is rung for its own jobs); the claim skips the copy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from datetime import timedelta
from typing import Any

from kombu.exceptions import KombuError
from sqlalchemy import select as sql_select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, defer

from orchestrator.delivery.broker_memory import broker_memory
from orchestrator.delivery.celery_app import app
from orchestrator.delivery.stamps import STAMP
from orchestrator.jobs import lifecycle
from orchestrator.jobs.dispatch import SMALL_PAYLOAD, publish
from orchestrator.jobs.models import Job, utcnow
from orchestrator.storage.db import read_session, write_session

log = logging.getLogger(__name__)

BATCH = 500
# The relay also looks this often for unpublished jobs it was not rung for (a ring lost
# with a full pipe, a publish that failed), committed at least LOOK_GRACE ago: younger
# ones may be on their way through another process's own publish and stamp (0.2 s).
LOOK_EVERY = 1.0
LOOK_GRACE = 2.0
BACKOFF_MAX = 10.0


def publish_unpublished(limit: int = BATCH, grace: float = 0.0) -> int:
    """Publish up to ``limit`` waiting jobs never published, committed at least ``grace``
    seconds ago, most urgent first, and stamp them; returns how many were sent."""
    sent, found = _relay_once(limit, grace, producer=None)
    if found:
        log.info("re-published %d of %d unpublished jobs", sent, found)
    return sent


def _relay_once(
    limit: int, grace: float, producer: Any, ids: list[str] | None = None
) -> tuple[int, int]:
    """One batch (of ``ids`` alone, if given): (how many were sent, how many were found)."""
    with read_session() as session:
        jobs = _unpublished(session, limit, grace, ids=ids)
    sent = _send(jobs, producer)
    if sent:
        with write_session() as session:
            session.connection().execute(STAMP, sent)
    return len(sent), len(jobs)


def _unpublished(
    session: Session, limit: int, grace: float, ids: list[str] | None = None
) -> list[tuple[Job, dict[str, Any]]]:
    """Jobs to publish, each with what its message carries of its payload.

    The payload itself is not read (``raiseload``): only small ones, for their message.
    """
    query = (
        sql_select(Job, SMALL_PAYLOAD)
        .options(defer(Job.payload, raiseload=True), *_NOT_READ)
        .where(
            Job.status.in_([s.value for s in lifecycle.WAITING]),
            Job.dispatched_at.is_(None),
            Job.updated_at <= utcnow() - timedelta(seconds=grace),
        )
        .order_by(Job.priority, Job.created_at)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(Job.id.in_(ids))
    return [(job, payload or {}) for job, payload in session.execute(query)]


# Columns publishing never reads, left in the database.
_NOT_READ = [defer(column) for column in (Job.result, Job.error, Job.checkpoint)]


def _send(jobs: list[tuple[Job, dict[str, Any]]], producer: Any) -> list[dict[str, Any]]:
    """Publish ``jobs``; the stamps of those sent. Stops at the first failure: the broker
    is away, and the rest waits for the next try.

    On Redis the batch leaves in one round trip (a pipeline): one per job was half the
    relay's time. Should that round trip fail, none is stamped as sent; those that did
    reach the queue are published again later, and the claim skips the copy.
    """
    full = broker_memory.full()
    if full and jobs:
        log.warning("relay: %d jobs held: %s", len(jobs), full)
        return []
    sent = []
    try:
        with _batch(producer):
            for job, payload in jobs:
                published_at = utcnow()
                if not publish(job, producer=producer, stamp=False, payload=payload):
                    break
                sent.append({"job_id": job.id, "published_at": published_at})
    except Exception as exc:  # the pipeline's redis errors are not kombu's
        log.warning("relay: %d jobs not published (%s: %s)", len(sent), type(exc).__name__, exc)
        return []
    return sent


def _batch(producer: Any) -> Any:
    """A publish batch on ``producer`` where its transport has them (Redis), else nothing."""
    if producer is not None and producer.supports_batch_publish:
        return producer.batch(max_size=BATCH)
    return contextlib.nullcontext()


class Relay:
    """The relay thread and its doorbell (see the module docstring)."""

    def __init__(self) -> None:
        self._bell_in, self._bell_out = os.pipe()
        os.set_blocking(self._bell_out, False)
        self._stopping = threading.Event()
        self._partial = b""  # the start of a ring whose end is not read yet
        self._thread: threading.Thread | None = None

    def ring(self, job_id: str) -> None:
        """Have the relay publish the committed job ``job_id`` (callable from any process
        forked after the relay was made)."""
        # One write of less than PIPE_BUF bytes: whole, whatever other processes write.
        # A full pipe loses the ring; the relay's next look finds the job.
        with contextlib.suppress(BlockingIOError):
            os.write(self._bell_out, job_id.encode() + b"\n")

    def start(self) -> None:
        """Start the relay thread in this process."""
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the relay thread (after the batch it may be publishing)."""
        self._stopping.set()
        with contextlib.suppress(BlockingIOError):
            os.write(self._bell_out, b"\n")
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        failures = 0
        producer: Any = None
        looked = time.monotonic()
        while not self._stopping.is_set():
            wait = LOOK_EVERY if failures == 0 else min(BACKOFF_MAX, 2.0**failures)
            rung = self._rung(max(0.0, looked + wait - time.monotonic()))
            try:
                if producer is None:
                    # A connection of its own: processes forked from this one never use it.
                    producer = app.amqp.Producer(app.connection_for_write())
                sent = found = 0
                for start in range(0, len(rung), BATCH):
                    batch = rung[start : start + BATCH]
                    sent, found = _relay_once(BATCH, 0.0, producer, ids=batch)
                if time.monotonic() >= looked + wait:
                    looked = time.monotonic()
                    sent, found = BATCH, BATCH
                    while found == BATCH and sent == found:
                        sent, found = _relay_once(BATCH, LOOK_GRACE, producer)
            except (SQLAlchemyError, KombuError, OSError) as exc:  # the database or broker
                sent, found = 0, 1  # is away: one line, not a traceback
                log.warning("relay: jobs not published (%s: %s)", type(exc).__name__, exc)
            except Exception:  # the relay outlives anything else too
                sent, found = 0, 1
                log.exception("relay: jobs not published")
            # Jobs left unsent: the broker is away. Look again with backoff.
            failures = failures + 1 if sent < found else 0

    def _rung(self, timeout: float) -> list[str]:
        """The job ids rung within ``timeout`` seconds (waiting for the first one)."""
        readable, _, _ = select.select([self._bell_in], [], [], timeout)
        if not readable:
            return []
        time.sleep(0.001)  # let the rings of one burst arrive, then read them all
        data = self._partial + os.read(self._bell_in, 1 << 20)
        *lines, self._partial = data.split(b"\n")
        return [line.decode() for line in lines if line]
