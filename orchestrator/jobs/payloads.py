"""Limits on the shape of a job payload, checked wherever one enters the platform.

A payload nested hundreds of levels deep is valid JSON, yet it cannot be handed from
a worker's main process to its pool (pickling recurses once per level), so it is
refused at the door and dropped by the worker if it was published straight to the
broker. Real payloads (webhook bodies included) are fewer than ten levels deep.

Text no database can store (half of a UTF-16 surrogate pair, which JSON can spell as an
escape) is refused the same way: one such row used to make every list that showed it fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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


# How JSON spells a UTF-16 surrogate (\ud800 to \udfff): the only way one gets in.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def any_string(value: Any, test: Callable[[str], bool]) -> bool:
    """True if ``test`` holds for a string anywhere in ``value`` (keys included)."""
    if isinstance(value, str):
        return test(value)
    if isinstance(value, dict):
        return any(any_string(k, test) or any_string(v, test) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(any_string(item, test) for item in value)
    return False


def lone_surrogate(text: str) -> bool:
    """True if ``text`` holds half of a UTF-16 surrogate pair: no database, and no JSON
    answer, can hold it (a pair, spelled as two escapes, is read as one character)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate_in(value: Any, text: str | bytes) -> bool:
    """True if a string in ``value`` holds half of a surrogate pair; ``text``, the value as
    JSON, spares the walk when it spells no surrogate at all."""
    if isinstance(text, bytes):
        spelled = _SURROGATE_ESCAPE_BYTES.search(text) is not None
    else:
        spelled = _SURROGATE_ESCAPE.search(text) is not None
    return spelled and any_string(value, lone_surrogate)
