"""JSON forms of jobs as the API returns them (DESIGN 3.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for

from orchestrator.models import Job


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_to_dict(job: Job, *, children: list[Job] | None = None) -> dict[str, Any]:
    """The job with its links; ``children`` are listed when given."""
    body: dict[str, Any] = {
        "id": job.id,
        "type": job.type,
        "status": job.status,
        "priority": job.priority,
        "queue": job.queue,
        "payload": job.payload,
        "result": job.result,
        "error": job.error,
        "checkpoint": job.checkpoint,
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
        "links": {
            "self": url_for("jobs.get_job", job_id=job.id),
            "stream": url_for("events.job_stream", job_id=job.id),
        },
    }
    if children is not None:
        body["children"] = [job_to_dict(child) for child in children]
    return body
