"""Limits on the shape of a job payload, checked wherever one enters the platform.

A payload nested hundreds of levels deep is valid JSON, yet it cannot be handed from
a worker's main process to its pool (pickling recurses once per level), so it is
refused at the door and dropped by the worker if it was published straight to the
broker. Real payloads (webhook bodies included) are fewer than ten levels deep.
"""

from __future__ import annotations

from typing import Any

MAX_PAYLOAD_DEPTH = 64


def nesting_depth(value: Any, limit: int = MAX_PAYLOAD_DEPTH) -> int:
    """How many containers deep ``value`` goes, counting stops just past ``limit``.

    Walks with a stack instead of recursion, so that no input can exhaust Python's.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def too_deep(
    value: Any, limit: int = MAX_PAYLOAD_DEPTH, text: str | bytes | None = None
) -> str | None:
    """A message saying why ``value`` is nested too deeply, or None if it is not.

    ``text``, the value as JSON when it is at hand, spares the walk of a value whose JSON
    holds too few brackets to nest that deep (counting them costs next to nothing).
    """
    if isinstance(text, str):
        text = text.encode()
    if text is not None and text.count(b"{") + text.count(b"[") <= limit:
        return None
    if nesting_depth(value, limit) > limit:
        return f"nested more than {limit} levels deep: flatten it"
    return None
