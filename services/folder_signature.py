"""A cheap signature of a folder's contents, to tell whether it changed since it was scanned.

The signature hashes the sorted (relative path, size, mtime in ns) of every entry under
the folder, sub-folders included (extras, BDMV, VIDEO_TS, Subs): adding, removing,
renaming, resizing or touching a file anywhere inside changes it. It costs one
``scandir`` per folder and one ``stat`` per file, and reads no file. A link that
``leaves`` refuses (it leads out of the library) counts as the link itself, never what it
points to: nothing outside the library is looked at, and letting the library follow links
changes the signature, so that its next ``library-scan`` rescans the folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

Entry = tuple[str, int, int]
Leaves = Callable[[str], bool]


def folder_signature(path: str | os.PathLike[str], leaves: Leaves | None = None) -> str | None:
    """Hex digest of the folder's contents; None when the folder does not exist.

    ``leaves`` tells the links not to follow (None: every link is followed). Raises
    ``OSError`` when the folder exists but cannot be read (e.g. permissions).
    """
    entries: list[Entry] = []
    try:
        _collect(os.fspath(path), entries, leaves)
    except (FileNotFoundError, NotADirectoryError):
        return None
    digest = hashlib.blake2b(digest_size=16)
    for relative, size, mtime_ns in sorted(entries):
        digest.update(os.fsencode(relative) + f"\0{size}\0{mtime_ns}\n".encode())
    return digest.hexdigest()


def _collect(root: str, entries: list[Entry], leaves: Leaves | None) -> None:
    # A stack, not recursion: a folder nested a thousand deep is read like any other.
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as listing:
                children = list(listing)
        except OSError:
            if not prefix:
                raise  # the folder itself: the caller says what is wrong
            # An unreadable sub-folder must not hide the rest of the movie.
            entries.append((prefix, -1, -1))
            continue
        for child in children:
            _note(child, prefix, entries, pending, leaves)


def _note(
    child: os.DirEntry[str],
    prefix: str,
    entries: list[Entry],
    pending: list[tuple[str, str]],
    leaves: Leaves | None,
) -> None:
    relative = prefix + child.name
    # Symlinked folders are not followed: a link back up would never end.
    if child.is_dir(follow_symlinks=False):
        entries.append((relative + "/", 0, 0))
        pending.append((child.path, relative + "/"))
        return
    try:
        if leaves and child.is_symlink() and leaves(child.path):
            stat = child.stat(follow_symlinks=False)
        else:
            stat = child.stat()
    except OSError:  # vanished meanwhile, or a broken symlink
        try:
            stat = child.stat(follow_symlinks=False)
        except OSError:
            return
    entries.append((relative, stat.st_size, stat.st_mtime_ns))
