"""Retry policy and priority mapping."""

from __future__ import annotations

import pytest

from orchestrator.jobs.priorities import (
    InvalidPriority,
    amqp_priority,
    parse_priority,
    queue_for,
    redis_priority,
)
from orchestrator.jobs.retry import backoff_delay, should_retry


def test_backoff_doubles_until_the_cap() -> None:
    top = [backoff_delay(n, base=2, cap=60, rng=lambda: 1.0) for n in range(7)]
    assert top == [2, 4, 8, 16, 32, 60, 60]


def test_jitter_stays_in_the_upper_half() -> None:
    assert backoff_delay(3, base=2, cap=600, rng=lambda: 0.0) == 8
    assert backoff_delay(3, base=2, cap=600, rng=lambda: 1.0) == 16
    delays = {backoff_delay(3, base=2, cap=600) for _ in range(50)}
    assert all(8 <= d <= 16 for d in delays) and len(delays) > 1


def test_retries_stop_at_max_retries() -> None:
    assert [should_retry(n, 2) for n in range(4)] == [True, True, False, False]
    assert not should_retry(0, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("critical", 1), ("HIGH", 3), ("normal", 5), ("low", 8), (1, 1), (10, 10), ("7", 7),
     (None, 5)],
)  # fmt: skip
def test_parse_priority(value: int | str | None, expected: int) -> None:
    assert parse_priority(value) == expected


@pytest.mark.parametrize("value", [0, 11, -1, "urgent", "", True, "5.5"])
def test_parse_priority_rejects(value: object) -> None:
    with pytest.raises(InvalidPriority):
        parse_priority(value)  # type: ignore[arg-type]


def test_queue_mapping_follows_the_design() -> None:
    assert [queue_for(p) for p in range(1, 11)] == (
        ["critical"] * 2 + ["high"] * 2 + ["default"] * 2 + ["low"] * 4
    )


def test_broker_priorities_keep_the_order() -> None:
    # Redis: 0 is the most urgent; RabbitMQ: the highest number is.
    assert [redis_priority(p) for p in (1, 5, 10)] == [0, 4, 9]
    assert [amqp_priority(p) for p in (1, 5, 10)] == [9, 5, 0]
