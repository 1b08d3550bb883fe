"""Anchor files: files a library names that must exist before a scan may touch its catalog.

A network share that dropped leaves its mount point empty (or holding only what the
mount hid), and a scan of it would mark everything removed and tell the players so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

from orchestrator.errors import PermanentError


class Anchored(Protocol):
    """A library as anchors concern it (a ``Library`` row, or the watcher's copy of one)."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def anchors(self) -> Sequence[str] | None: ...


def missing_anchors(library: Anchored) -> list[str]:
    """Absolute paths of the library's anchor files that do not exist; ``[]`` when every
    anchor is there or the library names none."""
    paths = [os.path.join(library.path, anchor) for anchor in library.anchors or []]
    # exists() follows symlinks: an anchor linking into a share that is gone is missing.
    return [path for path in paths if not os.path.exists(path)]


def missing_anchors_message(library: Anchored, missing: list[str]) -> str:
    """What a scan refused because of ``missing`` anchors says: what, why and what to do."""
    what = (
        f"anchor file {missing[0]} is missing"
        if len(missing) == 1
        else f"anchor files {', '.join(missing)} are missing"
    )
    return (
        f"library {library.name}: {what}: the share may not be mounted; nothing was scanned"
        " and no player was told. Mount it (or remove the anchor from the library) and retry"
        " the job"
    )


def require_anchors(library: Anchored) -> None:
    """Fail for good, before the catalog changes, while an anchor file of the library is
    missing: its share may have dropped. A retry would find the same until someone mounts
    it, so the user retries the job then."""
    missing = missing_anchors(library)
    if missing:
        raise PermanentError(missing_anchors_message(library, missing))
