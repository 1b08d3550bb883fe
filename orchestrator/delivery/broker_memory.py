"""How full the broker's memory is: the API refuses new work, and the relay holds, near it.

A Redis broker holds every queued message in memory. With a ``maxmemory`` and no
eviction (the embedded Redis has ``ORCH_REDIS_MAXMEMORY``; docs/production.md says how
to set yours), a full Redis refuses writes: a publish fails, and the jobs would pile up
unpublished. So each process that takes work in reads the broker's ``used_memory`` and
``maxmemory`` from a thread of its own every second (a request never waits on Redis),
and past ``FULL_AT`` of the ceiling the API answers new work with 503 and
``Retry-After``, and the relay holds its batches. What is left above ``FULL_AT`` is for
the workers, whose taking a message also writes (its entry in the unacknowledged set).
"""

from __future__ import annotations

import logging
import time

import redis

from orchestrator.observability.background import LazyThread
from orchestrator.runtime import current

log = logging.getLogger(__name__)

FULL_AT = 0.9
LOOK_EVERY = 1.0


def measure() -> str | None:
    """Why the broker counts as full now, or None (also when it is not a Redis, has no
    ceiling, or does not answer: an outage is reported elsewhere)."""
    client = current().broker_redis()
    if client is None:
        return None
    try:
        memory = client.info("memory")
    except redis.RedisError:
        return None
    used, ceiling = int(memory.get("used_memory", 0)), int(memory.get("maxmemory", 0))
    if not ceiling or used < FULL_AT * ceiling:
        return None
    return (
        f"the broker is full: Redis holds {used / 2**20:.0f} MiB of its maxmemory of"
        f" {ceiling / 2**20:.0f} MiB; new jobs are refused until the workers drain it"
    )


class BrokerMemory:
    """The last reading of :func:`measure`, renewed every ``LOOK_EVERY`` seconds."""

    def __init__(self) -> None:
        self._reason: str | None = None
        self._thread = LazyThread("broker-memory", self._run)

    def full(self) -> str | None:
        """Why the broker is full, or None; the first call starts the watch."""
        self._thread.start()
        return self._reason

    def _run(self) -> None:
        while True:
            try:
                reason = measure()
            except Exception:  # the watch must outlive any one odd answer
                log.exception("broker memory not read")
                reason = None
            if reason and not self._reason:
                log.warning("%s", reason)
            elif self._reason and not reason:
                log.info("the broker has room again")
            self._reason = reason
            time.sleep(LOOK_EVERY)


broker_memory = BrokerMemory()
