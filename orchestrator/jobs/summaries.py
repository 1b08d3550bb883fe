"""A job's summary: one short line saying what the job is about (docs/design.md §2.1).

The job type derives it from the payload when the job is built (``@job(summarize=...)``);
a handler may refine it (``ctx.summary``), stored when the job completes. People find
jobs by it: the page and the CLI show it, ``GET /api/v1/jobs?q=`` searches it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from orchestrator.jobs.models import Job

log = logging.getLogger(__name__)

MAX_SUMMARY_CHARS = 200
# A summary is one line: control characters (a newline in a folder name) become spaces.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

Summarize = Callable[[dict[str, Any]], str | None]


def clip(text: Any) -> str | None:
    """``text`` as one line of at most ``MAX_SUMMARY_CHARS`` characters; None if empty."""
    if not isinstance(text, str):
        return None
    line = " ".join(_CONTROL.sub(" ", text).split())
    if not line:
        return None
    return line if len(line) <= MAX_SUMMARY_CHARS else line[: MAX_SUMMARY_CHARS - 1] + "…"


def default_summary(payload: dict[str, Any]) -> str | None:
    """For a type without ``summarize``: the payload's ``path`` or ``folder``, else its
    ``dirs`` joined, else nothing."""
    for key in ("path", "folder"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    dirs = payload.get("dirs")
    if isinstance(dirs, list):
        return ", ".join(d for d in dirs[:20] if isinstance(d, str)) or None
    return None


def summarize(summarizer: Summarize | None, payload: dict[str, Any]) -> str | None:
    """The summary of a job with this payload; None when there is nothing to say.

    A summary is only a label: a summarizer that raises must not refuse the job.
    """
    try:
        return clip((summarizer or default_summary)(payload))
    except Exception as exc:  # any bug of a job module's summarizer
        log.warning("summary not made: %s: %s", type(exc).__name__, exc)
        return None


class lower_text(FunctionElement[str]):  # noqa: N801 - named as SQL functions are
    """``lower()`` for every letter, not only ASCII's: SQLite's own ``lower`` and ``LIKE``
    fold ASCII alone, so there it is ``unicode_lower``, Python's ``str.lower``
    (registered on each connection by ``orchestrator.storage.db``)."""

    type = String()
    name = "lower_text"
    inherit_cache = True


@compiles(lower_text)
def _lower_text(element: lower_text, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lower_text, "sqlite")
def _sqlite_lower_text(element: lower_text, compiler: Any, **kw: Any) -> str:
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


def summary_contains(text: str) -> ColumnElement[bool]:
    """Jobs whose summary holds ``text``, ignoring case; ``%`` and ``_`` are literal."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return lower_text(Job.summary).like(f"%{escaped}%", escape="\\")
