"""Stamping ``dispatched_at`` in batches, off the submitter's path.

Every publish is followed by a stamp of the row's ``dispatched_at``. Written inline,
that stamp is a second write transaction per submit (on SQLite, a second wait for the
write lock, the main cost of a webhook under load). Instead a thread of each process
writes the stamps of the last moment's publishes in one transaction.

A stamp is only a note that the message went out. One lost with its process means
the sweep publishes that job again after ``ORCH_SWEEP_GRACE``: a duplicate message,
which the claim skips. A job is never lost. A stamp only applies to a row unchanged
since its publish, so a late stamp cannot mark a retry as sent before it was.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.jobs.models import Job, UTCDateTime
from orchestrator.observability.background import BatchWriter
from orchestrator.storage.db import write_session

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.2

_published_at = bindparam("published_at", type_=UTCDateTime())
STAMP = (
    update(Job)
    .where(
        Job.id == bindparam("job_id"),
        Job.dispatched_at.is_(None),
        Job.updated_at <= _published_at,
    )
    .values(dispatched_at=_published_at)
)


def _write(batch: list[dict[str, Any]]) -> None:
    try:
        with write_session() as session:
            session.connection().execute(STAMP, batch)
    except SQLAlchemyError as exc:
        log.warning("%d dispatch stamps not written (%s); the sweep re-publishes"
                    " those jobs", len(batch), exc)  # fmt: skip


# Items: {"job_id": ..., "published_at": ...}.
stamps: BatchWriter[dict[str, Any]] = BatchWriter("dispatch-stamps", _write, FLUSH_INTERVAL)
