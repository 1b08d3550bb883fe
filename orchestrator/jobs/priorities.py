"""Job priorities: 1..10, lower runs first, and the queue each one goes to (docs/design.md §2.3)."""

from __future__ import annotations

from orchestrator.errors import InvalidInput

PRIORITY_NAMES: dict[str, int] = {"critical": 1, "high": 3, "normal": 5, "low": 8}
QUEUES: tuple[str, ...] = ("critical", "high", "default", "low")
MIN_PRIORITY, MAX_PRIORITY = 1, 10
DEFAULT_PRIORITY = PRIORITY_NAMES["normal"]


class InvalidPriority(InvalidInput):
    """A priority that is neither a name nor an integer from 1 to 10."""


def parse_priority(value: int | str | None, default: int = DEFAULT_PRIORITY) -> int:
    """Turn a priority name or number into 1..10; ``None`` gives ``default``."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise InvalidPriority(f"priority must be 1..10 or one of {sorted(PRIORITY_NAMES)}")
    if isinstance(value, str):
        name = value.strip().lower()
        if name in PRIORITY_NAMES:
            return PRIORITY_NAMES[name]
        if not (name.isascii() and name.isdigit()):
            raise InvalidPriority(
                f"unknown priority {value!r}: use 1..10 or one of {sorted(PRIORITY_NAMES)}"
            )
        value = int(name)
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidPriority(f"priority {value} is out of range: use 1..10 (1 runs first)")
    return value


def queue_for(priority: int) -> str:
    """The queue of a priority: 1-2 critical, 3-4 high, 5-6 default, 7-10 low."""
    if priority <= 2:
        return "critical"
    if priority <= 4:
        return "high"
    if priority <= 6:
        return "default"
    return "low"


def redis_priority(priority: int) -> int:
    """The per-message priority on Redis, where 0 is the most urgent of 10 steps."""
    return priority - 1


def amqp_priority(priority: int) -> int:
    """The per-message priority on RabbitMQ, where 9 is the most urgent."""
    return MAX_PRIORITY - priority


def message_priority(priority: int, broker_url: str) -> int:
    """The broker's per-message priority for a job priority (1 = most urgent)."""
    if broker_url.startswith(("amqp", "pyamqp")):
        return amqp_priority(priority)
    return redis_priority(priority)
