"""The Celery task of every job type, made here as each type is registered, and what a
worker's main process does for a job besides handing it to a pool process.

- A message it cannot hand over (a payload nested too deeply to pickle, positional
  arguments, kwargs that are not an object) is dropped with a log line and its job
  failed, instead of crashing the worker on every redelivery.
- A run killed at its hard time limit, or whose pool process died (SIGKILL, OOM), is
  recorded as a lost attempt (retried, or failed once its retries are spent), saying so.
  The worker whose process died is the one that knows the attempt ended: it publishes
  the retry ahead of the jobs queued meanwhile (the message Celery also gives back, at
  the back of the queue, is skipped when its turn comes).
- A job revoked through Celery (``celery control revoke``, Flower) is ``cancelled``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery import Task
from celery.exceptions import InvalidTaskError, TimeLimitExceeded
from celery.signals import task_revoked
from celery.worker import state as worker_state
from celery.worker.request import Request
from sqlalchemy import select

from orchestrator.delivery.celery_app import app
from orchestrator.jobs import lifecycle
from orchestrator.jobs.dispatch import publish
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job, JobEvent, utcnow
from orchestrator.jobs.payloads import too_deep
from orchestrator.jobs.registry import JobType, hard_time_limit, on_register
from orchestrator.jobs.runner import end_lost_attempt, execute, refuse_message
from orchestrator.jobs.unit_of_work import unit_of_work
from orchestrator.storage.db import read_session

log = logging.getLogger(__name__)


def unrunnable(request: Request) -> str | None:
    """Why the message of ``request`` cannot be run, or None if it can."""
    if request.args:
        return "given positional arguments: a job takes its payload as keyword arguments"
    if not isinstance(request.kwargs, dict):
        return "a payload that is not a JSON object"
    body = request.body if isinstance(request.body, str | bytes) else None
    deep = too_deep(request.kwargs, text=body)
    return f"a payload {deep}" if deep else None


class JobRequest(Request):
    """A job's request in the worker's main process: refuses what cannot be run."""

    def __init__(self, message: Any, **options: Any) -> None:
        super().__init__(message, **options)
        reason = unrunnable(self)
        if reason is None:
            return
        try:
            refuse_message(self.id, f"message dropped: {reason}")
        except Exception:  # the database being away must not stop the worker either
            log.exception("job %s: could not record its dropped message", self.id)
        # Celery logs this, rejects the message without requeueing it and goes on.
        raise InvalidTaskError(f"job {self.id} ({self.name}): {reason}")

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        """Record the attempt of a pool process that died running this job, before Celery
        gives its message back (``task_reject_on_worker_lost``) to be run again."""
        if self._process_died(exc_info.exception):
            try:
                _record_lost_process(self.id, self.hostname)
            except Exception:  # the reaper gives the job back later; the worker goes on
                log.exception("job %s: could not record the loss of its process", self.id)
        return super().on_failure(exc_info, send_failed_event, return_ok)

    def _process_died(self, exc: BaseException) -> bool:
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, SystemExit | KeyboardInterrupt):
            # How billiard reports a child that exited, unless Celery killed it on purpose
            # (a revoke with terminate): Celery treats it as a lost worker too.
            return not (self._already_cancelled or self._already_revoked)
        return isinstance(exc, WorkerLostError)


def _record_lost_process(job_id: str, hostname: str | None) -> None:
    with read_session() as session:
        job = session.get(Job, job_id)
    if job is not None and job.status == JobStatus.PROCESSING and job.worker == hostname:
        end_lost_attempt(job)


class JobTask(Task):
    """Base class of the Celery task of each job type (see ``orchestrator.jobs.registry``)."""

    Request = JobRequest

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Record a run killed at its hard time limit (called in the main process)."""
        if not isinstance(exc, TimeLimitExceeded):
            return  # the runner has already recorded every other outcome
        with read_session() as session:
            job = session.get(Job, task_id)
        if job is None or job.status != JobStatus.PROCESSING:
            return
        conf = self.app.conf
        end_lost_attempt(
            job,
            f"killed at its hard time limit of {self.time_limit or conf.task_time_limit:g} s:"
            " it did not stop at its soft limit of"
            f" {self.soft_time_limit or conf.task_soft_time_limit:g} s",
            "JobTimedOut",
        )


@task_revoked.connect
def _cancel_revoked(request: Any = None, terminated: bool = False, **_: Any) -> None:
    # A revoke from the celery CLI or Flower discards the message: the job is cancelled.
    if request is None:
        return
    try:
        republish = _record_revocation(request.id, bool(terminated))
    except Exception:
        log.exception("job %s: could not record its revocation", request.id)
        return
    if republish is not None:
        publish(republish)


def _record_revocation(job_id: str, terminated: bool) -> Job | None:
    """Cancel the revoked job; returns the job instead when the revocation is stale."""
    with unit_of_work() as uow:
        job = uow.session.get(Job, job_id)
        if job is None:
            return None
        latest = uow.session.scalar(
            select(JobEvent.name)
            .where(JobEvent.job_id == job_id, JobEvent.name.in_(["job.cancelled", "job.requeued"]))
            .order_by(JobEvent.id.desc())
            .limit(1)
        )
        if job.status in lifecycle.WAITING and latest == "job.requeued":
            # Cancelled while running (which revokes it in every worker), then retried by
            # hand: this worker still remembers the old revoke. Forget it and run the job.
            worker_state.revoked.discard(job_id)
            return job
        lifecycle.transition(
            uow,
            job_id,
            JobStatus.CANCELLED,
            event_data={"revoked": True, "terminated": terminated},
            completed_at=utcnow(),
        )
    return None


def _make_celery_task(job_type: JobType) -> None:
    def run(self: Any, **payload: Any) -> Any:
        return execute(self.request, job_type, payload)

    # Celery compiles a signature from the function's name: it must be an identifier.
    run.__name__ = run.__qualname__ = re.sub(r"\W", "_", job_type.name)
    run.__doc__ = job_type.handler.__doc__
    # ``throws``: the runner has already logged the failure with its context;
    # Celery records the task state without logging a second traceback.
    app.task(
        name=job_type.name,
        base=JobTask,
        bind=True,
        typing=False,
        throws=(Exception,),
        # The platform's maintenance stays out of Flower's task list (it ran every 10 s).
        send_events=not job_type.internal,
        # Without its own limits a task has the worker's (celeryconfig).
        soft_time_limit=job_type.time_limit,
        time_limit=hard_time_limit(job_type.time_limit) if job_type.time_limit else None,
    )(run)


on_register(_make_celery_task)
