"""The platform's own scheduled jobs: retention of finished jobs, and the reaper.

The reaper gives back jobs stuck because their worker died (SIGKILL, OOM, power
loss) without the broker giving their message back (Redis keeps an unacknowledged
message until its visibility timeout):
- a job ``processing`` that no live worker runs, started longer ago than
  ``ORCH_REAPER_TIMEOUT``, goes to ``retrying`` (or ``failed`` once its retries are
  spent) and is published again;
- a job waiting (``pending``/``retrying``) and due longer ago than that, that no worker
  holds while its queue is empty, lost its message: it is published again. (A copy of
  a message that was not lost after all is skipped by the claim.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select

from orchestrator import lifecycle
from orchestrator.broker import held_task_ids, queue_depths
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
    held = held_task_ids()
    if held is None:
        # No worker answered: we cannot tell a dead worker from a slow reply.
        return {"reaped": [], "republished": [], "skipped": "no worker answered"}
    held.add(ctx.job_id)
    cutoff = utcnow() - timedelta(seconds=get_settings().reaper_timeout)
    waiting = [s.value for s in lifecycle.WAITING]
    with read_session() as session:
        stuck = session.scalars(
            select(Job).where(Job.status == JobStatus.PROCESSING, Job.started_at < cutoff)
        ).all()
        overdue = session.scalars(
            select(Job).where(
                Job.status.in_(waiting),
                Job.dispatched_at < cutoff,
                func.coalesce(Job.next_retry_at, Job.run_at, Job.dispatched_at) < cutoff,
            )
        ).all()
    reaped = [j.id for j in stuck if j.id not in held and _give_back(j)]
    empty_queues = {queue for queue, depth in queue_depths().items() if depth == 0}
    lost = [j for j in overdue if j.id not in held and j.queue in empty_queues]
    republished = [j.id for j in lost if publish(j)]
    return {"reaped": reaped, "republished": republished}


def _give_back(stuck: Job) -> bool:
    with write_session() as session:
        moved = lose_attempt(session, stuck)
    if moved is not None and moved.status == JobStatus.RETRYING:
        publish(moved)
    return moved is not None
