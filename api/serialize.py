"""JSON forms of jobs as the API returns them (docs/design.md §5.1).

A job comes in two forms: whole (``GET /api/v1/jobs/<id>``, submit, retry, cancel) and as
a summary in lists (``GET /api/v1/jobs`` and a job's ``children``). A summary leaves out
``payload``, ``result``, ``checkpoint`` and the error's traceback, which may each be
megabytes, and keeps the error's type and the start of its message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import Row, Select, func, select

from orchestrator.models import Job

# Enough to say why a job failed; the whole message is in the job's own GET.
ERROR_MESSAGE_CHARS = 300

# Every column but the big ones (payload, result, error, checkpoint).
SUMMARY_COLUMNS = (
    Job.id, Job.type, Job.status, Job.priority, Job.queue, Job.attempts, Job.retry_count,
    Job.max_retries, Job.progress_percent, Job.progress_message, Job.parent_id, Job.root_id,
    Job.dedupe_key, Job.worker, Job.created_at, Job.updated_at, Job.run_at, Job.dispatched_at,
    Job.started_at, Job.completed_at, Job.next_retry_at, Job.summary,
)  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _links(job_id: str) -> dict[str, str]:
    return {
        "self": url_for("jobs.get_job", job_id=job_id),
        "stream": url_for("events.job_stream", job_id=job_id),
    }


def queued(job: Job) -> dict[str, Any]:
    """The body of a 202 for a job an action queued: its id and links."""
    return {"status": "queued", "job_id": job.id, "links": _links(job.id)}


def _common(job: Job | Row[Any]) -> dict[str, Any]:
    """The fields both forms share."""
    return {
        "id": job.id,
        "type": job.type,
        "summary": job.summary,
        "status": job.status,
        "priority": job.priority,
        "queue": job.queue,
        "attempts": job.attempts,
        "retry_count": job.retry_count,
        "max_retries": job.max_retries,
        "progress": {"percent": job.progress_percent, "message": job.progress_message},
        "parent_id": job.parent_id,
        "root_id": job.root_id,
        "dedupe_key": job.dedupe_key,
        "worker": job.worker,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "run_at": _iso(job.run_at),
        "dispatched_at": _iso(job.dispatched_at),
        "started_at": _iso(job.started_at),
        "completed_at": _iso(job.completed_at),
        "next_retry_at": _iso(job.next_retry_at),
        "links": _links(job.id),
    }


def job_to_dict(job: Job, *, children: list[Row[Any]] | None = None) -> dict[str, Any]:
    """The whole job with its links; ``children`` (rows of ``summary_query``) as summaries."""
    body = _common(job)
    body.update(payload=job.payload, result=job.result, error=job.error, checkpoint=job.checkpoint)
    if children is not None:
        body["children"] = [job_summary(child) for child in children]
    return body


def summary_query() -> Select[*tuple[Any, ...]]:
    """A SELECT of what ``job_summary`` needs and nothing more.

    The error's type and the start of its message are read inside the database, so that
    neither the traceback nor a huge message ever reaches this process.
    """
    message = func.substr(Job.error["message"].as_string(), 1, ERROR_MESSAGE_CHARS + 1)
    return select(
        *SUMMARY_COLUMNS,
        Job.error["type"].as_string().label("error_type"),
        message.label("error_message"),
    )


def job_summary(row: Row[Any]) -> dict[str, Any]:
    """A job as lists show it: a row of ``summary_query``; ``error`` is {type, message}."""
    body = _common(row)
    error = None
    if row.error_type is not None or row.error_message is not None:
        message = row.error_message or ""
        if len(message) > ERROR_MESSAGE_CHARS:
            message = message[:ERROR_MESSAGE_CHARS] + "…"
        error = {"type": row.error_type or "", "message": message}
    body["error"] = error
    return body
