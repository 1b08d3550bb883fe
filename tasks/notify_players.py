"""``notify-players``: tell each player group of a library to rescan exactly one folder.

Per group: map our path to the group's, then try its enabled players in order
until one accepts (they share one library database, so one is enough). Groups
already notified are kept in the job's checkpoint, so a retry skips them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel

from orchestrator import JobContext, PermanentError, RetryableError, job
from orchestrator.db import read_session
from orchestrator.redis_client import get_redis
from services.catalog.models import PlayerGroup
from services.catalog.queries import groups_for_library
from services.pathmap import PathEscape, map_path
from services.players import (
    PlayerAuthError,
    PlayerBusy,
    PlayerError,
    PlayerUnavailable,
    client_for,
    settings_of,
)
from tasks.settings import media_settings
from tasks.summaries import scan_summary

log = logging.getLogger(__name__)

# Kodi's VideoLibrary.Scan toggles: a second one cancels the running scan. The lock
# spans the IsScanning check and the Scan call, so two workers cannot both pass it.
KODI_LOCK_SECONDS = 60


class NotifyRequest(BaseModel):
    """Payload of ``notify-players``."""

    library_id: int
    path: str
    update_type: Literal["Created", "Modified", "Deleted"] = "Modified"


@contextlib.contextmanager
def group_lock(group_id: int) -> Iterator[bool]:
    """Hold the group's scan lock; yields False when another worker holds it."""
    client = get_redis()
    if client is None:
        yield True
        return
    lock = client.lock(f"orchestrator:player-group:{group_id}", timeout=KODI_LOCK_SECONDS)
    acquired = lock.acquire(blocking=True, blocking_timeout=5)
    try:
        yield bool(acquired)
    finally:
        if acquired:
            with contextlib.suppress(Exception):
                lock.release()


def _notify_group(group: PlayerGroup, path: str, update_type: str) -> dict[str, Any]:
    """Try the group's players in order; the outcome says who accepted or why none did."""
    mappings = [(m.from_path, m.to_path) for m in group.path_mappings]
    try:
        player_path = map_path(path, mappings) or path
    except PathEscape as exc:
        return {"group": group.name, "status": "failed", "retryable": False, "error": str(exc)}
    attempts: list[dict[str, Any]] = []
    busy_delay: float | None = None
    for player in [p for p in group.players if p.enabled]:
        try:
            with group_lock(group.id) as locked:
                if not locked:
                    raise PlayerBusy("another worker is notifying this group")
                details = client_for(settings_of(player)).scan(player_path, update_type)
        except PlayerBusy as exc:
            busy_delay = media_settings().player_busy_retry
            attempts.append({"player": player.name, "error": str(exc), "retryable": True})
            break  # the group's shared library is busy: any member would be
        except (PlayerAuthError, PlayerUnavailable, PlayerError) as exc:
            retryable = isinstance(exc, PlayerUnavailable)
            attempts.append({"player": player.name, "error": str(exc), "retryable": retryable})
            continue
        return {
            "group": group.name,
            "status": "notified",
            "player": player.name,
            "path": player_path,
            "details": details,
            "fallbacks": attempts,
        }
    if not attempts:
        return {"group": group.name, "status": "no-players", "path": player_path}
    return {
        "group": group.name,
        "status": "failed",
        "path": player_path,
        "retryable": any(a["retryable"] for a in attempts),
        "busy_delay": busy_delay,
        "attempts": attempts,
    }


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
        groups = groups_for_library(session, request.library_id)
    outcomes = []
    for group in groups:
        if str(group.id) in done:
            outcomes.append({**done[str(group.id)], "status": "already-notified"})
            continue
        outcome = _notify_group(group, request.path, request.update_type)
        outcomes.append(outcome)
        if outcome["status"] == "notified":
            done[str(group.id)] = outcome
            ctx.save_checkpoint({"notified": done})
    failed = [o for o in outcomes if o["status"] == "failed"]
    retryable = [o for o in failed if o["retryable"]]
    if retryable:
        delays = [o["busy_delay"] for o in retryable if o.get("busy_delay")]
        raise RetryableError(
            "; ".join(_describe(o) for o in failed), delay=max(delays) if delays else None
        )
    if failed:
        raise PermanentError("; ".join(_describe(o) for o in failed))
    return {"path": request.path, "update_type": request.update_type, "groups": outcomes}
