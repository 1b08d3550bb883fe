"""One beat per data dir: a second one would submit every periodic job twice.

``orchestrator up`` and ``orchestrator beat`` hold an exclusive ``flock`` on
``beat.lock`` in the data dir for as long as they run (the kernel drops it when
the process dies, however it dies), and write their pid and command in it so that
a refused second one can say who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "beat.lock"


class BeatLockHeld(RuntimeError):
    """Another process runs beat on this data dir."""


def acquire(data_dir: Path, holder: str) -> int:
    """Take the lock of ``data_dir`` for this process (``holder`` names its command).

    Returns the locked file descriptor; the lock lasts while it stays open, in this
    process or, if made inheritable, in the program it executes. Raises
    :class:`BeatLockHeld`, naming the data dir and the holder, if it is taken.
    """
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 500).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise BeatLockHeld(
            f"data dir {data_dir.resolve()} is in use by {owner}, which runs beat on it;"
            " stop that one first, or set another ORCH_DATA_DIR"
        ) from None
    # Truncate only once locked: the file is the holder's to write.
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} ({holder})\n".encode())
    return fd
