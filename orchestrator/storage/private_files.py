"""The data dir and every file the platform creates in it are private to its user.

The SQLite database holds player passwords and tokens, the embedded Redis's
append-only file the queued jobs: the data dir is 0700 and its files 0600.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

# Files 0600, directories 0700, whoever creates them: this process, gunicorn, Celery,
# the embedded Redis, SQLite (its -wal and -shm files too).
PRIVATE_UMASK = 0o077

log = logging.getLogger(__name__)


def keep_private(data_dir: Path) -> None:
    """Make every file this process and its children create private; the data dir 0700.

    Called by the ``orchestrator`` command itself, never on import: a program using
    the package as a library keeps its umask. The children the command starts or
    execs (gunicorn, Celery, the embedded Redis) inherit the umask.
    """
    os.umask(PRIVATE_UMASK)
    try:
        mode = stat.S_IMODE(data_dir.stat().st_mode)
    except FileNotFoundError:
        return  # whoever creates it creates it 0700, under the umask
    if not mode & 0o077:
        return
    # Created readable by others by an older version (or by hand): the files in it
    # may be 0644, the directory is what keeps them private.
    try:
        data_dir.chmod(0o700)
    except OSError as exc:
        log.warning("data dir %s is mode %o and could not be made 0700: %s", data_dir, mode, exc)
