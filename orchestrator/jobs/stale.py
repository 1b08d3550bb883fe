"""Writes of an attempt that is no longer its job's current one: discarded, said, counted.

Every write of a running attempt (progress, checkpoint, completion, retry, failure) is
conditional on the job still being ``processing`` at that attempt (docs/design.md §3.3):
an attempt handed back to the queue while its process still ran (a partition, a reaper's
judgement) may finish after, or before, the attempt that replaced it, and must change
nothing.
"""

from __future__ import annotations

import logging

from orchestrator.jobs.models import Job
from orchestrator.observability.logs import job_logger
from orchestrator.observability.metrics import count
from orchestrator.storage.db import read_session

log = logging.getLogger(__name__)


def note_discarded(job: Job, write: str) -> None:
    """Say why the ``write`` ("result", "failure", "retry", "progress", "checkpoint") of
    ``job``'s attempt changed nothing; count it when a newer attempt owns the job."""
    with read_session() as session:
        current = session.get(Job, job.id)
        now = (current.attempts, current.status) if current is not None else (None, "deleted")
    if now[0] == job.attempts:
        # The same attempt, moved on by someone else (cancelled): nothing stale.
        job_logger(log, job).info("%s discarded: the job is %s", write, now[1])
        return
    job_logger(log, job).warning(
        "%s of attempt %d discarded: the job is %s at attempt %s", write, job.attempts, now[1],
        now[0],
    )  # fmt: skip
    count("stale_writes", {"type": job.type, "write": write})
