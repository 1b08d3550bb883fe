"""Is a file the manager imported here yet, in full, as this host sees it?

A network share (NFS, SMB, rclone) can lag behind the manager's import by seconds or
minutes; a player asked to scan before the file is there in full finds nothing, or a
partial file. The webhook names each file and its size, so the wait needs no guessing.
"""

from __future__ import annotations

import os

GIB = 1024**3


def what_is_missing(path: str, size: int | None) -> str | None:
    """What still keeps the file at ``path`` from being there in full ("not there yet",
    "4.1 of 11.7 GiB there"); None once it holds at least ``size`` bytes (any size when
    ``size`` is None)."""
    try:
        found = os.stat(path).st_size
    except FileNotFoundError:
        return "not there yet"
    except OSError as exc:  # a share that dropped, a folder we may not enter
        return f"not readable: {exc.strerror or type(exc).__name__}"
    if size is not None and found < size:
        return f"{_size(found)} of {_size(size)} there"
    return None


def _size(count: int) -> str:
    return f"{count / GIB:.1f} GiB" if count >= GIB / 10 else f"{count:,} bytes"
