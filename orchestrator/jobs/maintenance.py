"""The platform's own scheduled work: the sweep, retention of finished jobs, the reaper.

The sweep (``orchestrator.redispatch``, every ``ORCH_SWEEP_INTERVAL``) is a plain Celery
task: it publishes the jobs committed while the broker was away.

The reaper (every ``ORCH_REAPER_INTERVAL``, 10 s) gives back jobs stranded because their
worker died (SIGKILL, OOM, power loss) without the broker giving their message back
(Redis keeps an unacknowledged message until its visibility timeout), or because the
broker lost its messages:
- a job ``processing`` on a worker that has not answered for ``ORCH_WORKER_TIMEOUT``
  (25 s), or that no live worker holds after ``ORCH_REAPER_TIMEOUT`` (600 s), goes to
  ``retrying`` (or ``failed`` once its retries are spent) and is published again;
- when the broker lost its messages (its marker message is gone), every published job
  still waiting that no worker holds is published again;
- otherwise a waiting job due longer ago than ``ORCH_REAPER_TIMEOUT``, that no worker
  holds while its queue is empty, lost its message: it is published again.
A copy of a message that was not lost after all is skipped by the claim.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.signals import worker_ready
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError

from orchestrator.delivery.broker import (
    inspect_workers,
    marker_is_there,
    plant_marker,
    queue_depths,
    restore_unacknowledged,
)
from orchestrator.delivery.celery_app import app
from orchestrator.delivery.relay import publish_unpublished
from orchestrator.jobs import lifecycle
from orchestrator.jobs.context import JobContext
from orchestrator.jobs.dispatch import publish
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import BrokerMarker, Job, WorkerSeen, utcnow
from orchestrator.jobs.registry import job
from orchestrator.jobs.runner import end_lost_attempt
from orchestrator.observability.logs import routine
from orchestrator.runtime import current
from orchestrator.storage.db import insert_or, read_session, write_session

RETENTION_BATCH = 1000

log = logging.getLogger(__name__)


routine("orchestrator.redispatch")


@app.task(name="orchestrator.redispatch", ignore_result=True, send_events=False)
def redispatch() -> int:
    """Re-publish jobs committed but never published (the broker was away); on beat."""
    return publish_unpublished(grace=current().settings.sweep_grace)


# keep_idle=False: a round of beat's that deleted nothing leaves no row and no INFO line.
@job(
    "retention",
    priority="low",
    max_retries=1,
    schedule=6 * 3600.0,
    keep_idle=False,
    internal=True,
)
def retention(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Delete finished jobs (and their events) older than ``ORCH_RETENTION_DAYS``."""
    days = current().settings.retention_days
    cutoff = utcnow() - timedelta(days=days)
    finished = [s.value for s in lifecycle.TERMINAL]
    deleted = 0
    while True:
        with write_session() as session:
            ids = list(
                session.scalars(
                    select(Job.id)
                    .where(Job.status.in_(finished), Job.completed_at < cutoff)
                    .limit(RETENTION_BATCH)
                )
            )
            if not ids:
                break
            # Children outlive their parents' rows: the foreign key sets parent_id NULL.
            session.execute(delete(Job).where(Job.id.in_(ids)))
            deleted += len(ids)
        ctx.progress(50, f"{deleted} jobs deleted")
    return {"deleted": deleted, "older_than_days": days} if deleted else {"deleted": 0}


