"""Jobs: submit, list, get, retry, cancel (docs/design.md §5.1)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt
from sqlalchemy import and_, or_
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from api.errors import ApiError, get_row
from api.requests import hidden_types, json_body, query_limit, storable
from api.serialize import (
    job_summary,
    job_to_dict,
    read_summaries,
    stand_in_job,
    summary_query,
    unreadable_text,
)
from orchestrator.jobs.dispatch import cancel_job, retry_job, submit
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job
from orchestrator.jobs.priorities import PRIORITY_NAMES, parse_priority
from orchestrator.jobs.registry import get_job_type
from orchestrator.jobs.summaries import MAX_SUMMARY_CHARS, summary_contains
from orchestrator.storage.db import read_session

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")
JOB_ID_MAX = 36  # the length of the jobs' id column
API_PRIORITY_MIN = PRIORITY_NAMES["high"]

LIST_FILTERS = ("status", "type", "root_id", "parent_id")


class SubmitBody(BaseModel):
    """Body of ``POST /api/v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    # Strict: JSON true is not the number 1.
    priority: StrictInt | str | None = None
    max_retries: StrictInt | None = Field(default=None, ge=0, le=100)
    countdown: StrictFloat | StrictInt | None = Field(default=None, ge=0, le=30 * 24 * 3600)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=255)


def _priority_over_the_api(job_type: str, asked: int | str | None) -> int:
    """The priority of a job submitted over the API: never critical (1-2), which is kept
    for webhooks and the platform's own work, so that no client can hold that lane; and
    the platform's own maintenance types are not submitted at all."""
    kind = get_job_type(job_type)
    if kind.internal:
        raise ApiError(
            422, f"{kind.name} is the platform's own maintenance, run on beat: it cannot be"
            " submitted",
        )  # fmt: skip
    level = parse_priority(asked, default=kind.priority)
    if level >= API_PRIORITY_MIN:
        return level
    if asked is None:
        return API_PRIORITY_MIN  # a type whose own default is critical: high over the API
    raise ApiError(
        422, f"priority {asked!r} is critical, kept for webhooks and the platform's own work:"
        f" use high ({API_PRIORITY_MIN}) or lower",
    )  # fmt: skip


@bp.post("")
def submit_job() -> tuple[Response, int, dict[str, str]]:
    """Record and queue a job; 202 with the job (an existing one when deduplicated)."""
    body = SubmitBody.model_validate(json_body())
    submitted = submit(
        body.type,
        body.payload,
        priority=_priority_over_the_api(body.type, body.priority),
        max_retries=body.max_retries,
        countdown=body.countdown,
        dedupe_key=body.dedupe_key,
    )
    job = job_to_dict(submitted.job)
    job["deduplicated"] = not submitted.created
    return jsonify(job), 202, {"Location": job["links"]["self"]}


def _encode_cursor(created_at: datetime, job_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        moment = datetime.fromisoformat(created)
        moment.astimezone(UTC)  # out-of-range moments fail here, not in the query
        if not isinstance(job_id, str) or len(job_id) > JOB_ID_MAX or not storable(job_id):
            raise ValueError("not a job id")  # no row has it: the query would fail
        return moment, job_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise ApiError(400, "cursor is not valid: pass next_cursor from a previous page") from exc


@bp.get("")
def list_jobs() -> Response:
    """Job summaries, newest first, filtered by status, type, root_id and parent_id, and
    by ``q``: a piece of the summary, case-insensitive.

    A summary has no payload, result, checkpoint or traceback: the job's own GET has them.
    """
    limit = query_limit()
    query = summary_query()
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in JobStatus}:
        allowed = ", ".join(s.value for s in JobStatus)
        raise ApiError(400, f"status must be one of: {allowed}")
    for name in LIST_FILTERS:
        value = request.args.get(name)
        if value is not None:
            query = query.where(getattr(Job, name) == value)
    if hidden := hidden_types():
        query = query.where(Job.type.not_in(hidden))
    if search := request.args.get("q"):
        if len(search) > MAX_SUMMARY_CHARS:
            raise ApiError(400, f"q must be at most {MAX_SUMMARY_CHARS} characters")
        query = query.where(summary_contains(search))
    if cursor := request.args.get("cursor"):
        created, job_id = _decode_cursor(cursor)
        query = query.where(
            or_(Job.created_at < created, and_(Job.created_at == created, Job.id < job_id))
        )
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    with read_session() as session:
        rows = read_summaries(session, query)
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = _encode_cursor(last.created_at, last.id) if last else None
    return jsonify({"items": [job_summary(r) for r in rows[:limit]], "next_cursor": next_cursor})


@bp.get("/<job_id>")
def get_job(job_id: str) -> Response:
    """One job in full, with its children as summaries."""
    with read_session() as session:
        try:
            job = get_row(session, Job, job_id, "job")
        except (DataError, OperationalError) as exc:
            if not unreadable_text(exc):
                raise
            session.rollback()
            return jsonify(stand_in_job(session, job_id))
        query = summary_query().where(Job.parent_id == job_id).order_by(Job.created_at)
        children = read_summaries(session, query)
    return jsonify(job_to_dict(job, children=children))


@bp.post("/<job_id>/retry")
def retry(job_id: str) -> tuple[Response, int]:
    """Queue a failed or cancelled job again."""
    try:
        job = retry_job(job_id)
    except IntegrityError as exc:
        raise ApiError(
            409, "another pending job holds this job's dedupe_key; retry it once that one ran"
        ) from exc
    return jsonify(job_to_dict(job)), 202


@bp.post("/<job_id>/cancel")
def cancel(job_id: str) -> Response:
    """Cancel a waiting job, or stop a running one."""
    return jsonify(job_to_dict(cancel_job(job_id)))
