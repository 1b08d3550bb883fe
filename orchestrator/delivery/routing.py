"""Where a job's message goes: its queue and its per-message priority."""

from __future__ import annotations

from typing import Any

from orchestrator.jobs.priorities import message_priority, queue_for
from orchestrator.jobs.registry import find_job_type
from orchestrator.runtime import current


def route_task(
    name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **kw: Any
) -> dict[str, Any] | None:
    """Celery router: a message sent without a queue goes to its job type's default queue.

    This is what routes ``celery -A orchestrator call <type>``; the platform's own
    publishing always names the queue and priority itself.
    """
    if options.get("queue"):
        return None
    job_type = find_job_type(name)
    if job_type is None:
        return None
    return {
        "queue": queue_for(job_type.priority),
        "priority": message_priority(job_type.priority, current().settings.effective_broker_url),
    }
