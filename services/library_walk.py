"""Listing the folders of a library: one per movie, per TV season, or per album."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import NamedTuple

_SEASON = re.compile(r"^(season\s*\d+|s\d+|specials)$", re.IGNORECASE)
_JUNK = {"@eadir", ".@__thumb", "plex versions", "lost+found", "$recycle.bin"}

Leaves = Callable[[str], bool]


class LibraryFolders(NamedTuple):
    """The folders of a library, and those left out because a link leads out of it."""

    folders: list[str]
    linked_out: list[str]


def _subfolders(path: str, leaves: Leaves | None, linked_out: list[str]) -> list[str]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return []
    folders = []
    for entry in entries:
        if (
            not entry.is_dir(follow_symlinks=True)
            or entry.name.startswith(".")
            or entry.name.lower() in _JUNK
        ):
            continue
        # Only a link can lead elsewhere: a plain folder lies where its parent does.
        if leaves and entry.is_symlink() and leaves(entry.path):
            linked_out.append(entry.path)
        else:
            folders.append(entry.path)
    return sorted(folders)


def _is_season(path: str) -> bool:
    return bool(_SEASON.match(os.path.basename(path)))


def walk_library(root: str, kind: str, leaves: Leaves | None = None) -> LibraryFolders:
    """Movie folders (``kind='movies'``), season folders (``kind='tv'``) or album folders
    (``kind='music'``, under their artist's) under ``root``.

    A series without season sub-folders counts as one folder itself. A folder reached
    through a link that ``leaves`` refuses is listed in ``linked_out`` and never entered
    (None: every link is followed).
    """
    root = root.rstrip("/") or "/"
    linked_out: list[str] = []
    if kind == "movies":
        return LibraryFolders(_subfolders(root, leaves, linked_out), sorted(linked_out))
    if kind == "music":  # artist folders holding album folders
        albums = []
        for artist in _subfolders(root, leaves, linked_out):
            albums.extend(_albums_of(artist, leaves, linked_out))
        return LibraryFolders(albums, sorted(linked_out))
    folders = []
    for series in _subfolders(root, leaves, linked_out):
        out: list[str] = []
        seasons = [f for f in _subfolders(series, leaves, out) if _is_season(f)]
        out_seasons = [f for f in out if _is_season(f)]
        linked_out.extend(out_seasons)
        # A series whose seasons all link out is not a season folder itself.
        folders.extend(seasons or ([] if out_seasons else [series]))
    return LibraryFolders(folders, sorted(linked_out))


def _albums_of(artist: str, leaves: Leaves | None, linked_out: list[str]) -> list[str]:
    # An artist folder without album folders is an album itself.
    return _subfolders(artist, leaves, linked_out) or [artist]


def album_folders(artist: str, leaves: Leaves | None = None) -> LibraryFolders:
    """The album folders of an artist's folder, as ``walk_library`` lists a music library's
    (junk and links out of the library left out)."""
    linked_out: list[str] = []
    return LibraryFolders(_albums_of(artist, leaves, linked_out), sorted(linked_out))


def list_library_folders(root: str, kind: str) -> list[str]:
    """The folders of ``walk_library``, following every link."""
    return walk_library(root, kind).folders
