"""The unit of work: one write transaction of jobs, and what it says once committed.

Everything that records a job's life (a new job, a status change, progress) writes
through a :class:`UnitOfWork` opened by :func:`unit_of_work`, which does, in order:

1. the caller's statements, on ``uow.session``, as it makes them (a status change is
   an UPDATE and its event an INSERT, at once);
2. just before the commit, the rows batched for it: new jobs and their ``job.created``
   events, one INSERT per shape of row (the submissions that ``group_commit`` gathers
   from many threads share one transaction, and so these statements);
3. the commit;
4. after it, and only then: the metric counts the events feed (handed to the writer
   that adds them to the shared totals, ``metrics.counts``), the event streams'
   doorbell (``events.ringer``), one log line per lifecycle change, and what callers
   asked to do once it is committed (``after_commit``: publish a job it recorded).

A transaction that fails does none of 2 and says none of 4. Publishing a committed job
is the caller's next step, not this one's: ``dispatch.submit`` hands new jobs to the
relay, the runner publishes retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from orchestrator.jobs.models import Job, JobEvent, utcnow
from orchestrator.observability.events import ringer
from orchestrator.observability.logs import is_routine, job_logger
from orchestrator.observability.metrics import counter_row, counts, event_counts
from orchestrator.storage.db import write_session


@dataclass
class UnitOfWork:
    """What one transaction of jobs writes late and announces after its commit."""

    session: Session
    _jobs: list[dict[str, Any]] = field(default_factory=list)
    _events: list[dict[str, Any]] = field(default_factory=list)
    _counts: list[dict[str, Any]] = field(default_factory=list)
    _lines: list[tuple[logging.Logger, Job, str, tuple[Any, ...]]] = field(default_factory=list)
    _ring: bool = False
    _after: list[Callable[[], None]] = field(default_factory=list)

    def add_job(self, row: dict[str, Any], *, batched: bool = False) -> None:
        """Insert a job's row: now, or (``batched``) with the others just before commit."""
        if batched:
            self._jobs.append(row)
        else:
            # Core on the session's connection: the ORM's flush would double the cost.
            self.session.connection().execute(insert(Job), row)

    def record_event(
        self, job: Job, name: str, data: dict[str, Any], *, batched: bool = False
    ) -> None:
        """Store an event of ``job`` (with its job's row if ``batched``); its counts and
        the doorbell follow the commit."""
        row = {
            "job_id": job.id,
            "root_id": job.root_id,
            "job_type": job.type,
            "name": name,
            "status": job.status,
            "attempt": job.attempts,
            "data": data,
            "created_at": utcnow(),
        }
        if batched:
            self._events.append(row)
        else:
            self.session.connection().execute(insert(JobEvent), row)
        self._counts += event_counts(name, job.type, data)
        self._ring = True

    def increment(self, metric: str, labels: dict[str, str], amount: float = 1) -> None:
        """Add ``amount`` to a counter once the transaction commits."""
        self._counts.append(counter_row(metric, labels, amount))

    def log(self, logger: logging.Logger, job: Job, message: str, *args: Any) -> None:
        """Log a line about ``job`` once the transaction commits (what it says is then true)."""
        self._lines.append((logger, job, message, args))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed (never if it fails)."""
        self._after.append(callback)

    def _write_batched(self) -> None:
        """Step 2: the batched jobs, then their events (which refer to them)."""
        # One statement per set of columns (jobs with and without a due time, ...).
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in self._jobs:
            shapes.setdefault(tuple(row), []).append(row)
        connection = self.session.connection()
        for same in shapes.values():
            connection.execute(insert(Job), same)
        if self._events:
            connection.execute(insert(JobEvent), self._events)

    def _announce(self) -> None:
        """Step 4: counts, doorbell, log lines, then the callers' callbacks."""
        if self._counts:
            counts.add(*self._counts)
        if self._ring:
            ringer.request()
        for logger, job, message, args in self._lines:
            level = logging.DEBUG if is_routine(job.type) else logging.INFO
            job_logger(logger, job).log(level, message, *args)
        for callback in self._after:
            callback()


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """A write transaction of jobs: steps 1 to 4 of the module docstring."""
    with write_session() as session:
        uow = UnitOfWork(session)
        yield uow
        uow._write_batched()
    uow._announce()
