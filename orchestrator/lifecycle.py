"""The job lifecycle: statuses, allowed transitions, and the one function that changes status.

Every status change goes through :func:`transition`, a conditional UPDATE
(``WHERE status IN (...)``), so two processes can never both move a job out of
the same state: the loser sees ``None`` and knows it lost. Each change stores
an event and writes one log line with the job's context.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from orchestrator.errors import InvalidTransition
from orchestrator.events import record_event
from orchestrator.logs import job_logger
from orchestrator.models import Job, utcnow

log = logging.getLogger(__name__)


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    PROCESSING = "processing"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED}),
    JobStatus.PROCESSING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.RETRYING, JobStatus.CANCELLED}
    ),
    JobStatus.RETRYING: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset({JobStatus.PENDING}),
    JobStatus.CANCELLED: frozenset({JobStatus.PENDING}),
}

TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)
WAITING: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.RETRYING})

# The event each transition emits, keyed by the status it reaches.
EVENT_FOR_STATUS: dict[JobStatus, str] = {
    JobStatus.PENDING: "job.requeued",
    JobStatus.PROCESSING: "job.started",
    JobStatus.RETRYING: "job.retrying",
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}
TERMINAL_EVENTS: frozenset[str] = frozenset(EVENT_FOR_STATUS[s] for s in TERMINAL)


def can_transition(source: JobStatus | str, target: JobStatus | str) -> bool:
    """True if the lifecycle allows going from ``source`` to ``target``."""
    return JobStatus(target) in TRANSITIONS[JobStatus(source)]


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """Every status from which ``target`` can be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def create(session: Session, job: Job) -> Job:
    """Insert a new ``pending`` job and its ``job.created`` event."""
    job.status = JobStatus.PENDING
    # Core rather than ``session.add``: the ORM's flush would double a submit's cost.
    # Unset columns are left out, so they get their defaults (and SQL NULL, not JSON null).
    values = {column.key: getattr(job, column.key) for column in Job.__table__.columns}
    session.connection().execute(
        insert(Job), {key: value for key, value in values.items() if value is not None}
    )
    record_event(session, job, "job.created", {"priority": job.priority, "queue": job.queue})
    job_logger(log, job).info("created (priority %s, queue %s)", job.priority, job.queue)
    return job


def transition(
    session: Session,
    job_id: str,
    target: JobStatus,
    *,
    expected: frozenset[JobStatus] | None = None,
    event_data: dict[str, Any] | None = None,
    increment_attempts: bool = False,
    if_attempts: int | None = None,
    **values: Any,
) -> Job | None:
    """Move a job to ``target`` if it is in one of ``expected`` (default: every allowed source).

    Returns the updated job, or ``None`` when the job is missing or was not in an
    expected status (someone else moved it first). ``if_attempts`` also requires that
    attempt count, so that an attempt is acted on once. ``values`` are other columns to set.
    """
    sources = sources_of(target) if expected is None else expected
    illegal = [s for s in sources if not can_transition(s, target)]
    if illegal:
        raise InvalidTransition(f"{', '.join(illegal)} → {target} is not an allowed transition")
    now = utcnow()
    changes: dict[str, Any] = {"status": target.value, "updated_at": now, **values}
    if increment_attempts:
        changes["attempts"] = Job.attempts + 1
    query = update(Job).where(Job.id == job_id, Job.status.in_([s.value for s in sources]))
    if if_attempts is not None:
        query = query.where(Job.attempts == if_attempts)
    # UPDATE ... RETURNING: the changed row comes back without a second query.
    job = session.scalars(
        query.values(**changes).returning(Job),
        execution_options={"synchronize_session": False, "populate_existing": True},
    ).one_or_none()
    if job is None:
        return None
    record_event(session, job, EVENT_FOR_STATUS[target], event_data or {})
    job_logger(log, job).info("%s%s", target.value, _describe(event_data))
    return job


def _describe(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    return " (" + ", ".join(f"{k}={v}" for k, v in data.items() if k != "traceback") + ")"
