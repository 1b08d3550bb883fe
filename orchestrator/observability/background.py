"""Daemon threads of a process, started on first use: writers that batch work off the
caller's path (dispatch stamps, metric counters) and the event doorbell.

A forked child (a Celery pool process, a gunicorn worker) inherits these objects but
not their threads: each child starts its own when it first needs one, and forgets the
items its parent had not yet written (the parent writes those).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_writers: list[BatchWriter[Any]] = []


def flush_all() -> None:
    """Write what every batch writer of this process holds (before the process exits)."""
    for writer in _writers:
        try:
            writer.flush()
        except Exception:  # one writer's failure must not keep the others from writing
            log.exception("%s: a batch was not written", writer.name)


class LazyThread:
    """A daemon thread running ``target``, started by the first :meth:`start`."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.target = target
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._reset)

    def start(self) -> None:
        """Start the thread unless it runs already."""
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    self._thread = threading.Thread(target=self.target, name=self.name, daemon=True)
                    self._thread.start()

    def _reset(self) -> None:
        self._starting = threading.Lock()
        self._thread = None


class BatchWriter(Generic[T]):
    """Items added by any thread, written together by a thread of this process every
    ``interval`` seconds with ``write(items)``, and once more when the process exits."""

    def __init__(self, name: str, write: Callable[[list[T]], None], interval: float) -> None:
        self.name = name
        self.interval = interval
        self._write = write
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._thread = LazyThread(name, self._run)
        os.register_at_fork(after_in_child=self._forget)
        _writers.append(self)

    def add(self, *items: T) -> None:
        """Queue ``items``; they are written within ``interval`` seconds."""
        with self._lock:
            self._items.extend(items)
        self._thread.start()

    def flush(self) -> int:
        """Write every queued item now; returns how many there were."""
        with self._lock:
            batch, self._items = self._items, []
        if batch:
            self._write(batch)
        return len(batch)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.flush()
            except Exception:  # the thread must outlive any one failed write
                log.exception("%s: a batch was not written", self.name)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._items = []


atexit.register(flush_all)
