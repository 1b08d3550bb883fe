"""The Celery application: ``celery -A orchestrator ...`` finds it as ``orchestrator.app``."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

app = Celery("orchestrator")
app.config_from_object("celeryconfig")


@worker_process_init.connect
def _reset_connections_after_fork(**_: Any) -> None:
    # A forked pool process must not share the parent's sockets.
    from orchestrator.db import reset_engines
    from orchestrator.redis_client import reset_redis

    reset_engines()
    reset_redis()


@app.task(name="orchestrator.redispatch", ignore_result=True)
def redispatch() -> int:
    """Re-publish jobs committed but never published (the broker was away)."""
    from orchestrator.dispatch import redispatch_unpublished

    return redispatch_unpublished()
