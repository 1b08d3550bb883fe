"""Stopping a child process: politely first, by force if it hangs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any


def terminate(process: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """SIGTERM ``process`` and wait up to ``timeout`` seconds, then SIGKILL it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid`` (a child started in a session of its own).

    A child dying abruptly leaves its own children (pool processes, gunicorn workers)
    behind, holding sockets and jobs; they share its process group.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
