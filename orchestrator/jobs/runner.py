"""Running one job inside a Celery task: claim, call the handler, record the outcome.

The claim is a conditional update from ``pending``/``retrying`` to ``processing``:
a second delivery of the same message finds the job elsewhere and is skipped, even one
the broker marks redelivered. A redelivery says only that the broker gave the message
back, not that the attempt ended: RabbitMQ gives back the messages of a worker whose
connection dropped while its process still runs them, and the reaper may restore a
message whose job it also handed back. An attempt is declared lost only by the worker
whose pool process died running it (``orchestrator.jobs.job_task``) or by the reaper, once
the worker is known gone (``orchestrator.jobs.maintenance``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from celery.exceptions import Ignore, Retry, SoftTimeLimitExceeded
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, func
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from orchestrator.errors import (
    InvalidPayload,
    JobTimedOut,
    PermanentError,
    RetryableError,
    one_line,
)
from orchestrator.jobs import lifecycle
from orchestrator.jobs.context import JobContext
from orchestrator.jobs.dispatch import Submitted, insert_job, publish
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job, utcnow
from orchestrator.jobs.payloads import lone_surrogate_in
from orchestrator.jobs.priorities import queue_for
from orchestrator.jobs.registry import JobType
from orchestrator.jobs.retry import backoff_delay, should_retry
from orchestrator.jobs.stale import note_discarded
from orchestrator.jobs.summaries import clip, summarize
from orchestrator.jobs.unit_of_work import UnitOfWork, unit_of_work
from orchestrator.observability.logs import is_routine, job_logger
from orchestrator.observability.tracebacks import format_traceback
from orchestrator.runtime import current
from orchestrator.storage.db import write_session

log = logging.getLogger(__name__)
T = TypeVar("T")

RUNNING = frozenset({JobStatus.PROCESSING})
# What a claim stamps as ``dispatched_at`` (see ``_take``); one object, so that the
# claim's statement is built once.
SENT_WITH_ITS_COMMIT = func.coalesce(Job.dispatched_at, Job.updated_at)


def execute(request: Any, job_type: JobType, payload: dict[str, Any]) -> Any:
    """Run the job whose id is the Celery task id of ``request``; returns its result."""
    recorded: list[Job] = []
    job = claim(request.id, job_type, payload, request.hostname, recorded)
    if job is None:
        raise Ignore()
    ctx = JobContext(job)
    started = time.monotonic()
    try:
        result = _call_handler(job_type, job.payload, ctx)
    except PermanentError as exc:
        _fail(job, exc, started)
        raise
    except RetryableError as exc:
        _retry_or_fail(job, job_type, exc, exc.delay, started)
        raise
    except SoftTimeLimitExceeded as exc:
        limit = job_type.time_limit or current().settings.job_time_limit
        timed_out = JobTimedOut(f"ran longer than its time limit of {limit:g} s")
        _retry_or_fail(job, job_type, timed_out, None, started)
        raise timed_out from exc
    except Exception as exc:  # an unexpected error counts as retryable (docs/design.md §2.4)
        _retry_or_fail(job, job_type, exc, None, started)
        raise
    if recorded and not job_type.keep_idle and _is_idle(result, ctx):
        _forget(job)
        return result
    try:
        _complete(job, result, ctx, started)
    except SQLAlchemyError as exc:
        # The run is done, but its record (or a follow-up job) cannot be written as it is,
        # and no retry changes that: the job fails saying why, instead of staying
        # ``processing``, to be blamed later on a worker that did not die.
        reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc  # no SQL dump
        failure = PermanentError(f"its outcome could not be recorded: {reason}")
        failure.__cause__ = exc
        _fail(job, failure, started)
        raise failure from exc
    if is_routine(job.type):  # its lifecycle lines are DEBUG: one line says what it did
        job_logger(log, job).info("completed: %s", result)
    return result


def claim(
    job_id: str,
    job_type: JobType,
    payload: dict[str, Any],
    worker: str,
    recorded: list[Job] | None = None,
) -> Job | None:
    """Move the job to ``processing`` for this worker, or None if it is not waiting.

    A message without a row (beat, ``celery -A orchestrator call``) gets its row here
    first, and is appended to ``recorded`` when given.
    """
    with unit_of_work() as uow:
        # The usual case, a waiting job, costs one statement; the row is read only when
        # the job was not waiting.
        claimed = _take(uow, job_id, worker)
        if claimed is not None:
            return claimed
        job = uow.session.get(Job, job_id)
        if job is None:
            job = _record_external(uow, job_id, job_type, payload)
            if recorded is not None:
                recorded.append(job)
        if job.status == JobStatus.PROCESSING:
            job_logger(log, job).info(
                "message skipped: job is already processing, attempt %d on %s (only that"
                " worker, or the reaper once it is gone, ends it)", job.attempts, job.worker,
            )  # fmt: skip
            return None
        if job.status not in lifecycle.WAITING:
            job_logger(log, job).info("message skipped: job is already %s", job.status)
            return None
        claimed = _take(uow, job_id, worker)
        if claimed is None:
            # Another delivery of the same message claimed it between our read and update.
            job_logger(log, job).info("message skipped: job is already claimed elsewhere")
        return claimed


def _take(uow: UnitOfWork, job_id: str, worker: str) -> Job | None:
    """The conditional update of a claim: ``processing`` if the job is waiting, else None."""
    now = utcnow()

    def waited(job: Job) -> dict[str, Any]:
        since = job.run_at or job.next_retry_at or job.dispatched_at or now
        return {"wait_s": round(max(0.0, (now - since).total_seconds()), 3)}

    return lifecycle.transition(
        uow,
        job_id,
        JobStatus.PROCESSING,
        expected=lifecycle.WAITING,
        increment_attempts=True,
        event_data=waited,
        started_at=now,
        worker=worker,
        # A message sent before its publisher got to stamp the row went out with the
        # commit that made the job wait (SQL reads the row's values before the update).
        dispatched_at=SENT_WITH_ITS_COMMIT,
        progress_percent=None,
        progress_message=None,
    )


def lose_attempt(
    uow: UnitOfWork, job: Job, message: str | None = None, kind: str = "WorkerLost"
) -> Job | None:
    """Record that the attempt running ``job`` ended without its process reporting back
    (the process died, or was killed at the hard time limit).

    The job goes to ``retrying`` (or ``failed`` once its retries are spent); None when
    another process already dealt with that attempt.
    """
    message = message or f"worker {job.worker} died while running attempt {job.attempts}"
    changes: dict[str, Any]
    if should_retry(job.retry_count, job.max_retries):
        target = JobStatus.RETRYING
        event_data = {"error": message, "error_type": kind, "retry": job.retry_count + 1}
        changes = {"retry_count": job.retry_count + 1, "next_retry_at": utcnow(),
                   "dispatched_at": None}  # fmt: skip
    else:
        target = JobStatus.FAILED
        message = f"{message}; no retries left"
        event_data = {"error": message}
        changes = {"completed_at": utcnow()}
    return lifecycle.transition(
        uow,
        job.id,
        target,
        expected=RUNNING,
        if_attempts=job.attempts,
        event_data=event_data,
        error={"type": kind, "message": message, "traceback": ""},
        **changes,
    )


def end_lost_attempt(job: Job, message: str | None = None, kind: str = "WorkerLost") -> Job | None:
    """:func:`lose_attempt` in a transaction of its own, then publish the retry if any,
    ahead of the jobs queued while the lost attempt ran."""
    with unit_of_work() as uow:
        moved = lose_attempt(uow, job, message, kind)
    if moved is not None and moved.status == JobStatus.RETRYING:
        publish(moved, first=True)
    return moved


def refuse_message(job_id: str, reason: str) -> Job | None:
    """Fail the waiting job ``job_id`` whose message cannot be run at all (a hostile
    payload published straight to the broker); None if there is no such waiting job."""
    error = {"type": "UnrunnableMessage", "message": reason, "traceback": ""}
    with unit_of_work() as uow:
        # Through ``processing``: a job fails only from a run, as the lifecycle says.
        taken = lifecycle.transition(
            uow, job_id, JobStatus.PROCESSING, expected=lifecycle.WAITING, started_at=utcnow()
        )
        if taken is None:
            return None
        return lifecycle.transition(
            uow,
            job_id,
            JobStatus.FAILED,
            expected=RUNNING,
            event_data={"error": reason},
            error=error,
            completed_at=utcnow(),
        )


def _record_external(
    uow: UnitOfWork, job_id: str, job_type: JobType, payload: dict[str, Any]
) -> Job:
    now = utcnow()
    job = Job(
        id=job_id,
        type=job_type.name,
        priority=job_type.priority,
        queue=queue_for(job_type.priority),
        payload=payload,
        summary=summarize(job_type.summarize, payload),
        max_retries=job_type.max_retries,
        attempts=0,
        retry_count=0,
        root_id=job_id,
        created_at=now,
        updated_at=now,
        dispatched_at=now,
    )
    return lifecycle.create(uow, job)


def _call_handler(job_type: JobType, payload: dict[str, Any], ctx: JobContext) -> Any:
    argument: Any = payload
    if job_type.payload_model is not None:
        try:
            argument = job_type.payload_model.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(f"invalid payload for {job_type.name}: {one_line(exc)}") from exc
    result = job_type.handler(argument, ctx)
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"the handler returned a result that is not JSON: {exc}") from exc
    if lone_surrogate_in(result, text):
        raise PermanentError(
            "the handler returned text holding half of a UTF-16 surrogate pair, which no"
            " database can store: decode its bytes with errors='replace'"
        )
    return result


def _elapsed(started: float) -> float:
    return round(time.monotonic() - started, 6)


def _complete(job: Job, result: Any, ctx: JobContext, started: float) -> None:
    event_data: dict[str, Any] = {"duration_s": _elapsed(started), "children": len(ctx.children)}
    refined: dict[str, Any] = {}
    if ctx.summary != job.summary:
        # The handler said better what the job was about; the event tells live lists.
        refined["summary"] = event_data["summary"] = clip(ctx.summary)

    def write() -> tuple[Job | None, list[Submitted]]:
        with unit_of_work() as uow:
            done = lifecycle.transition(
                uow,
                job.id,
                JobStatus.COMPLETED,
                expected=RUNNING,
                if_attempts=job.attempts,
                event_data=event_data,
                **refined,
                result=result,
                completed_at=utcnow(),
                progress_percent=100.0,
                error=None,  # an earlier attempt's error stays in its job.retrying event
            )
            if done is None:
                return None, []
            return done, [insert_job(uow, child, batched=True) for child in ctx.children]

    done, children = until_written(job, write)
    if done is None:
        note_discarded(job, "result")
        return
    for child in children:
        if child.created:
            publish(child.job)


def until_written(job: Job, write: Callable[[], T]) -> T:
    """``write()`` the outcome of ``job``'s run, again while the database cannot be reached
    (a network cut, a restart): the run is done, and its outcome must not be lost.

    The database may have committed a write whose answer was lost: the next try then
    finds the job moved on and changes nothing. The wait is bounded by the job's time
    limit; past it the job is left ``processing``, for the reaper.
    """
    delay = 0.5
    while True:
        try:
            return write()
        except OperationalError as exc:  # unreachable, timed out, restarting, locked
            job_logger(log, job).warning(
                "outcome not written yet, the database does not answer (%s); again in %g s",
                type(exc.orig).__name__, delay,
            )  # fmt: skip
        time.sleep(delay)
        delay = min(delay * 2, 10.0)


def _is_idle(result: Any, ctx: JobContext) -> bool:
    """True for a run that found nothing to do: no children, and a result without any
    non-empty value (``None``, ``{}``, ``{"reaped": [], "republished": []}``)."""
    if ctx.children:
        return False
    if isinstance(result, dict):
        return not any(result.values())
    return not result


def _forget(job: Job) -> None:
    # A maintenance run that found nothing to do is not worth a row in the record.
    with write_session() as session:
        session.execute(delete(Job).where(Job.id == job.id, Job.status == JobStatus.PROCESSING))


def _error_of(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "traceback": format_traceback(exc),
    }


def _end_attempt(
    job: Job, status: JobStatus, event_data: dict[str, Any], **changes: Any
) -> Job | None:
    """Record how ``job``'s attempt ended, if it is still the job's current one (None if
    not), again while the database does not answer."""

    def write() -> Job | None:
        with unit_of_work() as uow:
            return lifecycle.transition(
                uow,
                job.id,
                status,
                expected=RUNNING,
                if_attempts=job.attempts,
                event_data=event_data,
                **changes,
            )

    return until_written(job, write)


def _fail(job: Job, exc: BaseException, started: float) -> None:
    error = _error_of(exc)
    failed = _end_attempt(
        job,
        JobStatus.FAILED,
        {"error": error["message"], "duration_s": _elapsed(started)},
        error=error,
        completed_at=utcnow(),
    )
    if failed is None:
        note_discarded(job, "failure")


def _retry_or_fail(
    job: Job, job_type: JobType, exc: BaseException, delay: float | None, started: float
) -> None:
    if not should_retry(job.retry_count, job.max_retries):
        _fail(job, exc, started)
        return
    if delay is None:
        cap = job_type.retry_cap or current().settings.retry_backoff_cap
        delay = backoff_delay(job.retry_count, job_type.retry_base, cap)
    error = _error_of(exc)
    retrying = _end_attempt(
        job,
        JobStatus.RETRYING,
        {
            "error": error["message"],
            "error_type": error["type"],
            "delay_s": round(delay, 3),
            "retry": job.retry_count + 1,
            "duration_s": _elapsed(started),
        },
        error=error,
        retry_count=job.retry_count + 1,
        next_retry_at=utcnow() + timedelta(seconds=delay),
        dispatched_at=None,
    )
    if retrying is None:
        note_discarded(job, "retry")
        return
    publish(retrying)
    raise Retry(message=error["message"], exc=exc, when=delay)
