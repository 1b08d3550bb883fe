"""Group commit: the writes that threads of a process ask for together share one transaction.

Under load, each API request waiting for a write transaction of its own spent most of
its time queuing for the database's write lock (SQLite) or a commit (PostgreSQL). Here
the first thread to arrive while no group is being written becomes the writer: it takes
every write queued so far, runs them in one transaction and commits, while the threads
that arrive meanwhile queue for the next group. Each caller still returns only once
its own write is committed, with its own result or exception.

When a write of the group raises, the transaction is rolled back and each write of the
group runs again in a transaction of its own, so that one bad write fails alone; when
the database itself fails, every write of the group gets that error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import OperationalError

from orchestrator.jobs.unit_of_work import UnitOfWork, unit_of_work

T = TypeVar("T")


class _Write(Generic[T]):
    """One caller's write, and what came of it."""

    def __init__(self, work: Callable[[UnitOfWork], T]) -> None:
        self.work = work
        self.done = False
        self.leads = False  # set when this caller is to write the next group
        self.woken = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True
        self.woken.set()


class GroupCommit:
    """Queues writes and commits them in groups (see the module docstring)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[_Write[Any]] = []
        self._writing = False

    def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work(uow)`` in a transaction shared with concurrent writes; returns its
        result once committed, or raises its exception (or the commit's)."""
        mine: _Write[T] = _Write(work)
        with self._lock:
            self._queued.append(mine)
            mine.leads = not self._writing
            self._writing = True
        if not mine.leads:
            # Each caller waits on its own event: a commit wakes only its own group.
            mine.woken.wait()
        if not mine.done:
            self._write_next_group()
        if mine.error is not None:
            raise mine.error
        result: T = mine.result
        return result

    def _write_next_group(self) -> None:
        """Write every queued write (the caller's among them), then hand the writing over
        to the first caller that queued meanwhile, if any."""
        with self._lock:
            group, self._queued = self._queued, []
        try:
            _write_group(group)
        finally:
            with self._lock:
                if self._queued:
                    self._queued[0].leads = True
                    self._queued[0].woken.set()
                else:
                    self._writing = False


def _write_group(group: list[_Write[Any]]) -> None:
    if len(group) == 1:
        _write_alone(group[0])
        return
    try:
        with unit_of_work() as uow:
            results = [write.work(uow) for write in group]
    except OperationalError as exc:
        # The database itself failed (away, locked too long): alone, each write would
        # only wait for the same failure again.
        _fail(group, exc)
        return
    except Exception:
        for write in group:
            _write_alone(write)
        return
    except BaseException as exc:  # interrupted: no caller may wait for ever
        _fail(group, exc)
        raise
    for write, result in zip(group, results, strict=True):
        write.finish(result)


def _write_alone(write: _Write[Any]) -> None:
    try:
        with unit_of_work() as uow:
            result = write.work(uow)
    except Exception as exc:  # handed to the caller, whose exception it is
        write.finish(error=exc)
    except BaseException as exc:
        _fail([write], exc)
        raise
    else:
        write.finish(result)


def _fail(group: list[_Write[Any]], exc: BaseException) -> None:
    for write in group:
        write.finish(error=exc)


group_commit = GroupCommit()
