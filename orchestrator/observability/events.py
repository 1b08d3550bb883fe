"""Job events: stored in SQL (the record) and announced on Redis pub/sub (the doorbell).

A transaction of jobs writes them and rings the doorbell once committed
(``orchestrator.jobs.unit_of_work``); this module has the doorbell and what streams read.

Streams read events from the database by increasing id, so a reconnecting client
resumes exactly where it left off; the pub/sub message only wakes them early.

On PostgreSQL two transactions may take ids in one order and commit in the other: a
stream that read the higher id would move past the lower one before it commits. So
there a stream reads only the events of transactions older than every transaction
still open (the reading snapshot's ``xmin``); a later event waits for those to end.
Not covered: an open transaction that took its id before an older one took a higher id
and committed (test_event_horizon.py keeps that case as a known failure). SQLite has
one writer at a time, so its events commit in id order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

import redis
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from orchestrator.jobs.models import Job, JobEvent
from orchestrator.observability.background import LazyThread
from orchestrator.runtime import current

log = logging.getLogger(__name__)

CHANNEL = "orchestrator:events"
# How long the doorbell waits for more commits before it rings: streams see an event
# at most this much later.
RING_DELAY = 0.01


class Ringer:
    """Rings the doorbell from a thread of its own.

    A commit only sets a flag, so it does not wait for a Redis round trip, and the
    commits of a burst (within ``RING_DELAY``) cost one message.
    """

    def __init__(self) -> None:
        self._thread = LazyThread("doorbell", self._run)
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def request(self) -> None:
        """Ring soon."""
        if not self._wanted.is_set():
            self._wanted.set()
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            # Commits during this pause find the flag set and cost nothing more.
            time.sleep(RING_DELAY)
            self._wanted.clear()
            ring()

    def _forget(self) -> None:
        # A fork may have copied the event mid-change, locked: a child makes its own.
        self._wanted = threading.Event()


ringer = Ringer()


def ring() -> None:
    """Tell live streams that new events are stored; harmless when Redis is away."""
    client = current().redis()
    if client is None:
        return
    try:
        client.publish(CHANNEL, "1")
    except redis.RedisError as exc:
        log.debug("event doorbell not rung: %s", exc)


def events_after(
    session: Session,
    after_id: int,
    *,
    limit: int = 500,
    settled_only: bool = True,
    **filters: Any,
) -> list[JobEvent]:
    """Stored events with id above ``after_id``, oldest first, filtered (see :func:`_filtered`).

    ``settled_only``: on PostgreSQL only the events of transactions older than every
    open one, so that a cursor moved past them skips nothing; off, every committed event
    (for a stream's last read).
    """
    query = _filtered(select(JobEvent).where(JobEvent.id > after_id), **filters)
    settled = _settled(session) if settled_only else None
    if settled is not None:
        query = query.where(settled)
    return list(session.scalars(query.order_by(JobEvent.id).limit(limit)))


def replay_start(session: Session, after_id: int, most: int, **filters: Any) -> int | None:
    """Where to resume so that at most ``most`` events follow ``after_id``; None if they do.

    The id of the event ``most`` places before the newest matching one: replaying from
    there sends the newest ``most`` events and skips the older ones.
    """
    query = _filtered(select(JobEvent.id).where(JobEvent.id > after_id), **filters)
    return session.scalar(query.order_by(JobEvent.id.desc()).offset(most).limit(1))


def _filtered(
    query: Select[Any],
    *,
    job_id: str | None = None,
    root_id: str | None = None,
    job_type: str | None = None,
    status: str | None = None,
    parent_id: str | None = None,
    hidden_types: tuple[str, ...] = (),
) -> Select[Any]:
    """``query`` of events narrowed to a job, a chain, a type, a status or a parent's
    children, without the events of ``hidden_types``."""
    if hidden_types:
        query = query.where(JobEvent.job_type.not_in(hidden_types))
    if job_id:
        query = query.where(JobEvent.job_id == job_id)
    if root_id:
        query = query.where(JobEvent.root_id == root_id)
    if job_type:
        query = query.where(JobEvent.job_type == job_type)
    if status:
        query = query.where(JobEvent.status == status)
    if parent_id:
        query = query.where(JobEvent.job_id.in_(select(Job.id).where(Job.parent_id == parent_id)))
    return query


def newest_event_id(session: Session) -> int:
    """The id a stream of new events starts after: the newest that ``events_after`` reads."""
    query = select(func.max(JobEvent.id))
    settled = _settled(session)
    if settled is not None:
        query = query.where(settled)
    return session.scalar(query) or 0


# Events of transactions older than every open one (the statement snapshot's xmin),
# NULL for those written before the column existed. The xmin is a subquery so that it
# is computed once per statement, not once per row.
_SETTLED = or_(
    JobEvent.xact_id.is_(None),
    JobEvent.xact_id
    < select(
        literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", BigInteger)
    ).scalar_subquery(),
)


def _settled(session: Session) -> ColumnElement[bool] | None:
    """On PostgreSQL: the events of transactions older than every open one."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return _SETTLED


class Doorbell:
    """Waits for the event doorbell; falls back to a plain sleep without Redis."""

    def __init__(self) -> None:
        self._pubsub: Any = None
        client = current().redis()
        if client is not None:
            try:
                self._pubsub = client.pubsub(ignore_subscribe_messages=True)
                self._pubsub.subscribe(CHANNEL)
            except redis.RedisError:
                self._pubsub = None

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if the bell rang."""
        if self._pubsub is None:
            time.sleep(min(timeout, 0.5))
            return False
        try:
            rang = self._pubsub.get_message(timeout=timeout) is not None
            # Drain the other rings that arrived meanwhile: one re-read covers them all.
            while self._pubsub.get_message(timeout=0) is not None:
                rang = True
            return rang
        except redis.RedisError:
            self._pubsub = None
            return False

    def close(self) -> None:
        """Unsubscribe and release the connection."""
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                self._pubsub.close()
