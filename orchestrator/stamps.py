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

import atexit
import logging
import os
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.db import write_session
from orchestrator.models import Job, UTCDateTime

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


class DispatchStamps:
    """Stamps waiting to be written, and the thread that writes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None

    def add(self, job_id: str, published_at: datetime) -> None:
        """Note that ``job_id`` was published at ``published_at``; written shortly."""
        with self._lock:
            self._pending.append({"job_id": job_id, "published_at": published_at})
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dispatch-stamps", daemon=True
                )
                self._thread.start()

    def flush(self) -> int:
        """Write every waiting stamp now; returns how many were written."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            with write_session() as session:
                session.connection().execute(STAMP, batch)
        except SQLAlchemyError as exc:
            log.warning("%d dispatch stamps not written (%s); the sweep re-publishes"
                        " those jobs", len(batch), exc)  # fmt: skip
            return 0
        return len(batch)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            self.flush()

    def _forget(self) -> None:
        # A forked child inherits the list but not the thread: the parent writes those.
        self._lock = threading.Lock()
        self._pending = []
        self._thread = None


stamps = DispatchStamps()
atexit.register(stamps.flush)
os.register_at_fork(after_in_child=stamps._forget)
