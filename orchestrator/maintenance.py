"""The platform's own scheduled jobs: retention of finished jobs, and the reaper.

The reaper gives back jobs stuck in ``processing`` because their worker process
died (SIGKILL, OOM, power loss): a job that no live worker reports as running,
started longer ago than ``ORCH_REAPER_TIMEOUT``, goes to ``retrying`` (or
``failed`` once its retries are spent) and is published again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from orchestrator import lifecycle
from orchestrator.broker import live_workers
from orchestrator.context import JobContext
from orchestrator.db import read_session, write_session
from orchestrator.dispatch import publish
from orchestrator.lifecycle import JobStatus
from orchestrator.models import Job, utcnow
from orchestrator.registry import job
from orchestrator.runner import lose_attempt
from orchestrator.settings import get_settings

RETENTION_BATCH = 1000


@job("retention", priority="low", max_retries=1, schedule=6 * 3600.0)
def retention(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Delete finished jobs (and their events) older than ``ORCH_RETENTION_DAYS``."""
    days = get_settings().retention_days
    cutoff = utcnow() - timedelta(days=days)
    finished = [s.value for s in lifecycle.TERMINAL]
    deleted = 0
    while True:
        with write_session() as session:
            ids = list(
                session.scalars(
                    select(Job.id)
                    .where(Job.status.in_(finished), Job.completed_at < cutoff)
                    .limit(RETENTION_BATCH)
                )
            )
            if not ids:
                break
            # Children outlive their parents' rows: the foreign key sets parent_id NULL.
            session.execute(delete(Job).where(Job.id.in_(ids)))
            deleted += len(ids)
        ctx.progress(50, f"{deleted} jobs deleted")
    return {"deleted": deleted, "older_than_days": days}


@job("reaper", priority="critical", max_retries=0, schedule=get_settings().reaper_interval)
def reaper(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Return to the queue the jobs whose worker is gone."""
    timeout = get_settings().reaper_timeout
    running = live_workers()
    if running is None:
        # No worker answered: we cannot tell a dead worker from a slow reply.
        return {"reaped": [], "skipped": "no worker answered"}
    active = {task_id for tasks in running.values() for task_id in tasks} | {ctx.job_id}
    cutoff = utcnow() - timedelta(seconds=timeout)
    with read_session() as session:
        stuck = [
            j
            for j in session.scalars(
                select(Job).where(Job.status == JobStatus.PROCESSING, Job.started_at < cutoff)
            )
            if j.id not in active
        ]
    reaped = [j.id for j in stuck if _give_back(j)]
    return {"reaped": reaped, "workers": sorted(running)}


def _give_back(stuck: Job) -> bool:
    with write_session() as session:
        moved = lose_attempt(session, stuck)
    if moved is not None and moved.status == JobStatus.RETRYING:
        publish(moved)
    return moved is not None
