"""One beat: a second one would submit every periodic job twice.

Two locks, for two reaches:
- **Per data dir**: ``orchestrator up`` and ``orchestrator beat`` hold an exclusive
  ``flock`` on ``beat.lock`` in the data dir for as long as they run (the kernel drops
  it when the process dies, however it dies), and write their pid and command in it so
  that a refused second one can say who holds it. It also keeps two ``up`` off one
  data dir (and its embedded Redis).
- **Per deployment**: beat's scheduler (:class:`LeasedScheduler`, Celery's
  ``beat_scheduler``) sends nothing unless it holds the ``beat`` lease in the shared
  database, renewed every :data:`RENEW_EVERY` seconds for ``ORCH_BEAT_LEASE`` (30 s).
  A beat on another host stands by while the lease is held and takes it over once it
  expires: a dead beat's schedule passes on within ``ORCH_BEAT_LEASE``. A beat that
  cannot renew (cut off from the database) stops sending after half the lease, so that
  it has stopped before any other may start, even with clocks a few seconds apart.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.jobs.models import Lease, utcnow
from orchestrator.runtime import current
from orchestrator.storage.db import insert_or, read_session, write_session

LOCK_FILE = "beat.lock"
BEAT_LEASE = "beat"
RENEW_EVERY = 5.0
# Set by ``orchestrator up`` for its beat: the holder's name, kept across restarts.
HOLDER_VARIABLE = "ORCH_BEAT_HOLDER"

log = logging.getLogger(__name__)


class BeatLockHeld(RuntimeError):
    """Another process runs beat on this data dir, or in this deployment."""


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


def this_process() -> str:
    """How a lease names its holder: host and pid (kept through an ``exec``)."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def take_lease(name: str, holder: str, seconds: float) -> tuple[str, datetime]:
    """Take the lease ``name`` for ``holder`` for ``seconds``, or renew it, unless another
    holder has it and it has not expired. Returns who holds it now, and until when."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    with write_session() as session:
        # One conditional statement each, so that two beats racing cannot both win.
        renewed = session.scalar(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=until)
            .returning(Lease.holder)
        )
        made = renewed or session.scalar(
            insert_or(session, Lease)
            .values(name=name, holder=holder, expires_at=until)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(Lease.holder)
        )
        if made:
            return holder, until
    with read_session() as session:
        lease = session.get(Lease, name)
    if lease is None:  # released meanwhile: try once more
        return take_lease(name, holder, seconds)
    return lease.holder, lease.expires_at


def release_lease(name: str, holder: str) -> None:
    """Give up the lease ``name`` if ``holder`` has it."""
    with write_session() as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


def refuse_second_beat(holder: str) -> None:
    """Take the deployment's beat lease for ``holder``; raise :class:`BeatLockHeld`,
    naming who has it, if another beat holds it."""
    seconds = current().settings.beat_lease
    owner, until = take_lease(BEAT_LEASE, holder, seconds)
    if owner != holder:
        raise BeatLockHeld(
            f"beat already runs in this deployment ({owner}, lease renewed until"
            f" {until:%H:%M:%S} UTC); stop it first: its schedule passes on to a new beat"
            f" within {seconds:g} s of it stopping"
        )


class ScheduleLease:
    """The deployment's beat lease as one beat holds it (see the module docstring)."""

    def __init__(self, holder: str | None = None) -> None:
        self.holder = holder or os.environ.get(HOLDER_VARIABLE) or this_process()
        self._sure_until = 0.0  # monotonic: ours at least until then
        self._renewed = float("-inf")
        self._held: bool | None = None  # None: not known yet (nothing said)
        self._seconds = current().settings.beat_lease

    def hold(self) -> bool:
        """True while this beat may send: renews the lease at most every few seconds."""
        started = time.monotonic()
        if self._held and started - self._renewed < RENEW_EVERY / 2:
            return True
        try:
            owner, until = take_lease(BEAT_LEASE, self.holder, self._seconds)
        except SQLAlchemyError as exc:
            held = started < self._sure_until
            self._say(held, f"cannot renew the beat lease ({type(exc).__name__}: {exc})")
            return held
        if owner != self.holder:
            self._sure_until = 0.0
            self._say(False, f"standing by: {owner} runs the schedule (until {until:%H:%M:%S})")
            return False
        self._renewed = started
        # Half the lease: another beat may take it at expiry by its own clock.
        self._sure_until = started + self._seconds / 2
        self._say(True, "this beat runs the deployment's schedule")
        return True

    def release(self) -> None:
        """Give the lease up (a clean stop): a standing-by beat takes over at once."""
        if self._held:
            release_lease(BEAT_LEASE, self.holder)
            self._held = False

    def _say(self, held: bool, message: str) -> None:
        # Once per change, not on every tick.
        if held != self._held:
            (log.info if held else log.warning)(message)
        self._held = held


class LeasedScheduler(PersistentScheduler):
    """Celery beat's scheduler, sending only while it holds the deployment's lease."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lease = ScheduleLease()
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send what is due if this beat holds the lease; the seconds until the next tick."""
        if not self.lease.hold():
            return RENEW_EVERY
        return min(float(super().tick(*args, **kwargs)), RENEW_EVERY)

    def close(self) -> None:
        """Save the schedule's state and give the lease up."""
        super().close()
        try:
            self.lease.release()
        except SQLAlchemyError as exc:  # it expires by itself
            log.warning("could not release the beat lease (%s: %s)", type(exc).__name__, exc)
