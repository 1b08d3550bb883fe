"""A shared Redis client for live events and locks (not for the broker itself)."""

from __future__ import annotations

from functools import lru_cache

import redis

from orchestrator.settings import get_settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def get_redis() -> redis.Redis | None:
    """The Redis client for the configured URL, or None when there is no Redis."""
    url = get_settings().effective_redis_url
    return _client(url) if url else None


def reset_redis() -> None:
    """Forget cached clients (tests, and after a fork)."""
    _client.cache_clear()
