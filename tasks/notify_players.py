"""``notify-players``: tell each player group of a library to rescan exactly one folder.

Per group: map our path to the group's, then try its enabled players in order
until one takes the change (they share one library database, so one is enough). A
player that can tell (Kodi) is read back until its library shows the change: the
outcome says per player whether it was ``verified``. Groups already notified are kept
in the job's checkpoint, so a retry skips them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from orchestrator import JobContext, PermanentError, RetryableError, job
from orchestrator.observability.metrics import count
from orchestrator.runtime import current
from orchestrator.storage.db import read_session
from services.catalog.models import Library, Player, PlayerGroup
from services.catalog.queries import groups_for_library
from services.pathmap import PathEscape, map_path
from services.players import (
    PlayerAuthError,
    PlayerBusy,
    PlayerError,
    PlayerNotUpdated,
    PlayerUnavailable,
    ScanTarget,
    client_for,
    settings_of,
)
from services.players.command import DEFAULT_TIME_LIMIT
from services.scanner import audio_under, videos_under
from tasks.settings import media_settings
from tasks.summaries import scan_summary

log = logging.getLogger(__name__)

# Kodi's VideoLibrary.Scan toggles: a second one cancels the running scan. The lock
# spans the IsScanning check, the scan and its verification (which may scan a fallback
# folder), so two workers cannot both pass it: this much beyond two verification waits.
LOCK_MARGIN_SECONDS = 30
# What the players are told a library holds, by its kind.
CONTENT_OF_KIND = {"movies": "movies", "tv": "tvshows", "music": "music"}


class NotifyRequest(BaseModel):
    """Payload of ``notify-players``."""

    library_id: int
    path: str
    update_type: Literal["Created", "Modified", "Deleted"] = "Modified"


@contextlib.contextmanager
def group_lock(group_id: int, longest_call: float = 0.0) -> Iterator[bool]:
    """Hold the group's scan lock; yields False when another worker holds it.

    ``longest_call``: the longest a player of the group may take beyond a verification (a
    command's time limit), so that the lock outlives it.
    """
    client = current().redis()
    if client is None:
        yield True
        return
    verifying = 2 * media_settings().player_verify_timeout
    seconds = max(verifying, longest_call) + LOCK_MARGIN_SECONDS
    lock = client.lock(f"orchestrator:player-group:{group_id}", timeout=seconds)
    acquired = lock.acquire(blocking=True, blocking_timeout=5)
    try:
        yield bool(acquired)
    finally:
        if acquired:
            with contextlib.suppress(Exception):
                lock.release()


@dataclass(frozen=True)
class Change:
    """The change to tell the groups about, in our namespace."""

    library: Library
    path: str
    update_type: str
    files: frozenset[str] | None  # the folder's videos now (None: a whole library)


def _change_of(library: Library, request: NotifyRequest) -> Change:
    """What the folder holds now, which the players' libraries should show."""
    whole_library = os.path.normpath(request.path) == os.path.normpath(library.path)
    media_under = audio_under if library.kind == "music" else videos_under
    files = None if whole_library else media_under(request.path)
    let_the_second_pass(request.path)
    return Change(library, request.path, request.update_type, files)


def let_the_second_pass(path: str) -> None:
    """Wait (at most 1 s) until the folder, its parent and its subfolders last changed in
    an earlier second than now.

    Kodi remembers a scanned folder by its modification time, to the second, and skips it
    while that is unchanged: a scan in the very second of the folder's last change would
    leave a change later in that second unseen for good.
    """
    folders = [path, os.path.dirname(path)]
    with contextlib.suppress(OSError):
        folders += [entry.path for entry in os.scandir(path) if entry.is_dir()]
    times = []
    for folder in folders:
        with contextlib.suppress(OSError):
            times.append(os.stat(folder).st_mtime)
    wait = int(max(times, default=0)) + 1 - time.time()
    if 0 < wait <= 1:
        time.sleep(wait)


def _target(change: Change, mappings: list[tuple[str, str]]) -> ScanTarget:
    """``change`` in a group's namespace. Raises ``PathEscape``."""
    library = change.library
    show = None
    if library.kind == "tv":
        relative = os.path.relpath(change.path, library.path)
        if relative != os.curdir:
            show = os.path.join(library.path, relative.split(os.sep)[0])
    return ScanTarget(
        directory=map_path(change.path, mappings) or change.path,
        update_type=change.update_type,
        content=CONTENT_OF_KIND.get(library.kind, "movies"),
        library=library.name,
        show_directory=(map_path(show, mappings) or show) if show else None,
        library_directory=map_path(library.path, mappings) or library.path,
        files=change.files,
        every_file=library.kind in ("tv", "music"),
        verify_within=media_settings().player_verify_timeout,
    )


def _count_verification(player: Player, outcome: str) -> None:
    """Count one verification by player type and outcome (verified, unverified, not-updated)."""
    count("player_verifications", {"type": player.type, "outcome": outcome})


def _notify_group(group: PlayerGroup, change: Change) -> dict[str, Any]:
    """Try the group's players in order; the outcome says who took the change, whether it
    was seen in that player's library, or why none did."""
    mappings = [(m.from_path, m.to_path) for m in group.path_mappings]
    try:
        target = _target(change, mappings)
    except PathEscape as exc:
        return {"group": group.name, "status": "failed", "retryable": False, "error": str(exc)}
    attempts: list[dict[str, Any]] = []
    busy_delay: float | None = None
    for player in [p for p in group.players if p.enabled]:
        try:
            with group_lock(group.id, _longest_call(group)) as locked:
                if not locked:
                    raise PlayerBusy("another worker is notifying this group")
                details = client_for(settings_of(player)).notify(target)
        except PlayerBusy as exc:
            busy_delay = media_settings().player_busy_retry
            attempts.append({"player": player.name, "error": str(exc), "retryable": True})
            break  # the group's shared library is busy: any member would be
        except (PlayerAuthError, PlayerUnavailable, PlayerError) as exc:
            if isinstance(exc, PlayerNotUpdated):
                _count_verification(player, "not-updated")
            retryable = isinstance(exc, PlayerUnavailable)
            attempts.append(
                {
                    "player": player.name,
                    "error": str(exc),
                    "retryable": retryable,
                    "verified": False,
                }
            )
            continue
        verified = bool(details.get("verified"))
        _count_verification(player, "verified" if verified else "unverified")
        return {
            "group": group.name,
            "status": "notified",
            "player": player.name,
            "path": target.directory,
            "verified": verified,
            "verification": details.get("verification"),
            "details": details,
            "fallbacks": attempts,
        }
    if not attempts:
        return {"group": group.name, "status": "no-players", "path": target.directory}
    return {
        "group": group.name,
        "status": "failed",
        "path": target.directory,
        "retryable": any(a["retryable"] for a in attempts),
        "busy_delay": busy_delay,
        "attempts": attempts,
    }


def _longest_call(group: PlayerGroup) -> float:
    """The longest time limit of the group's players (commands), default ones included."""
    return max((float(p.time_limit or DEFAULT_TIME_LIMIT) for p in group.players
                if p.type == "command"), default=0.0)  # fmt: skip


def _describe(outcome: dict[str, Any]) -> str:
    errors = "; ".join(f"{a['player']}: {a['error']}" for a in outcome.get("attempts", []))
    return f"group {outcome['group']}: {errors or outcome.get('error', outcome['status'])}"


@job(
    "notify-players",
    priority="normal",
    max_retries=5,
    retry_base=5.0,
    payload_model=NotifyRequest,
    summarize=scan_summary,
)
def notify_players(request: NotifyRequest, ctx: JobContext) -> dict[str, Any]:
    """Notify every group of the library; retry only the groups that could not be reached."""
    done: dict[str, Any] = dict(ctx.checkpoint.get("notified", {}))
    with read_session() as session:
        library = session.get(Library, request.library_id)
        # A library deleted since has no groups left to tell.
        groups = groups_for_library(session, request.library_id) if library else []
    change: Change | None = None  # read from disk once a group is to be told
    outcomes = []
    for group in groups:
        if str(group.id) in done:
            outcomes.append({**done[str(group.id)], "status": "already-notified"})
            continue
        assert library is not None  # it has groups
        change = change or _change_of(library, request)
        outcome = _notify_group(group, change)
        outcomes.append(outcome)
        if outcome["status"] == "notified":
            done[str(group.id)] = outcome
            ctx.save_checkpoint({"notified": done})
    failed = [o for o in outcomes if o["status"] == "failed"]
    if failed:
        # Kept beside the groups told, so that the job shows every group until a retry
        # succeeds: its error alone hid the groups that did take the change.
        ctx.save_checkpoint({"notified": done, "failed": failed})
    retryable = [o for o in failed if o["retryable"]]
    if retryable:
        delays = [o["busy_delay"] for o in retryable if o.get("busy_delay")]
        raise RetryableError(
            "; ".join(_describe(o) for o in failed), delay=max(delays) if delays else None
        )
    if failed:
        raise PermanentError("; ".join(_describe(o) for o in failed))
    return {"path": request.path, "update_type": request.update_type, "groups": outcomes}
