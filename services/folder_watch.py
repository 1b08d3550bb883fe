"""Watched folders: what changes under a library no manager feeds becomes a scan.

inotify (through watchdog) reports each file created, changed, moved or deleted. A change
is taken to the folder a scan covers (a movie folder, a season folder: :func:`scan_unit`),
and :class:`Debouncer` holds each such folder until it has been quiet for a while and the
sizes of its files stopped changing (a copy in progress keeps growing), so that a folder
copied over minutes is scanned once, when it is whole.

inotify needs one watch per folder, and a user has ``fs.inotify.max_user_watches`` of them
(8,192 on many systems): :func:`watch_budget` says whether a library's folders fit before
any is watched, so that running out never goes unnoticed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
# Watches other programs of the same user (a desktop, a sync client) may hold.
WATCH_HEADROOM = 1024
# A folder's files are listed to compare sizes: at most this many (a season has dozens).
MAX_FILES_COMPARED = 2000
RAISE_THE_LIMIT = (
    "raise it with `sysctl -w fs.inotify.max_user_watches=524288` (and a line"
    " `fs.inotify.max_user_watches=524288` in /etc/sysctl.d/90-inotify.conf to keep it)"
)


def scan_unit(library_path: str, kind: str, path: str, is_directory: bool) -> str | None:
    """The folder whose scan covers a change at ``path``: the movie folder (first level
    under the library) or the season folder (second level, under the show); the library
    itself for a file at its top. None if ``path`` is not in the library."""
    relative = os.path.relpath(path, library_path)
    if relative == os.curdir:
        return library_path
    if relative.startswith(os.pardir):
        return None
    parts = relative.split(os.sep)
    if not is_directory:
        parts = parts[:-1]  # a file: its folder
    depth = 1 if kind == "movies" else 2  # a season, or an album (under its artist)
    return os.path.join(library_path, *parts[:depth])


def sizes_under(folder: str) -> dict[str, int]:
    """Each file under ``folder`` (at most ``MAX_FILES_COMPARED``) and its size now."""
    sizes: dict[str, int] = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                sizes[path] = os.stat(path).st_size
            except OSError:  # gone meanwhile: the next look tells
                continue
            if len(sizes) >= MAX_FILES_COMPARED:
                return sizes
    return sizes


@dataclass
class _Pending:
    last_change: float
    sizes: dict[str, int] | None = None


@dataclass
class Debouncer:
    """Folders that changed, each released once quiet for ``quiet`` seconds with its files'
    sizes the same as at the previous look."""

    quiet: float
    clock: Callable[[], float] = time.monotonic
    measure: Callable[[str], dict[str, int]] = sizes_under
    _pending: dict[str, _Pending] = field(default_factory=dict)

    def changed(self, folder: str) -> None:
        """``folder`` changed now: wait for it to be quiet again."""
        pending = self._pending.setdefault(folder, _Pending(self.clock()))
        pending.last_change = self.clock()

    def ready(self) -> list[str]:
        """The folders quiet for ``quiet`` seconds whose sizes have stopped changing."""
        now, done = self.clock(), []
        for folder, pending in list(self._pending.items()):
            if now - pending.last_change < self.quiet:
                continue
            sizes = self.measure(folder)
            if pending.sizes is not None and sizes == pending.sizes:
                done.append(folder)
                del self._pending[folder]
            else:  # still growing (or first look): look again after another quiet spell
                pending.sizes, pending.last_change = sizes, now
        return done

    def waiting(self) -> int:
        """How many folders are held."""
        return len(self._pending)


def folders_under(path: str, limit: int) -> int:
    """How many folders ``path`` holds, itself included, counting at most ``limit + 1``."""
    count = 0
    for _root, dirs, _files in os.walk(path):
        count += 1
        if count > limit:
            break
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(_root, d))]
    return count


def max_user_watches() -> int | None:
    """``fs.inotify.max_user_watches``, or None where it cannot be read."""
    try:
        return int(MAX_USER_WATCHES.read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Budget:
    """Whether some folders fit in the inotify watches left, and why not."""

    fits: bool
    needed: int
    limit: int | None
    reason: str = ""


def watch_budget(paths: Iterable[str], in_use: int) -> Budget:
    """Whether watching every folder under ``paths`` fits in ``max_user_watches``, given
    the ``in_use`` watches this process holds and some headroom for other programs."""
    limit = max_user_watches()
    if limit is None:
        return Budget(True, 0, None)
    room = max(limit - in_use - WATCH_HEADROOM, 0)
    needed = sum(folders_under(path, room) for path in paths)
    if needed <= room:
        return Budget(True, needed, limit)
    return Budget(
        False,
        needed,
        limit,
        f"watching would need more than {room:,} inotify watches (one per folder;"
        f" fs.inotify.max_user_watches is {limit:,}, {in_use:,} in use here): {RAISE_THE_LIMIT}",
    )


def watches_in_use(pid: int | None = None) -> int:
    """The inotify watches process ``pid`` (default: this one) holds, read from
    ``/proc/<pid>/fdinfo``; 0 where that cannot be read."""
    fdinfo = Path(f"/proc/{pid or os.getpid()}/fdinfo")
    count = 0
    try:
        entries = list(fdinfo.iterdir())
    except OSError:
        return 0
    for entry in entries:
        try:
            count += entry.read_text().count("inotify wd:")
        except OSError:
            continue
    return count
