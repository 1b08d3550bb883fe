"""The folder watcher: one process per deployment (``orchestrator watch``, a child of ``up``)
that turns changes under the libraries marked ``watch`` into ``manual-scan`` jobs.

It reads which libraries to watch every ``reload_every`` seconds, so a library marked or
unmarked on the page is followed without a restart. A library whose folders do not fit in
the inotify watches left is not watched: a WARNING says how to raise the limit, and a
``library-scan`` of it is submitted every ``fallback_every`` seconds instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from orchestrator import submit
from orchestrator.delivery.beatlock import RENEW_EVERY, release_lease, take_lease, this_process
from orchestrator.storage.db import read_session
from services.catalog.anchors import missing_anchors, missing_anchors_message
from services.catalog.models import Library
from services.folder_watch import Debouncer, scan_unit, watch_budget, watches_in_use
from services.pathmap import is_within

log = logging.getLogger(__name__)

# What a change is, of the events watchdog reports (opening or reading a file is none).
CHANGES = frozenset({"created", "modified", "moved", "deleted", "closed"})
# The most folders one manual-scan job names (its payload's limit).
DIRS_PER_JOB = 100
WATCHER_LEASE = "watcher"
LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class Watched:
    """A library as the watcher needs it."""

    id: int
    name: str
    path: str
    kind: str
    anchors: tuple[str, ...] = ()


class _Changes(FileSystemEventHandler):
    """Takes each change under a library to the folder to scan, into the debouncer."""

    def __init__(self, library: Watched, debouncer: Debouncer, lock: threading.Lock) -> None:
        self.library, self.debouncer, self.lock = library, debouncer, lock

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Hold the folder of each path the event names."""
        if event.event_type not in CHANGES or (event.is_directory and event.event_type in (
            "modified", "closed"
        )):  # fmt: skip
            return  # a folder's own time changes with each file: the file's event says it
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = raw.decode() if isinstance(raw, bytes) else raw
            unit = path and scan_unit(self.library.path, self.library.kind, path,
                                      event.is_directory)  # fmt: skip
            if unit:
                with self.lock:
                    self.debouncer.changed(unit)


