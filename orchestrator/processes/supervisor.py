"""Keeping the children of ``orchestrator up`` running: a child that exits is restarted.

The delay before a restart doubles with each quick failure (1 s, 2 s, 4 s ... up to
30 s) and falls back to 1 s once the child has run steadily for a minute, so that a
crash loop neither spins the machine nor makes a one-off crash wait long.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.processes.stopping import kill_group

log = logging.getLogger(__name__)


@dataclass
class Child:
    """One supervised command, and its current process."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    # Restarts since the child last ran steadily: the exponent of the backoff.
    quick_failures: int = 0
    # When it is due to start again (None while it runs).
    restart_at: float | None = None

    def start(self) -> None:
        """Start the command in a session of its own.

        Its own session keeps a terminal's Ctrl-C from reaching it: the supervisor
        decides the order of the shutdown (see :meth:`Supervisor.stop`).
        """
        env = {**os.environ, "ORCH_SERVICE": self.name, **self.env}
        self.process = subprocess.Popen(self.command, env=env, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None

    def exited(self) -> bool:
        """True if the process ran and has exited."""
        return self.process is not None and self.process.poll() is not None


def describe_exit(code: int) -> str:
    """``1``, or ``-9 (SIGKILL)`` for a process killed by a signal."""
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)


class Supervisor:
    """Starts children, restarts any that exits (with backoff), stops them all on demand."""

    def __init__(
        self,
        children: list[Child],
        on_restart: Callable[[Child], None] = lambda child: None,
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        steady_after: float = 60.0,
    ) -> None:
        self.children = children
        self.on_restart = on_restart
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.steady_after = steady_after

    def start(self) -> None:
        """Start every child."""
        for child in self.children:
            child.start()

    def first_exited(self) -> Child | None:
        """A child whose process has exited, if any (during start-up, a failure)."""
        return next((child for child in self.children if child.exited()), None)

    def poll(self) -> None:
        """Schedule the restart of children that exited; restart those that are due."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.exited():
                assert child.process is not None
                self._schedule_restart(child, child.process, now)
            elif child.restart_at is not None and now >= child.restart_at:
                child.start()
                assert child.process is not None
                log.warning("%s restarted (pid %d)", child.name, child.process.pid)
                self.on_restart(child)

    def _schedule_restart(self, child: Child, process: subprocess.Popen[bytes], now: float) -> None:
        kill_group(process.pid)
        if now - child.started_at >= self.steady_after:
            child.quick_failures = 0
        delay = min(self.max_delay, self.first_delay * 2**child.quick_failures)
        child.quick_failures += 1
        child.restart_at = now + delay
        log.warning(
            "%s exited with code %s; restarting in %g s",
            child.name,
            describe_exit(process.returncode),
            delay,
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every running child, wait up to ``timeout`` seconds, then SIGKILL."""
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pid %d did not stop within %g s; killing it", process.pid, timeout)
                kill_group(process.pid)
                process.wait()
