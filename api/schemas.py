"""The JSON forms the API answers with, as pydantic models (docs/design.md §5.1).

Each model is the one source of its shape: the routes build their bodies through it, and
``api/openapi.py`` publishes its JSON schema. The catalog's rows have theirs beside their
request models (``services/catalog/config.py``, ``services/catalog/queries.py``).

A job comes in two forms: whole (``GET /api/v1/jobs/<id>``, submit, retry, cancel) and as
a summary in lists (``GET /api/v1/jobs`` and a job's ``children``). A summary leaves out
``payload``, ``result``, ``checkpoint`` and the error's traceback, which may each be
megabytes, and keeps the error's type and the start of its message.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import url_for
from pydantic import ConfigDict, Field, computed_field

from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.priorities import QUEUES
from orchestrator.jobs.shapes import IsoTime, Shape, optional
from orchestrator.jobs.summaries import MAX_SUMMARY_CHARS

# Enough to say why a job failed; the whole message is in the job's own GET.
ERROR_MESSAGE_CHARS = 300

Queue = Literal[QUEUES]  # type: ignore[valid-type]


class JobLinks(Shape):
    """Where a job and its event stream are."""

    self_: str = Field(alias="self")
    stream: str

    @classmethod
    def of(cls, job_id: str) -> JobLinks:
        """The links of the job ``job_id`` (inside a request)."""
        return cls.model_validate(
            {
                "self": url_for("jobs.get_job", job_id=job_id),
                "stream": url_for("events.job_stream", job_id=job_id),
            }
        )


class Progress(Shape):
    """How far a running job says it is."""

    percent: float | None
    message: str | None


class _JobFields(Shape):
    """What a job and its summary share: every column but the big ones."""

    id: str
    type: str
    summary: str | None = Field(
        max_length=MAX_SUMMARY_CHARS,
        description="What the job is about, in one line (`q` searches it)",
    )
    status: JobStatus
    priority: int = Field(ge=1, le=10, description="1 runs first")
    queue: Queue
    attempts: int = Field(ge=0)
    retry_count: int = Field(ge=0)
    max_retries: int = Field(ge=0)
    progress_percent: float | None = Field(exclude=True)
    progress_message: str | None = Field(exclude=True)
    parent_id: str | None
    root_id: str
    dedupe_key: str | None
    worker: str | None
    created_at: IsoTime
    updated_at: IsoTime
    run_at: IsoTime | None
    dispatched_at: IsoTime | None
    started_at: IsoTime | None
    completed_at: IsoTime | None
    next_retry_at: IsoTime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def progress(self) -> Progress:
        """The job's progress columns as one object."""
        return Progress(percent=self.progress_percent, message=self.progress_message)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> JobLinks:
        """Where the job and its stream are."""
        return JobLinks.of(self.id)


class ErrorSummary(Shape):
    """A failed job's error as lists show it: its type and the start of its message."""

    model_config = ConfigDict(extra="forbid")

    type: str
    message: str = Field(max_length=ERROR_MESSAGE_CHARS + 1)


class JobSummary(_JobFields):
    """A job as lists show it: no payload, result, checkpoint or traceback (GET the job for
    them); the error message is cut to 300 characters and an ellipsis."""

    model_config = ConfigDict(extra="forbid")

    error_type: str | None = Field(exclude=True)
    error_message: str | None = Field(exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def error(self) -> ErrorSummary | None:
        """The error's type and the start of its message, if the job has an error."""
        if self.error_type is None and self.error_message is None:
            return None
        message = self.error_message or ""
        if len(message) > ERROR_MESSAGE_CHARS:
            message = message[:ERROR_MESSAGE_CHARS] + "…"
        return ErrorSummary(type=self.error_type or "", message=message)


class Job(_JobFields):
    """A job in full."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    payload: dict[str, Any]
    result: Any = Field(description="What the handler returned: any JSON")
    error: dict[str, Any] | None = Field(description="type, message and traceback")
    checkpoint: dict[str, Any] | None
    children: list[JobSummary] = optional("GET of one job only")
    deduplicated: bool = optional("Submit only: a pending job held the key")


class Event(Shape):
    """The JSON `data:` of a Server-Sent Event (its `id:` and `event:` too)."""

    id: int
    event: str = Field(validation_alias="name")
    job_id: str
    root_id: str
    type: str = Field(validation_alias="job_type")
    status: JobStatus
    attempt: int
    data: dict[str, Any]
    created_at: IsoTime


class ProblemField(Shape):
    """One invalid field of a request body, and why."""

    field: str
    message: str


class Problem(Shape):
    """An RFC 9457 problem, as application/problem+json."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    errors: list[ProblemField] = optional("422 from validation: each invalid field and why")
    field: str = optional("422: the field naming a row that does not exist")


class WebhookQueued(Shape):
    """The 202 of a webhook: the job that will handle it."""

    status: Literal["queued"] = "queued"
    job_id: str
    event_type: str


class ScanQueued(Shape):
    """The 202 of an action that queued a job: its id and links."""

    status: Literal["queued"] = "queued"
    job_id: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def links(self) -> JobLinks:
        """Where the job and its stream are."""
        return JobLinks.of(self.job_id)


class Health(Shape):
    """The process answers."""

    status: Literal["ok"] = "ok"


class ReadinessChecks(Shape):
    """Whether each dependency answered."""

    database: bool
    broker: bool


class Readiness(Shape):
    """Whether the database and the broker answer."""

    status: Literal["ready", "unavailable"]
    checks: ReadinessChecks


class PlayerKind(Shape):
    """A type a player may have, with its name."""

    type: str
    label: str


class PlayerKinds(Shape):
    """The types a player may have, in the order they are offered."""

    items: list[PlayerKind]


class PlayerReachable(Shape):
    """A player of its type answered and accepted the credentials."""

    ok: Literal[True] = True
    type: str
    status: Literal["reachable"] = "reachable"
    version: str = Field(max_length=40)
    libraries: list[LibraryCheck] = []


class LibraryCheck(Shape):
    """Whether a library of the player's group is inside one of the player's own library
    folders (a Kodi video source, a Plex section), at the group-mapped ``path``."""

    library: str
    path: str
    in_source: bool | None  # None: the player does not tell
    message: str


class PlayerFailed(Shape):
    """The player test failed; ``error`` is a fixed message, never what answered."""

    ok: Literal[False] = False
    type: str
    status: Literal["unreachable", "unrecognized", "refused", "failed"]
    error: str
