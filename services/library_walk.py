"""Listing the folders of a library: one per movie, or one per TV season."""

from __future__ import annotations

import os
import re

_SEASON = re.compile(r"^(season\s*\d+|s\d+|specials)$", re.IGNORECASE)
_JUNK = {"@eadir", ".@__thumb", "plex versions", "lost+found", "$recycle.bin"}


def _subfolders(path: str) -> list[str]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    return sorted(
        entry.path
        for entry in entries
        if entry.is_dir(follow_symlinks=True)
        and not entry.name.startswith(".")
        and entry.name.lower() not in _JUNK
    )


def list_library_folders(root: str, kind: str) -> list[str]:
    """Movie folders (``kind='movies'``) or season folders (``kind='tv'``) under ``root``.

    A series without season sub-folders counts as one folder itself.
    """
    root = root.rstrip("/") or "/"
    if kind == "movies":
        return _subfolders(root)
    folders = []
    for series in _subfolders(root):
        seasons = [f for f in _subfolders(series) if _SEASON.match(os.path.basename(f))]
        folders.extend(seasons or [series])
    return folders
