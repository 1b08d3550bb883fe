"""The job lifecycle: statuses, allowed transitions, and the one function that changes status.

Every status change goes through :func:`transition`, a conditional UPDATE
(``WHERE status IN (...)``), so two processes can never both move a job out of
the same state: the loser sees ``None`` and knows it lost. Each change stores
an event and writes one log line with the job's context.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.sql import ClauseElement

from orchestrator.errors import InvalidTransition
from orchestrator.jobs.models import Job, utcnow
from orchestrator.jobs.unit_of_work import UnitOfWork

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


def can_transition(source: JobStatus | str, target: JobStatus | str) -> bool:
    """True if the lifecycle allows going from ``source`` to ``target``."""
    return JobStatus(target) in TRANSITIONS[JobStatus(source)]


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """Every status from which ``target`` can be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


def create(uow: UnitOfWork, job: Job, *, batched: bool = False) -> Job:
    """Insert a new ``pending`` job and its ``job.created`` event.

    ``batched``: the row and its event are written just before the transaction commits,
    with every other batched job of the transaction in one statement (the jobs that a
    group commit records together). Only for a job that nothing reads or changes in the
    same transaction.
    """
    job.status = JobStatus.PENDING
    # Unset columns are left out, so they get their defaults (and SQL NULL, not JSON null).
    values = {column.key: getattr(job, column.key) for column in Job.__table__.columns}
    uow.add_job({key: value for key, value in values.items() if value is not None}, batched=batched)
    data = {"priority": job.priority, "queue": job.queue}
    uow.record_event(job, "job.created", data, batched=batched)
    uow.log(log, job, "created (priority %s, queue %s)", job.priority, job.queue)
    return job


def transition(
    uow: UnitOfWork,
    job_id: str,
    target: JobStatus,
    *,
    expected: frozenset[JobStatus] | None = None,
    event_data: dict[str, Any] | Callable[[Job], dict[str, Any]] | None = None,
    increment_attempts: bool = False,
    if_attempts: int | None = None,
    **values: Any,
) -> Job | None:
    """Move a job to ``target`` if it is in one of ``expected`` (default: every allowed source).

    Returns the updated job, or ``None`` when the job is missing or was not in an
    expected status (someone else moved it first). ``if_attempts`` also requires that
    attempt count, so that an attempt is acted on once. ``values`` are other columns to set
    (SQL expressions read the row as it was). ``event_data`` may be a function of the
    updated job.
    """
    sources = sources_of(target) if expected is None else expected
    illegal = [s for s in sources if not can_transition(s, target)]
    if illegal:
        raise InvalidTransition(f"{', '.join(illegal)} → {target} is not an allowed transition")
    changes: dict[str, Any] = {"status": target.value, "updated_at": utcnow(), **values}
    # Plain values are bound; SQL expressions are part of the statement.
    shape = tuple(
        (key, value if isinstance(value, ClauseElement) else None)
        for key, value in sorted(changes.items())
    )
    statement = _update_statement(sources, shape, increment_attempts, if_attempts is not None)
    params = {key: value for key, value in changes.items() if not isinstance(value, ClauseElement)}
    row = (
        uow.session.connection()
        .execute(statement, {**params, "_job_id": job_id, "_if_attempts": if_attempts})
        .one_or_none()
    )
    if row is None:
        return None
    job = Job(**row._mapping)
    data = event_data(job) if callable(event_data) else event_data or {}
    uow.record_event(job, EVENT_FOR_STATUS[target], data)
    uow.log(log, job, "%s%s", target.value, _describe(data))
    if target in (JobStatus.COMPLETED, JobStatus.FAILED):
        for listener in _settled_listeners:
            listener(uow, job)
    return job


# Told of each job that has just completed or failed for good, in its transaction: what
# they record commits with the outcome, or not at all (the ``notify-people`` job).
_settled_listeners: list[Callable[[UnitOfWork, Job], None]] = []


def on_settled(listener: Callable[[UnitOfWork, Job], None]) -> None:
    """Call ``listener(uow, job)`` in the transaction that completes or fails a job."""
    if listener not in _settled_listeners:
        _settled_listeners.append(listener)


@lru_cache(maxsize=256)
def _update_statement(
    sources: frozenset[JobStatus],
    shape: tuple[tuple[str, Any], ...],
    increment_attempts: bool,
    check_attempts: bool,
) -> Update:
    """The conditional ``UPDATE ... RETURNING`` of a transition, built once per shape.

    Built and compiled once, it spares each transition the statement construction that
    was most of its cost on SQLite.
    """
    jobs = cast(Table, Job.__table__)
    settings: dict[str, Any] = {
        key: bindparam(key, type_=jobs.c[key].type) if expression is None else expression
        for key, expression in shape
    }
    if increment_attempts:
        settings["attempts"] = jobs.c.attempts + 1
    query = update(jobs).where(
        jobs.c.id == bindparam("_job_id"), jobs.c.status.in_(sorted(s.value for s in sources))
    )
    if check_attempts:
        query = query.where(jobs.c.attempts == bindparam("_if_attempts"))
    return query.values(settings).returning(*jobs.c)


def _describe(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    return " (" + ", ".join(f"{k}={v}" for k, v in data.items() if k != "traceback") + ")"
