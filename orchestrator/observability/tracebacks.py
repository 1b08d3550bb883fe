"""Tracebacks as a job's record keeps them: every frame, with server paths made short.

A job's error is shown on the page and by the API to anyone with a key; the folders the
code is installed in are nobody's business there and only make lines long. A frame of
the project reads ``orchestrator/jobs/runner.py``, one of an installed package
``<site-packages>/celery/app/task.py``, one of Python's own ``<python>/json/decoder.py``.
"""

from __future__ import annotations

import re
import sysconfig
import traceback
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_FILE = re.compile(r'^(  File ")([^"]+)(")', re.MULTILINE)


@lru_cache(maxsize=1)
def _roots() -> list[tuple[str, str]]:
    """(folder, what it is shown as), the longest first: a venv inside the project is
    site-packages, not the project."""
    paths = sysconfig.get_paths()
    roots = {
        paths["purelib"]: "<site-packages>",
        paths["platlib"]: "<site-packages>",
        paths["stdlib"]: "<python>",
        paths["platstdlib"]: "<python>",
        str(PROJECT_ROOT): "",
    }
    return sorted(roots.items(), key=lambda item: len(item[0]), reverse=True)


def short_path(path: str) -> str:
    """``path`` relative to the project, site-packages or Python's library, if in one."""
    for root, shown in _roots():
        if path.startswith(root.rstrip("/") + "/"):
            rest = path[len(root.rstrip("/")) + 1 :]
            return f"{shown}/{rest}" if shown else rest
    return path


def format_traceback(exc: BaseException) -> str:
    """The whole traceback of ``exc``, its file paths made short (:func:`short_path`)."""
    text = "".join(traceback.format_exception(exc))
    return _FILE.sub(lambda m: m.group(1) + short_path(m.group(2)) + m.group(3), text)
