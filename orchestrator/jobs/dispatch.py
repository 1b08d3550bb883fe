"""Submitting, publishing and re-publishing jobs (docs/design.md §3.2).

The row is committed first, then the message is published with ``task_id`` =
job id, by the process's relay when it has one (:mod:`orchestrator.delivery.relay`), and
``dispatched_at`` is stamped. A row whose publish failed keeps ``dispatched_at`` empty
and is re-published by the relay or the sweep, so an accepted job is never lost while
the broker is away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, case, cast, func, null, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.delivery.broker_transport import FIRST_HEADER
from orchestrator.delivery.celery_app import app
from orchestrator.delivery.group_commit import group_commit
from orchestrator.delivery.stamps import stamps
from orchestrator.errors import InvalidPayload, InvalidTransition, JobNotFound, one_line
from orchestrator.jobs import lifecycle
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job, utcnow
from orchestrator.jobs.payloads import lone_surrogate_in, too_deep
from orchestrator.jobs.priorities import message_priority, parse_priority, queue_for
from orchestrator.jobs.registry import get_job_type
from orchestrator.jobs.summaries import summarize
from orchestrator.jobs.unit_of_work import UnitOfWork, unit_of_work
from orchestrator.observability.logs import job_logger

log = logging.getLogger(__name__)

MAX_RETRIES_LIMIT = 100
KWARGS_REPR_MAX = 1024
# A message carries its job's payload only up to this size (JSON text): the worker reads
# the payload from the job's row; the copy is for Flower and the celery CLI. Larger ones
# would have the broker hold every queued payload in memory.
MESSAGE_PAYLOAD_BYTES = 16 * 1024


@dataclass
class Submitted:
    """What a submit produced: the job, and whether it is new or an existing duplicate."""

    job: Job
    created: bool


def new_job_id() -> str:
    """A fresh job id (a UUID string, also the Celery task id)."""
    return str(uuid.uuid4())


def build_job(
    job_type: str,
    payload: Any = None,
    *,
    priority: int | str | None = None,
    max_retries: int | None = None,
    countdown: float | None = None,
    dedupe_key: str | None = None,
    parent: Job | None = None,
    job_id: str | None = None,
) -> Job:
    """Validate a submission and build its (unsaved) row; raises on bad input."""
    kind = get_job_type(job_type)
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise InvalidPayload("payload must be a JSON object")
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and would poison every list.
        text: str | None = json.dumps(payload, allow_nan=False)
    except RecursionError:
        text = None  # deeper than the encoder goes: the walk below says how deep
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"payload is not JSON-serializable: {exc}") from exc
    deep = too_deep(payload, text=text)
    if deep:
        raise InvalidPayload(f"payload is {deep}")
    if text is not None and lone_surrogate_in(payload, text):
        raise InvalidPayload("payload holds half of a UTF-16 surrogate pair: send valid Unicode")
    if kind.payload_model is not None:
        from pydantic import ValidationError

        try:
            kind.payload_model.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(f"invalid payload for {job_type}: {one_line(exc)}") from exc
    level = parse_priority(priority, default=kind.priority)
    retries = kind.max_retries if max_retries is None else max_retries
    if isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES_LIMIT:
        raise InvalidPayload(f"max_retries must be an integer from 0 to {MAX_RETRIES_LIMIT}")
    now = utcnow()
    if countdown is not None and countdown < 0:
        raise InvalidPayload("countdown must be zero or more seconds")
    new_id = job_id or new_job_id()
    return Job(
        id=new_id,
        type=kind.name,
        priority=level,
        queue=queue_for(level),
        payload=payload,
        max_retries=retries,
        attempts=0,
        retry_count=0,
        dedupe_key=fit_dedupe_key(dedupe_key),
        summary=summarize(kind.summarize, payload),
        parent_id=parent.id if parent else None,
        root_id=parent.root_id if parent else new_id,
        created_at=now,
        updated_at=now,
        run_at=now + timedelta(seconds=countdown) if countdown else None,
    )


DEDUPE_KEY_MAX = 255  # the column's length


def fit_dedupe_key(key: str | None) -> str | None:
    """``key`` as stored: one longer than its column (a key made of a long folder path)
    keeps its start and ends with a digest of the whole, so it still tells keys apart."""
    if key is None or len(key) <= DEDUPE_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: DEDUPE_KEY_MAX - len(digest) - 1]}#{digest}"


def pending_duplicate(session: Session, dedupe_key: str | None) -> Job | None:
    """The pending job holding ``dedupe_key`` (as stored: :func:`fit_dedupe_key`), if any."""
    if not dedupe_key:
        return None
    stored = fit_dedupe_key(dedupe_key)
    return session.scalars(
        select(Job).where(Job.dedupe_key == stored, Job.status == JobStatus.PENDING)
    ).first()


def insert_job(uow: UnitOfWork, job: Job, *, batched: bool = False) -> Submitted:
    """Insert ``job``, or return the pending job that already holds its dedupe key.

    ``batched``: a job without a dedupe key is written with the transaction's other
    batched jobs just before it commits (see ``lifecycle.create``): for callers that
    neither read nor change it in the same transaction.
    """
    if not job.dedupe_key:
        lifecycle.create(uow, job, batched=batched)
        return Submitted(job, created=True)
    existing = pending_duplicate(uow.session, job.dedupe_key)
    if existing is not None:
        return Submitted(existing, created=False)
    try:
        with uow.session.begin_nested():
            lifecycle.create(uow, job)
    except IntegrityError:
        # Another process inserted the same dedupe key between our check and insert.
        existing = pending_duplicate(uow.session, job.dedupe_key)
        if existing is None:
            raise
        return Submitted(existing, created=False)
    return Submitted(job, created=True)


def submit(
    job_type: str,
    payload: Any = None,
    *,
    also: Callable[[UnitOfWork], None] | None = None,
    **options: Any,
) -> Submitted:
    """Record a job and publish it; see :func:`build_job` for the options.

    The row is committed together with the submissions of other threads of this process
    (:mod:`orchestrator.delivery.group_commit`), and ``also(uow)`` in the same transaction
    (which cannot read the job: its row is written as the transaction commits).
    """
    job = build_job(job_type, payload, **options)

    def record(uow: UnitOfWork) -> Submitted:
        submitted = insert_job(uow, job, batched=True)
        if also is not None:
            also(uow)
        return submitted

    submitted = group_commit.write(record)
    if submitted.created:
        hand_over(submitted.job)
    return submitted


def _countdown(job: Job, now: datetime) -> float | None:
    due = job.next_retry_at if job.status == JobStatus.RETRYING else job.run_at
    if due is None:
        return None
    seconds = (due - now).total_seconds()
    return seconds if seconds > 0 else None


def _short_repr(payload: dict[str, Any]) -> str:
    # What Flower shows as the task's kwargs. Celery's own saferepr of a webhook
    # body costs more than the rest of the publish; the builtin repr, cut, does not.
    if not payload:
        return "{} (the payload is in the job's row)"
    text = repr(payload)
    return text if len(text) <= KWARGS_REPR_MAX else text[: KWARGS_REPR_MAX - 3] + "..."


def message_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """What a job's message carries of its payload: all of it, or nothing when larger
    than ``MESSAGE_PAYLOAD_BYTES`` (the worker reads it from the job's row)."""
    return payload if len(json.dumps(payload)) <= MESSAGE_PAYLOAD_BYTES else {}


# The payload when it is small enough to travel in the message, else NULL (as
# message_payload measures it: the JSON text): what the relay reads, so that a batch of
# large payloads is never in its memory.
SMALL_PAYLOAD = case(
    (func.length(cast(Job.payload, Text)) <= MESSAGE_PAYLOAD_BYTES, Job.payload), else_=null()
)


def publish(
    job: Job,
    *,
    producer: Any = None,
    stamp: bool = True,
    first: bool = False,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Send the job's message; False if not sent. ``dispatched_at`` is stamped shortly,
    unless ``stamp`` is false (the caller stamps it).

    ``first`` puts it ahead of the jobs of its priority already queued: a job handed
    back after its attempt was lost had its turn, and keeps its place. ``payload``: what
    the message carries of the job's payload, when the caller read it already
    (:data:`SMALL_PAYLOAD`); by default :func:`message_payload` of the job's.
    """
    kwargs = message_payload(job.payload) if payload is None else payload
    now = utcnow()
    priority, headers = message_priority(job.priority, app.conf.broker_url), None
    if first:
        # On Redis the transport pushes it at the head of its priority's list; RabbitMQ
        # has no head to push to, so it goes out as the most urgent of its queue.
        headers = {FIRST_HEADER: True}
        if not app.conf.broker_url.startswith("redis"):
            priority = message_priority(1, app.conf.broker_url)
    try:
        app.send_task(
            job.type,
            kwargs=kwargs,
            task_id=job.id,
            queue=job.queue,
            priority=priority,
            headers=headers,
            countdown=_countdown(job, now),
            argsrepr="()",
            kwargsrepr=_short_repr(kwargs),
            producer=producer,
        )
    except Exception as exc:  # kombu raises many kinds; every one means "not sent"
        job_logger(log, job).warning(
            "not published (%s: %s); the sweep will re-publish it", type(exc).__name__, exc
        )
        return False
    if stamp:
        stamps.add({"job_id": job.id, "published_at": now})
    return True


# Set in a process whose jobs a relay publishes (see orchestrator.delivery.relay): its doorbell.
_ring_relay: Callable[[str], None] | None = None


def use_relay(ring: Callable[[str], None] | None) -> None:
    """Leave this process's new jobs to a relay, told of each by ``ring(job_id)``
    (None: publish them here)."""
    global _ring_relay
    _ring_relay = ring


def hand_over(job: Job) -> None:
    """Get a committed job's message sent: by this process's relay if it has one."""
    if _ring_relay is not None:
        _ring_relay(job.id)
    else:
        publish(job)


def retry_job(job_id: str) -> Job:
    """Manually retry a failed or cancelled job: back to ``pending`` and published."""
    with unit_of_work() as uow:
        job = _get(uow.session, job_id)
        moved = lifecycle.transition(
            uow,
            job_id,
            JobStatus.PENDING,
            expected=frozenset({JobStatus.FAILED, JobStatus.CANCELLED}),
            event_data={"manual": True, "previous_status": job.status},
            retry_count=0,
            error=None,
            result=None,
            completed_at=None,
            next_retry_at=None,
            run_at=None,
            dispatched_at=None,
        )
        if moved is None:
            raise InvalidTransition(
                f"job {job_id} is {job.status}: only failed or cancelled jobs can be retried"
            )
    hand_over(moved)
    return moved


def cancel_job(job_id: str) -> Job:
    """Cancel a waiting job, or stop a running one (its worker process is terminated)."""
    with unit_of_work() as uow:
        job = _get(uow.session, job_id)
        was_running = job.status == JobStatus.PROCESSING
        moved = lifecycle.transition(
            uow,
            job_id,
            JobStatus.CANCELLED,
            event_data={"previous_status": job.status},
            completed_at=utcnow(),
        )
        if moved is None:
            raise InvalidTransition(
                f"job {job_id} is {job.status}: only pending, retrying or processing jobs"
                " can be cancelled"
            )
    if was_running:
        app.control.revoke(job_id, terminate=True)
    return moved


def _get(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id}")
    return job
