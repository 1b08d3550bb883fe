"""A shared Redis client for live events and locks (not for the broker itself)."""

from __future__ import annotations

from functools import lru_cache

import redis

from orchestrator.settings import get_settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    timeout = get_settings().network_timeout
    return redis.Redis.from_url(
        url,
        socket_timeout=min(5.0, timeout),
        socket_connect_timeout=min(2.0, timeout),
    )


def get_redis() -> redis.Redis | None:
    """The Redis client for the configured URL, or None when there is no Redis."""
    url = get_settings().effective_redis_url
    return _client(url) if url else None


def broker_redis() -> redis.Redis | None:
    """A client of the broker's Redis (for its memory figures), or None if it is not Redis."""
    url = get_settings().broker_redis_url
    return _client(url) if url else None


def reset_redis() -> None:
    """Forget cached clients (tests, and after a fork)."""
    _client.cache_clear()
