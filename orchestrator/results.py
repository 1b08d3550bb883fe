"""The Celery result backend: Redis, without a subscription per published task.

Celery's Redis backend subscribes to every task it publishes, in case the caller
waits on the result. The platform never does (the database is the record), and
that subscription would cost a round trip per job and hang publishing while
Redis is away. ``celery -A orchestrator result <id>`` still works: waiting on a
result subscribes then.

Celery also reads a task's stored state before each store, so that a duplicate run
cannot overwrite a success; the claim in SQL already runs each job once, so that
read would be one more round trip per job for nothing.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str


class RedisResults(RedisBackend):
    """Redis result backend that does not subscribe when a task is published."""

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Publishing needs no result subscription (see the module docstring)."""

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: str | None = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Store the state without reading the stored one first (see the module docstring)."""
        meta = self._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = bytes_to_str(task_id)
        try:
            self._set_with_state(self.get_key_for_task(task_id), self.encode(meta), state)
        except BackendStoreError as exc:
            raise BackendStoreError(str(exc), state=state, task_id=task_id) from exc
        return result
