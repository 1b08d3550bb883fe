"""The Celery result backend: Redis, without a subscription per published task.

Celery's Redis backend subscribes to every task it publishes, in case the caller
waits on the result. The platform never does (the database is the record), and
that subscription would cost a round trip per job and hang publishing while
Redis is away. ``celery -A orchestrator result <id>`` still works: waiting on a
result subscribes then.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend


class RedisResults(RedisBackend):
    """Redis result backend that does not subscribe when a task is published."""

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Publishing needs no result subscription (see the module docstring)."""
