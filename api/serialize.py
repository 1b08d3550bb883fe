"""Jobs as the API returns them, built through their shapes in ``api/schemas.py``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session

from api.schemas import ERROR_MESSAGE_CHARS, Job, JobSummary, ScanQueued
from orchestrator.jobs import models

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


# Columns that hold no free text (ids and types are checked before they are stored): what
# can be shown of a job whose other text the database cannot hand over.
SAFE_COLUMNS = tuple(
    column
    for column in SUMMARY_COLUMNS
    if column.key not in {"summary", "progress_message", "dedupe_key", "worker"}
)
UNREADABLE = "UnreadableRecord"


def unreadable_text(exc: DataError | OperationalError) -> bool:
    """True when ``exc`` says a stored value cannot be read back, not that the database
    is away: invalid JSON text on PostgreSQL (a data exception), invalid UTF-8 on SQLite."""
    return isinstance(exc, DataError) or "Could not decode" in str(exc.orig)


def read_summaries(session: Session, query: Select[Any]) -> list[Any]:
    """The rows of ``query`` (a :func:`summary_query`), each one that cannot be read
    replaced by a stand-in saying so: a row stored before the API refused such text
    must not fail every list that shows it."""
    try:
        return list(session.execute(query))
    except (DataError, OperationalError) as exc:
        if not unreadable_text(exc):
            raise
        session.rollback()
    rows: list[Any] = []
    for job_id in session.scalars(query.with_only_columns(models.Job.id)).all():
        try:
            rows.extend(session.execute(summary_query().where(models.Job.id == job_id)))
        except (DataError, OperationalError) as exc:
            if not unreadable_text(exc):
                raise
            session.rollback()
            rows.append(stand_in(session, job_id))
    return rows


def stand_in(session: Session, job_id: str) -> dict[str, Any]:
    """What can be shown of a job whose stored text cannot be read, as a summary row."""
    row = session.execute(select(*SAFE_COLUMNS).where(models.Job.id == job_id)).one()
    return {
        **{column.key: None for column in SUMMARY_COLUMNS},
        **row._asdict(),
        "summary": "(this job's record cannot be shown)",
        "error_type": UNREADABLE,
        "error_message": "the database holds text in this job's record that it cannot hand"
        " back (invalid Unicode, stored before such text was refused)",
    }


def stand_in_job(session: Session, job_id: str) -> dict[str, Any]:
    """:func:`stand_in` as a whole job (GET of one job)."""
    fields = stand_in(session, job_id)
    error = {"type": fields.pop("error_type"), "message": fields.pop("error_message")}
    whole = {**fields, "payload": {}, "result": None, "checkpoint": None, "error": error}
    return Job.model_validate(whole).dump()
