"""A ``JobContext`` that records what a handler does instead of writing it, so that a
handler can be unit tested alone: call it with a payload and a :class:`FakeJobContext`,
then look at what it returned, raised, reported and submitted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from orchestrator.jobs.context import JobContext
from orchestrator.jobs.models import Job
from orchestrator.jobs.registry import load_job_modules


@dataclass(frozen=True)
class Submitted:
    """A follow-up job the handler asked for."""

    id: str
    job_type: str
    payload: dict[str, Any]
    priority: int | str | None
    dedupe_key: str | None
    countdown: float | None


class FakeJobContext(JobContext):
    """Records progress, checkpoints and submitted children; touches no database."""

    def __init__(
        self, job_type: str = "test", attempt: int = 1, checkpoint: dict[str, Any] | None = None
    ) -> None:
        load_job_modules()  # the children's types, as a worker knows them
        job_id = str(uuid.uuid4())
        super().__init__(
            Job(id=job_id, type=job_type, root_id=job_id, attempts=attempt, checkpoint=checkpoint)
        )
        self.progress_reports: list[tuple[float, str | None]] = []
        self.submitted: list[Submitted] = []

    def progress(self, percent: float, message: str | None = None) -> None:
        """Record the report."""
        self.progress_reports.append((percent, message))

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep it where a retry's context would find it."""
        self.checkpoint = dict(checkpoint)

    def submit(
        self,
        job_type: str,
        payload: dict[str, Any] | None = None,
        priority: int | str | None = None,
        dedupe_key: str | None = None,
        countdown: float | None = None,
    ) -> str:
        """Check the child as the real context does (its type, its payload model, its
        priority: ``PermanentError`` or ``InvalidPayload``), record it and return its id
        (a child of the same dedupe key, the first's)."""
        for earlier in self.submitted:
            if dedupe_key and earlier.dedupe_key == dedupe_key:
                return earlier.id
        row = self._child(job_type, payload, priority, dedupe_key, countdown)
        child = Submitted(row.id, job_type, dict(payload or {}), priority, dedupe_key, countdown)
        self.submitted.append(child)
        return child.id

    def retry(self) -> FakeJobContext:
        """The context of the next attempt: same job, its checkpoint, nothing recorded."""
        again = FakeJobContext(self.job_type, self.attempt + 1, self.checkpoint)
        again.job_id = again.root_id = self.job_id
        return again
