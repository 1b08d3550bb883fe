"""Celery's result backend, read from the job table: results are recorded once, in SQL.

The runner already records each job's outcome in SQL, in the transaction that ends
the attempt; storing it a second time in Redis cost a third of a job's time in the
worker. So workers store nothing here (``task_ignore_result``), and
``celery -A orchestrator result <job id>``, ``AsyncResult(id).state`` and ``.get()``
read the job's row: on either broker, with or without Redis.

A job's status maps to Celery's states: ``pending`` → PENDING, ``retrying`` → RETRY,
``processing`` → STARTED, ``completed`` → SUCCESS (with its result), ``failed`` →
FAILURE (with its error), ``cancelled`` → REVOKED. An unknown id is PENDING, as in
every Celery backend.

A revoke (``celery control revoke``, Flower) reaches each worker, which asks its backend to
mark the task revoked unless it is running it: here that cancels a job still waiting, on a
countdown or a retry delay, at once. Without it the job stayed pending until its message
came due and the worker dropped it.
"""

from __future__ import annotations

from typing import Any

from celery import states
from celery.backends.base import BaseBackend

from orchestrator.jobs import lifecycle
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job, utcnow
from orchestrator.jobs.unit_of_work import unit_of_work
from orchestrator.storage.db import read_session

CELERY_STATE = {
    "pending": states.PENDING,
    "retrying": states.RETRY,
    "processing": states.STARTED,
    "completed": states.SUCCESS,
    "failed": states.FAILURE,
    "cancelled": states.REVOKED,
}


class JobResults(BaseBackend):
    """A read-only result backend over the ``jobs`` table."""

    def store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Store nothing: the runner has recorded the outcome in the job's row."""
        return result

    def mark_as_revoked(
        self, task_id: str, reason: str = "", request: Any = None, **kwargs: Any
    ) -> None:
        """Cancel the job if it still waits (pending, or retrying after a delay); a job
        that runs meanwhile is left to the revoke its worker acts on. Called with the
        ``request`` when a worker drops a revoked message: ``job_task`` records that one
        (it may be a stale revoke of a job retried since)."""
        if request is not None:
            return
        with unit_of_work() as uow:
            lifecycle.transition(
                uow,
                task_id,
                JobStatus.CANCELLED,
                expected=lifecycle.WAITING,
                event_data={"revoked": True, "terminated": False},
                completed_at=utcnow(),
            )

    def get_task_meta(self, task_id: str, cache: bool = True) -> dict[str, Any]:
        """The job's state, result or error and traceback, as Celery's result meta."""
        with read_session() as session:
            job = session.get(Job, task_id)
        if job is None:
            return {"task_id": task_id, "status": states.PENDING, "result": None}
        state = CELERY_STATE[job.status]
        error = job.error or {}
        result: Any = job.result
        if state == states.FAILURE:
            # The form Celery turns back into an exception; without a module, a class of
            # that name is made up rather than imported.
            result = {
                "exc_type": error.get("type") or "Exception",
                "exc_message": [error.get("message", "")],
                "exc_module": None,
            }
        elif state in (states.RETRY, states.REVOKED):
            result = None
        return {
            "task_id": task_id,
            "status": state,
            "result": result,
            "traceback": error.get("traceback") if state == states.FAILURE else None,
            "children": [],
            "date_done": job.completed_at,
            "name": job.type,
        }