@job(
    "reaper",
    priority="critical",
    max_retries=0,
    schedule=lambda: current().settings.reaper_interval,
    time_limit=60,
    keep_idle=False,
    internal=True,
)
def reaper(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Return to the queue the jobs whose worker is gone or whose message was lost.

    A scheduled run that found nothing to do leaves no row (``keep_idle=False``); one
    that cannot reach the broker or the database says so and skips, instead of failing.
    """
    try:
        return _reap(ctx)
    except _unreachable() as exc:
        # A broker or database restarting: look once more in a moment (every broker call
        # of a run makes a connection of its own, and what a run did is conditional in SQL).
        ctx.log.warning("%s unreachable (%s); again in 1 s", _which(exc), type(exc).__name__)
    time.sleep(1.0)
    try:
        return _reap(ctx)
    except _unreachable() as exc:
        # Nothing can be recovered without them; the next run looks again.
        ctx.log.warning(
            "%s unreachable (%s: %s); nothing done", _which(exc), type(exc).__name__, exc
        )
        return {"reaped": [], "republished": [], "skipped": f"{_which(exc)} unreachable"}


def _unreachable() -> tuple[type[BaseException], ...]:
    """What a broker or database that cannot be reached raises."""
    connection = app.connection_for_write()  # not connected: only asked for its errors
    return (OperationalError, OSError, *connection.connection_errors)


def _which(exc: BaseException) -> str:
    return "database" if isinstance(exc, OperationalError) else "broker"


def _reap(ctx: JobContext) -> dict[str, Any]:
    replies = inspect_workers()
    if replies is None:
        # No worker answered, not even this one's: a reply was slow, nothing is known.
        return {"reaped": [], "republished": [], "skipped": "no worker answered"}
    replies.held.add(ctx.job_id)
    settings = current().settings
    workers = _note_answers(replies.hostnames, settings.worker_timeout)
    cutoff = utcnow() - timedelta(seconds=settings.reaper_timeout)
    with read_session() as session:
        running = session.scalars(select(Job).where(Job.status == JobStatus.PROCESSING)).all()
    stuck = [
        j
        for j in running
        if j.id not in replies.held
        and (workers.dead(j.worker, j.started_at) or _started_before(j, cutoff))
    ]
    reaped = [j.id for j in stuck if end_lost_attempt(j) is not None]
    restored: list[str] = []
    if not workers.silent:
        # Every worker that did not answer is dead: messages they took and never
        # acknowledged go back to their queue (Redis would wait for its visibility timeout).
        restored = restore_unacknowledged(
            replies.held, settings.worker_timeout, handed_back=frozenset(reaped)
        )
    marker_gone = not marker_is_there()
    if marker_gone and _marker_was_planted():
        ctx.log.warning("the broker lost its messages: republishing every waiting job")
        lost = _published_waiting()
    else:
        lost = _lost_from_empty_queues(cutoff)
    waiting = [j for j in lost if j.id not in replies.held and j.id not in restored]
    republished = [j.id for j in waiting if publish(j)]
    if marker_gone and len(republished) == len(waiting):
        # Only now: had a publish failed, the next run must see the marker gone again.
        plant_broker_marker()
    return {"reaped": reaped, "restored": restored, "republished": republished}


def _broker_name() -> str:
    return maybe_sanitize_url(app.conf.broker_url)


def _marker_was_planted() -> bool:
    """True if this broker was given a marker: then a missing one means lost messages.
    With no record the broker is new to the platform and had nothing to lose."""
    with read_session() as session:
        return session.get(BrokerMarker, _broker_name()) is not None


def plant_broker_marker() -> None:
    """Give the broker its marker message and record that it has one."""
    plant_marker()
    with write_session() as session:
        session.merge(BrokerMarker(broker=_broker_name(), planted_at=utcnow()))


@worker_ready.connect
def _plant_a_new_brokers_marker(**_: Any) -> None:
    # The first worker plants it, not the reaper's first run ten seconds later: a broker
    # that loses its data in between would otherwise look new, its jobs not lost.
    try:
        if not _marker_was_planted():
            plant_broker_marker()
    except Exception as exc:  # the reaper plants it later; the worker must start anyway
        log.warning(
            "could not give the broker its marker message (%s: %s)", type(exc).__name__, exc
        )


@worker_ready.connect
def _record_capacity(sender: Any, **_: Any) -> None:
    # Its queues and pool size, for the capacity in /metrics; the reaper keeps seen_at.
    try:
        queues = ",".join(sorted(sender.app.amqp.queues.consume_from))
        row = {
            "hostname": sender.hostname,
            "seen_at": utcnow(),
            "queues": queues[:255],
            "slots": int(sender.controller.concurrency),
        }
        with write_session() as session:
            statement = insert_or(session, WorkerSeen).values(row)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["hostname"],
                    set_={key: statement.excluded[key] for key in row if key != "hostname"},
                )
            )
    except Exception as exc:  # capacity is for the metrics: the worker must start anyway
        log.warning("could not record this worker's capacity (%s: %s)", type(exc).__name__, exc)


def _started_before(job: Job, cutoff: datetime) -> bool:
    return job.started_at is not None and job.started_at < cutoff


def _published_waiting(*conditions: Any) -> list[Job]:
    with read_session() as session:
        return list(
            session.scalars(
                select(Job).where(
                    Job.status.in_([s.value for s in lifecycle.WAITING]),
                    Job.dispatched_at.is_not(None),
                    *conditions,
                )
            )
        )


def _lost_from_empty_queues(cutoff: datetime) -> list[Job]:
    """Waiting jobs due before ``cutoff`` whose queue is empty: their message is gone."""
    empty_queues = {queue for queue, depth in queue_depths().items() if depth == 0}
    if not empty_queues:
        return []
    return _published_waiting(
        Job.queue.in_(empty_queues),
        Job.dispatched_at < cutoff,
        func.coalesce(Job.next_retry_at, Job.run_at, Job.dispatched_at) < cutoff,
    )


@dataclass
class _Workers:
    """Which workers answered the reaper now, and when each was last heard."""

    answering: set[str]
    last_seen: dict[str, datetime]
    silent_since: datetime

    def dead(self, worker: str | None, started_at: datetime | None) -> bool:
        """True if ``worker`` has been silent too long: since it last answered, or since
        it claimed the job started at ``started_at`` if that is later (a worker cut off,
        then back, claims jobs before it answers again: it is alive)."""
        if worker in self.answering:
            return False
        heard = [t for t in (self.last_seen.get(worker or ""), started_at) if t is not None]
        return bool(heard) and max(heard) < self.silent_since

    @property
    def silent(self) -> set[str]:
        """Workers that did not answer now but were heard recently: perhaps only slow."""
        return {
            name
            for name, seen in self.last_seen.items()
            if name not in self.answering and seen >= self.silent_since
        }


def _note_answers(hostnames: set[str], worker_timeout: float) -> _Workers:
    """Record that ``hostnames`` answered now, and read when every worker was last heard."""
    now = utcnow()
    with write_session() as session:
        if hostnames:
            # An upsert: two reaper runs at once (one queued behind long jobs, the next on
            # time) both record the same workers, and neither may fail for it.
            rows = [{"hostname": name, "seen_at": now} for name in sorted(hostnames)]
            statement = insert_or(session, WorkerSeen).values(rows)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["hostname"], set_={"seen_at": statement.excluded.seen_at}
                )
            )
        # Workers silent for a day are forgotten, so the table stays small.
        session.execute(delete(WorkerSeen).where(WorkerSeen.seen_at < now - timedelta(days=1)))
        last_seen = {row.hostname: row.seen_at for row in session.scalars(select(WorkerSeen))}
    return _Workers(hostnames, last_seen, now - timedelta(seconds=worker_timeout))
