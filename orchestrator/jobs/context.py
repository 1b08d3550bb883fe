"""``JobContext``: what a running job handler can use (docs/design.md §2.7)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update

from orchestrator.errors import PermanentError, UnknownJobType
from orchestrator.jobs.dispatch import build_job, pending_duplicate
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job, utcnow
from orchestrator.jobs.priorities import InvalidPriority
from orchestrator.jobs.stale import note_discarded
from orchestrator.jobs.unit_of_work import unit_of_work
from orchestrator.observability.logs import JobLoggerAdapter, job_logger
from orchestrator.storage.db import read_session, write_session

handler_log = logging.getLogger("orchestrator.job")


class JobContext:
    """The running job's id, attempt and logger, plus progress reports and follow-up jobs.

    Jobs submitted with :meth:`submit` are written in the transaction that completes
    this job and published after it commits: if this job fails, they never exist.
    """

    def __init__(self, job: Job) -> None:
        self._job = job
        self.job_id: str = job.id
        self.job_type: str = job.type
        self.root_id: str = job.root_id
        self.attempt: int = job.attempts
        self.log: JobLoggerAdapter = job_logger(handler_log, job)
        self.children: list[Job] = []
        self.checkpoint: dict[str, Any] = dict(job.checkpoint or {})
        # What the job is about; a handler that learns more (a library's name) may set
        # it, and it is stored when the job completes.
        self.summary: str | None = job.summary

    def progress(self, percent: float, message: str | None = None) -> None:
        """Report progress (0-100) with an optional message; stored and streamed live."""
        percent = max(0.0, min(100.0, float(percent)))
        with unit_of_work() as uow:
            updated = uow.session.execute(
                update(Job)
                .where(*self._current())
                .values(progress_percent=percent, progress_message=message, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if updated.rowcount == 1:  # type: ignore[attr-defined]
                self._job.progress_percent = percent
                self._job.progress_message = message
                uow.record_event(
                    self._job, "job.progress", {"percent": percent, "message": message}
                )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            note_discarded(self._job, "progress")

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what this job has done so far; a retry finds it in ``ctx.checkpoint``."""
        with write_session() as session:
            updated = session.execute(
                update(Job)
                .where(*self._current())
                .values(checkpoint=checkpoint, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            note_discarded(self._job, "checkpoint")
        self.checkpoint = dict(checkpoint)

    def _current(self) -> tuple[Any, ...]:
        """The condition of every write of this attempt: the job still runs it."""
        return (
            Job.id == self.job_id,
            Job.status == JobStatus.PROCESSING,
            Job.attempts == self.attempt,
        )

    def submit(
        self,
        job_type: str,
        payload: dict[str, Any] | None = None,
        priority: int | str | None = None,
        dedupe_key: str | None = None,
        countdown: float | None = None,
    ) -> str:
        """Queue a follow-up job (a child of this one) and return its id.

        With a ``dedupe_key`` already held by a pending job, that job's id is returned;
        ``countdown`` delays it (seconds), which also widens that coalescing window.
        """
        if dedupe_key:
            with read_session() as session:
                existing = pending_duplicate(session, dedupe_key)
            if existing is not None:
                return existing.id
        child = self._child(job_type, payload, priority, dedupe_key, countdown)
        self.children.append(child)
        return child.id

    def _child(
        self,
        job_type: str,
        payload: dict[str, Any] | None,
        priority: int | str | None,
        dedupe_key: str | None,
        countdown: float | None,
    ) -> Job:
        """The follow-up job's row, checked as any submission is (its type, its payload
        model, its priority); nothing is written."""
        try:
            return build_job(
                job_type,
                payload,
                priority=priority,
                dedupe_key=dedupe_key,
                countdown=countdown,
                parent=self._job,
            )
        except (UnknownJobType, InvalidPriority) as exc:
            # A handler asking for a job that cannot exist is a bug no retry fixes.
            raise PermanentError(str(exc)) from exc
