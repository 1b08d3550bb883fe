"""Retry policy: exponential backoff with jitter and a cap."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    retry_count: int,
    base: float,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before the retry that follows ``retry_count`` earlier retries.

    The raw delay doubles each time (``base * 2**retry_count``) up to ``cap``; the
    delay returned lies in the upper half of it ("equal jitter"), so retries of jobs
    that failed together spread out but never come sooner than half the raw delay.
    """
    raw = min(cap, base * (2 ** max(retry_count, 0)))
    return raw / 2 + rng() * raw / 2


def should_retry(retry_count: int, max_retries: int) -> bool:
    """True while the job has retries left."""
    return retry_count < max_retries
