"""Byte budgets for event streams: how long a stream waits before it may send more.

A replay from an old ``Last-Event-ID`` costs the API process CPU to read and encode
every stored event, and many such streams at once starve the threads that answer
everything else. So what streams send is paced, by token buckets refilled at a steady
rate of bytes a second: one per client address (its streams share it, however many it
opens) and one for the whole process.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time


class Buckets:
    """Token buckets of bytes, one per key, each filled at ``rate`` up to ``burst``.

    Sending is never refused: a send that overdraws a bucket makes the sender wait
    until the bucket is back at zero (:meth:`spend` says how long).
    """

    # Past this many keys, buckets that are full again (their clients idle) are dropped.
    PRUNE_AT = 1024

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._lock = threading.Lock()
        self._levels: dict[str, tuple[float, float]] = {}  # key -> (level, when)

    def spend(self, key: str, size: int) -> float:
        """Take ``size`` bytes from ``key``'s bucket; the seconds to wait before sending."""
        with self._lock:
            now = time.monotonic()
            level = self._level(key, now) - size
            self._levels[key] = (level, now)
            if len(self._levels) > self.PRUNE_AT:
                self._prune(now)
        return max(0.0, -level / self.rate)

    def _level(self, key: str, now: float) -> float:
        level, when = self._levels.get(key, (self.burst, now))
        return min(self.burst, level + (now - when) * self.rate)

    def _prune(self, now: float) -> None:
        for key in [k for k in self._levels if self._level(k, now) >= self.burst]:
            del self._levels[key]


class StreamPace:
    """The budgets every stream of this process draws from: its client's and the process's."""

    def __init__(self, client_rate: float, process_rate: float) -> None:
        # A bucket holds two seconds' worth: a small replay goes out at once.
        self.clients = Buckets(client_rate, 2 * client_rate)
        self.process = Buckets(process_rate, 2 * process_rate)

    def reserve(self, client: str, size: int) -> None:
        """Take ``size`` bytes about to be sent to ``client``; sleep as long as the budgets ask.

        Called before the work of reading and encoding what will be sent (which is what
        costs the process), with a guess of its size; :meth:`correct` settles the guess.
        """
        delay = max(self.clients.spend(client, size), self.process.spend("", size))
        if delay:
            time.sleep(delay)

    def correct(self, client: str, extra: int) -> None:
        """Settle a reservation: ``extra`` bytes more were sent than reserved (or fewer)."""
        self.clients.spend(client, extra)
        self.process.spend("", extra)


def release_free_memory() -> None:
    """Hand memory that is free but still held by the C allocator back to the system."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
