"""Jobs as the API returns them, built through their shapes in ``api/schemas.py``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Select, func, select

from api.schemas import ERROR_MESSAGE_CHARS, Job, JobSummary, ScanQueued
from orchestrator import models

# Every column but the big ones (payload, result, error, checkpoint).
SUMMARY_COLUMNS = tuple(
    getattr(models.Job, name)
    for name in JobSummary.model_fields
    if name not in {"error_type", "error_message"}
)


def queued(job: models.Job) -> dict[str, Any]:
    """The body of a 202 for a job an action queued: its id and links."""
    return ScanQueued.build(job_id=job.id).dump()


def job_to_dict(job: models.Job, *, children: list[Row[Any]] | None = None) -> dict[str, Any]:
    """The whole job with its links; ``children`` (rows of ``summary_query``) as summaries."""
    shape = Job.model_validate(job)
    if children is not None:
        shape.children = [JobSummary.model_validate(child) for child in children]
    return shape.dump()


def summary_query() -> Select[*tuple[Any, ...]]:
    """A SELECT of what ``job_summary`` needs and nothing more.

    The error's type and the start of its message are read inside the database, so that
    neither the traceback nor a huge message ever reaches this process.
    """
    error = models.Job.error
    message = func.substr(error["message"].as_string(), 1, ERROR_MESSAGE_CHARS + 1)
    return select(
        *SUMMARY_COLUMNS,
        error["type"].as_string().label("error_type"),
        message.label("error_message"),
    )


def job_summary(row: Row[Any]) -> dict[str, Any]:
    """A job as lists show it: a row of ``summary_query``; ``error`` is {type, message}."""
    return JobSummary.dump_of(row)
