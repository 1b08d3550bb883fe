"""The error tree of the platform and the services, in families.

A family says who must act, so each layer decides by family, never by the single error:
the runner retries or fails a job by ``RetryableError``/``PermanentError``, and the API
answers (``api/errors.py``, the one place that maps errors to HTTP)::

    OrchestratorError
    ├── InvalidInput (also ValueError)   the caller must fix its input      → 422
    │   ├── UnsupportedInput             not a kind of input we handle      → 400
    │   │   └── UnknownJobType, WebhookError
    │   └── InvalidPayload, InvalidPriority, UnknownReference, PathEscape
    ├── NotFound                         nothing has that id                → 404
    │   └── JobNotFound
    ├── Conflict                         the current state forbids it       → 409
    │   └── InvalidTransition
    ├── ExternalServiceError             a service outside ours failed      → 502
    │   └── PlayerError and its subclasses
    ├── ConfigurationError (ValueError)  the operator must fix a setting    → 500
    │   └── WeakApiKey, InvalidSettings
    └── JobError                         raised by job handlers on purpose
        ├── RetryableError → JobTimedOut
        └── PermanentError → InvalidPayload

An error belongs to the nearest family in its class's MRO: ``InvalidPayload`` fails a job
for good *and* is input the caller must fix.
"""

from __future__ import annotations

from pydantic import ValidationError


class OrchestratorError(Exception):
    """Base of every error raised by the platform and the services."""


class InvalidInput(OrchestratorError, ValueError):
    """Input the caller must fix: the same input fails the same way every time.

    A ``ValueError`` too, as Python's own "bad value" errors are. ``field`` names the
    invalid field of a request body when there is one.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsupportedInput(InvalidInput):
    """Input of a kind not handled at all (an unknown job type, a body that is no webhook)."""


class NotFound(OrchestratorError):
    """Nothing has the id the caller named."""


class Conflict(OrchestratorError):
    """The request is well formed but the current state forbids it."""


class ExternalServiceError(OrchestratorError):
    """A service outside ours (a media player) refused or failed a request."""


class ConfigurationError(OrchestratorError, ValueError):
    """A setting of the platform is unusable: the operator must change it."""


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


class InvalidPayload(PermanentError, InvalidInput):
    """The payload does not fit the job type; retrying would fail the same way."""


class UnknownJobType(UnsupportedInput):
    """No job type is registered under that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"unknown job type {name!r}; registered types: {', '.join(known) or 'none'}"
            " (extra modules load from ORCH_JOB_MODULES)"
        )
        self.name = name


class JobNotFound(NotFound):
    """No job has that id."""


class InvalidTransition(Conflict):
    """A status change the lifecycle does not allow (e.g. retrying a completed job)."""


# What pydantic puts before a validator's own words: the words are the message.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def field_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Each invalid field of a pydantic error, dotted (``body`` for the whole), with what to
    fix in one phrase: no input echoed, no link to pydantic's pages."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"]
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        problems.append((".".join(str(part) for part in error["loc"]) or "body", message))
    return problems


def one_line(exc: ValidationError) -> str:
    """A pydantic error as ``field: what to fix; field: ...``."""
    return "; ".join(f"{field}: {message}" for field, message in field_problems(exc))
