"""``notify-people``: tell people (Discord, Telegram, ntfy, email ... through Apprise) that
a job of the pipeline failed for good, or, if asked, that an import reached every player.

The job is recorded in the same transaction as the outcome it tells of (a listener of the
job lifecycle), so a crash loses neither; it is a job of its own, not a child, so that its
retries never hold up or colour the chain it reports on. Each URL that took the message
is kept in the checkpoint: a retry sends only to the others.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Literal

from pydantic import BaseModel

from orchestrator import JobContext, PermanentError, RetryableError, job
from orchestrator.errors import UnknownJobType
from orchestrator.jobs import lifecycle
from orchestrator.jobs.dispatch import build_job, hand_over, insert_job
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job
from orchestrator.jobs.registry import get_job_type
from orchestrator.jobs.unit_of_work import UnitOfWork
from orchestrator.storage.db import read_session
from services.notifications import describe, send
from tasks.settings import media_settings

log = logging.getLogger(__name__)

NAME = "notify-people"
# The job type whose completion means "every player took the import".
IMPORT_DONE = "notify-players"
MAX_ERROR_CHARS = 500


class PeopleRequest(BaseModel):
    """Payload of ``notify-people``: the job to tell of and how it ended."""

    job_id: str
    outcome: Literal["failed", "completed"]
    about: str = ""  # the job's type and summary, for the jobs list


def _summary(payload: dict[str, Any]) -> str | None:
    about, outcome = payload.get("about"), payload.get("outcome")
    if isinstance(about, str) and isinstance(outcome, str):
        return f"{about} {outcome}"[:200]
    return None


@job(NAME, priority="normal", max_retries=8, retry_base=5.0, payload_model=PeopleRequest,
     summarize=_summary)  # fmt: skip
def notify_people(request: PeopleRequest, ctx: JobContext) -> dict[str, Any]:
    """Send the message to every configured URL that has not taken it yet."""
    with read_session() as session:
        told_of = session.get(Job, request.job_id)
        if told_of is None:
            raise PermanentError(f"job {request.job_id} is gone (deleted by retention?)")
        title, body = message(told_of, request.outcome)
    sent: set[str] = set(ctx.checkpoint.get("sent", []))
    urls = media_settings().notify_url_list()
    failed = []
    for url in urls:
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        if key in sent:
            continue
        if send(url, title, body, failure=request.outcome == "failed"):
            sent.add(key)
            ctx.save_checkpoint({"sent": sorted(sent)})
        else:
            failed.append(describe(url))
    if failed:
        raise RetryableError(f"not taken by {', '.join(failed)} (the worker's log says why)")
    return {"title": title, "sent_to": [describe(url) for url in urls]}


def message(told_of: Job, outcome: str) -> tuple[str, str]:
    """The title and text telling of ``told_of``: what, the players, the error, a link."""
    what = f"{told_of.type} {told_of.summary or ''}".strip()
    lines = [what]
    if outcome == "failed":
        title = f"Failed: {what}"
        error = (told_of.error or {}).get("message") or "no error recorded"
        lines.append(f"Error: {error[:MAX_ERROR_CHARS]}")
        lines += _players_failed(told_of)
    else:
        title = f"Imported: {what}"
        lines += _players_told(told_of)
    lines.append(f"{media_settings().public_url.rstrip('/')}/#job={told_of.id}")
    return title, "\n".join(lines)


def _players_told(told_of: Job) -> list[str]:
    groups = (told_of.result or {}).get("groups", []) if isinstance(told_of.result, dict) else []
    return [_group_line(group) for group in groups if isinstance(group, dict)]


def _players_failed(told_of: Job) -> list[str]:
    checkpoint = told_of.checkpoint or {}
    told = [_group_line(g) for g in checkpoint.get("notified", {}).values() if isinstance(g, dict)]
    failed = [
        f"{group.get('group')}: "
        + (
            "; ".join(
                f"{attempt.get('player')}: {attempt.get('error')}"
                for attempt in group.get("attempts", [])
            )
            or str(group.get("error", ""))  # no player tried: the group's mapping refused it
        )
        for group in checkpoint.get("failed", [])
        if isinstance(group, dict)
    ]
    return told + [f"Not told: {line}" for line in failed]


def _group_line(group: dict[str, Any]) -> str:
    verified = " (verified)" if group.get("verified") else ""
    return f"{group.get('group')}: told {group.get('player')}{verified}"


def _tell_people(uow: UnitOfWork, settled: Job) -> None:
    """Record a ``notify-people`` job with ``settled``'s outcome, when people want to hear."""
    try:
        _record_message(uow, settled)
    except Exception:  # the outcome is recorded whatever becomes of the message about it
        log.exception("no notify-people job recorded for job %s", settled.id)


def _record_message(uow: UnitOfWork, settled: Job) -> None:
    if settled.type == NAME:
        return  # a message about a message: none
    if settled.status == JobStatus.FAILED:
        outcome: Literal["failed", "completed"] = "failed"
    elif settled.type == IMPORT_DONE:
        outcome = "completed"
    else:
        return
    settings = media_settings()
    if not settings.tells(outcome) or _is_internal(settled.type):
        return
    about = f"{settled.type} {settled.summary or ''}".strip()
    told = build_job(NAME, {"job_id": settled.id, "outcome": outcome, "about": about})
    insert_job(uow, told, batched=True)
    uow.after_commit(lambda: hand_over(told))


def _is_internal(job_type: str) -> bool:
    try:
        return get_job_type(job_type).internal
    except UnknownJobType:  # a job recorded by another deployment's code
        return False


lifecycle.on_settled(_tell_people)