class FolderWatcher:
    """Watches the libraries marked ``watch`` and submits scans of what changed."""

    def __init__(
        self, quiet: float, reload_every: float = 30.0, fallback_every: float = 900.0
    ) -> None:
        self.debouncer = Debouncer(quiet)
        self.reload_every, self.fallback_every = reload_every, fallback_every
        self.lock = threading.Lock()
        self.observer: Any = Observer()
        self.watched: dict[int, tuple[Watched, Any]] = {}  # id: (library, watch handle)
        self.fallback: dict[int, tuple[Watched, float]] = {}  # id: (library, next scan)
        self.unmounted: set[int] = set()  # ids of libraries whose anchors are missing

    def run(self, stop: threading.Event, tick: float = 0.25) -> None:
        """Watch until ``stop`` is set, while this watcher holds the deployment's lease."""
        self.observer.start()
        lease = WatcherLease()
        next_reload = 0.0
        try:
            while not stop.is_set():
                try:
                    if not lease.hold():
                        self.sync([])  # another watcher has the deployment: stand by
                        next_reload = 0.0
                    elif time.monotonic() >= next_reload:
                        self.sync(_watched_libraries())
                        next_reload = time.monotonic() + self.reload_every
                    self.submit_ready()
                    self.scan_fallbacks()
                except Exception as exc:  # the database away: what is held waits, and so do we
                    log.warning("the watcher waits: %s", exc)
                    stop.wait(self.reload_every / 6)
                stop.wait(tick)
        finally:
            self.observer.stop()
            self.observer.join(timeout=5)
            lease.release()

    def sync(self, libraries: list[Watched]) -> None:
        """Watch these libraries, and only these, while their shares are mounted."""
        wanted = {library.id: library for library in libraries}
        for library_id in list(self.watched):
            library, handle = self.watched[library_id]
            if wanted.get(library_id) != library:  # unmarked, deleted or moved
                self._unwatch(library_id)
                log.info("no longer watching library %s (%s)", library.name, library.path)
        for library_id in list(self.fallback):
            if wanted.get(library_id) != self.fallback[library_id][0]:
                del self.fallback[library_id]
        self.unmounted &= set(wanted)
        for library in wanted.values():
            missing = missing_anchors(library)
            if missing:
                # An unmounted share looks like every file deleted, and its folders' watches
                # went with it: scan nothing until it is back.
                if library.id not in self.unmounted:
                    log.warning("watched %s", missing_anchors_message(library, missing))
                    self.unmounted.add(library.id)
                    self._unwatch(library.id)
                continue
            if library.id in self.unmounted:
                self.unmounted.discard(library.id)
                log.info("library %s is mounted again: scanning it whole", library.name)
                submit("library-scan", {"library_id": library.id})
            if library.id not in self.watched and library.id not in self.fallback:
                self._watch(library)

    def _unwatch(self, library_id: int) -> None:
        if library_id in self.watched:
            self.observer.unschedule(self.watched.pop(library_id)[1])

    def _watch(self, library: Watched) -> None:
        budget = watch_budget([library.path], in_use=watches_in_use())
        if budget.fits:
            try:
                handle = self.observer.schedule(
                    _Changes(library, self.debouncer, self.lock), library.path, recursive=True
                )
            except OSError as exc:  # ENOSPC: the watches ran out all the same; or no folder
                self._fall_back(library, f"cannot watch {library.path}: {exc}")
                return
            self.watched[library.id] = (library, handle)
            log.info(
                "watching library %s (%s): %s folders", library.name, library.path, budget.needed
            )
            return
        self._fall_back(library, budget.reason)

    def _fall_back(self, library: Watched, reason: str) -> None:
        minutes = self.fallback_every / 60
        log.warning(
            "library %s is not watched: %s; it is scanned every %g min instead",
            library.name, reason, minutes,
        )  # fmt: skip
        self.fallback[library.id] = (library, time.monotonic())

    def submit_ready(self) -> None:
        """Submit a scan of each folder that is quiet and whole, by library."""
        with self.lock:
            ready = self.debouncer.ready()
        by_library: dict[int, list[str]] = defaultdict(list)
        for folder in ready:
            library = self._library_of(folder)
            if library is not None:
                by_library[library.id].append(folder)
        for library_id, folders in by_library.items():
            library = self.watched[library_id][0]
            missing = missing_anchors(library)
            if missing:  # unmounted since the last sync: its deletions are no deletions
                log.warning("watched %s", missing_anchors_message(library, missing))
                continue
            for start in range(0, len(folders), DIRS_PER_JOB):
                dirs = sorted(folders[start : start + DIRS_PER_JOB])
                try:
                    submitted = submit("manual-scan", {"dirs": dirs, "trigger": "watch"})
                except Exception as exc:  # the database or broker away: keep them for later
                    log.warning("library %s: %d folders changed, not submitted yet: %s",
                                library.name, len(dirs), exc)  # fmt: skip
                    with self.lock:
                        for folder in dirs:
                            self.debouncer.changed(folder)
                    continue
                log.info("library %s: %d folders changed: job %s", library.name, len(dirs),
                         submitted.job.id)  # fmt: skip

    def scan_fallbacks(self) -> None:
        """Submit the scheduled scan of each library that could not be watched, when due."""
        now = time.monotonic()
        for library_id, (library, due) in list(self.fallback.items()):
            if now >= due:
                submit("library-scan", {"library_id": library_id})
                self.fallback[library_id] = (library, now + self.fallback_every)

    def _library_of(self, folder: str) -> Watched | None:
        for library, _handle in self.watched.values():
            if is_within(folder, library.path):
                return library
        return None


class WatcherLease:
    """The deployment's ``watcher`` lease: one watcher submits scans, another stands by
    and takes over within ``LEASE_SECONDS`` of the first one's end."""

    def __init__(self) -> None:
        self.holder = this_process()
        self._renewed = float("-inf")
        self._held: bool | None = None

    def hold(self) -> bool:
        """Whether this watcher has the lease; renewed every ``RENEW_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._renewed < RENEW_EVERY and self._held is not None:
            return self._held
        self._renewed = now
        try:
            owner, _until = take_lease(WATCHER_LEASE, self.holder, LEASE_SECONDS)
        except SQLAlchemyError as exc:
            log.warning("cannot renew the watcher lease: %s", exc)
            owner = ""
        held = owner == self.holder
        if held != self._held:
            if held:
                log.info("this watcher watches the deployment's libraries")
            else:
                log.warning("standing by: %s watches the libraries", owner or "no one known")
        self._held = held
        return held

    def release(self) -> None:
        """Give the lease up (a clean stop): a standing-by watcher takes over at once."""
        if self._held:
            release_lease(WATCHER_LEASE, self.holder)


def _watched_libraries() -> list[Watched]:
    with read_session() as session:
        rows = session.scalars(select(Library).where(Library.watch.is_(True)))
        return [
            Watched(row.id, row.name, row.path, row.kind, tuple(row.anchors or ())) for row in rows
        ]
