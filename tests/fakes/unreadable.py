"""Folders that cannot be listed, even by root (which lists any folder whatever its mode).

``refusing(scandir, locked)`` wraps ``os.scandir`` so that it raises the
``PermissionError`` a folder of mode 0 gives for every folder ``locked()`` names and
everything below it. A test process installs it with ``monkeypatch``; a worker, which a
test cannot reach, installs it when it loads this module (``ORCH_JOB_MODULES``) with
``UNREADABLE_LIST`` naming a file of folders, one a line, that the test rewrites.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

UNREADABLE_LIST = "TEST_UNREADABLE_LIST"

Scandir = Callable[..., Any]


def refusing(scandir: Scandir, locked: Callable[[], Iterable[str]]) -> Scandir:
    """``scandir``, refusing the folders ``locked()`` names and what lies below them."""

    def scandir_refusing(path: Any = ".") -> Any:
        if not isinstance(path, int):  # a descriptor is already open: nothing to refuse
            target = os.path.abspath(os.fsdecode(path))
            for folder in locked():
                if target == folder or target.startswith(folder.rstrip("/") + "/"):
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return scandir(path)

    return scandir_refusing


def listed_folders() -> list[str]:
    """The folders named in the file of ``UNREADABLE_LIST`` (none if it is missing)."""
    try:
        text = Path(os.environ[UNREADABLE_LIST]).read_text()
    except (KeyError, FileNotFoundError):
        return []
    return [line for line in text.splitlines() if line]


if os.environ.get(UNREADABLE_LIST):
    os.scandir = refusing(os.scandir, listed_folders)
