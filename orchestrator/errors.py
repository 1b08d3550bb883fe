"""The error tree job handlers raise; the exception decides the retry behaviour."""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error raised by the platform."""


class JobError(OrchestratorError):
    """Base of the errors a job handler raises on purpose."""


class RetryableError(JobError):
    """A temporary failure: the job runs again after a backoff, up to ``max_retries``.

    ``delay`` (seconds) overrides the computed backoff, e.g. "player busy, try in 30 s".
    """

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class JobTimedOut(RetryableError):
    """A run went past its job type's time limit; the job is retried while it may be."""


class PermanentError(JobError):
    """A failure that no retry can fix: the job fails at once."""


class InvalidPayload(PermanentError):
    """The payload does not fit the job type; retrying would fail the same way."""


class UnknownJobType(OrchestratorError):
    """No job type is registered under that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"unknown job type {name!r}; registered types: {', '.join(known) or 'none'}"
            " (extra modules load from ORCH_JOB_MODULES)"
        )
        self.name = name


class JobNotFound(OrchestratorError):
    """No job has that id."""


class InvalidTransition(OrchestratorError):
    """A status change the lifecycle does not allow (e.g. retrying a completed job)."""
