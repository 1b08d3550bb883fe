"""Stopping a child process: politely first, by force if it hangs."""

from __future__ import annotations

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
