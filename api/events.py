"""Server-Sent Events: a job's (or a chain's) lifecycle, and every event (docs/design.md §2.6).

Stored events after ``Last-Event-ID`` are replayed first, then new ones follow
live; a job stream ends after its terminal event.

Each open stream holds a thread of its API process for its whole life. So that streams
can never take the threads that answer everything else, a process serves at most
``ORCH_MAX_STREAMS`` at once (``orchestrator.processes.stack.api_command`` gives it that many
threads on top of those for ordinary requests); one more is refused at once with a 503
and ``Retry-After``, and the client (the web page does) tries again a little later.

A replay is bounded too: at most ``STREAM_REPLAY_LIMIT`` stored events (a client further behind
is moved ahead and told), sent at most as fast as its client's and its process's byte
budgets allow (``api.pacing``), read ``BATCH`` at a time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.errors import ApiError, get_row, problem
from api.pacing import StreamPace, release_free_memory
from api.requests import hidden_types, parse_id, query_int
from api.schemas import Event
from orchestrator.jobs.lifecycle import TERMINAL, JobStatus
from orchestrator.jobs.models import Job
from orchestrator.observability.events import Doorbell, events_after, newest_event_id, replay_start
from orchestrator.runtime import current
from orchestrator.storage.db import read_session

bp = Blueprint("events", __name__)
log = logging.getLogger(__name__)

# Events read at a time: what a stream holds in memory.
BATCH = 100
# A stream replays at most STREAM_REPLAY_LIMIT stored events (app config); a client
# further behind resumes at the newest of them, told by an event named SKIPPED.
SKIPPED = "stream.skipped"
# Seconds a client refused for want of stream slots should wait before trying again.
RETRY_AFTER = 5


class StreamSlots:
    """How many streams this process serves now, against ``ORCH_MAX_STREAMS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0

    def take(self, limit: int) -> bool:
        """Take a slot if fewer than ``limit`` are taken; False when full."""
        with self._lock:
            if self.open >= limit:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        """Return a slot taken by :meth:`take`; the last one out returns freed memory."""
        with self._lock:
            self.open -= 1
            last = self.open == 0
        if last:
            release_free_memory()


slots = StreamSlots()


@dataclass(frozen=True)
class StreamTerms:
    """What a stream's generator needs of its request and app, which it outlives."""

    keepalive: float
    replay_limit: int
    pace: StreamPace
    client: str

    @classmethod
    def of_request(cls) -> StreamTerms:
        """The terms of the current request's stream."""
        config = current_app.config
        return cls(
            keepalive=float(config["SSE_KEEPALIVE"]),
            replay_limit=int(config["STREAM_REPLAY_LIMIT"]),
            pace=current_app.extensions["stream_pace"],
            client=request.remote_addr or "",
        )


def _sse(row_id: int, name: str, data: dict[str, Any]) -> str:
    return f"id: {row_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _last_event_id() -> int | None:
    """The id to resume after (``Last-Event-ID`` header or ``?last_event_id=``), if given."""
    header = request.headers.get("Last-Event-ID")
    if header is not None:
        return parse_id(header, "Last-Event-ID")
    if "last_event_id" in request.args:
        return query_int("last_event_id")
    return None


def _skip_old(session: Session, after: int, filters: dict[str, Any], most: int) -> tuple[int, str]:
    """Where a stream behind by more than ``most`` events resumes, and the frame that
    tells its client so (empty when it is not that far behind)."""
    start = replay_start(session, after, most, **filters)
    if start is None:
        return after, ""
    log.info("event stream skipped the events after %d up to %d (a bounded replay)", after, start)
    return start, _sse(start, SKIPPED, {"after": after, "resume_after": start})


def _stream(
    filters: dict[str, Any],
    after: int,
    finished: Callable[[Session], bool] | None,
    terms: StreamTerms,
) -> Iterator[str]:
    bell = Doorbell()
    last_write = time.monotonic()
    # How far behind the stream is is checked when it starts (it may start far back) and
    # whenever it falls behind again, i.e. when a read first comes back full.
    behind = check = True
    try:
        yield "retry: 2000\n\n"
        # Bytes reserved before each read: what the last one sent (a guess, corrected).
        reserved = BATCH * 256
        while True:
            terms.pace.reserve(terms.client, reserved)
            skipped = ""
            try:
                with read_session() as session:
                    if check:
                        after, skipped = _skip_old(session, after, filters, terms.replay_limit)
                    # Status first: events it implies are committed before this read.
                    done = finished(session) if finished else False
                    # The last read takes every committed event: an open transaction
                    # elsewhere must not hold back the job's end (nothing reads after it).
                    rows = events_after(
                        session, after, limit=BATCH, settled_only=not done, **filters
                    )
            except OperationalError as exc:
                # The database went away mid-stream: end it; the client resumes later
                # from its Last-Event-ID.
                log.warning("event stream ended: database unavailable: %s", exc.orig)
                return
            frames = skipped + "".join(_sse(row.id, row.name, Event.dump_of(row)) for row in rows)
            if rows:
                after = rows[-1].id
            terms.pace.correct(terms.client, len(frames) - reserved)
            reserved = len(frames)
            if frames:
                yield frames
                last_write = time.monotonic()
            full = len(rows) == BATCH  # more are waiting
            if done and not full:
                return
            check, behind = full and not behind, full
            if full:
                continue
            bell.wait(max(0.05, terms.keepalive - (time.monotonic() - last_write)))
            if time.monotonic() - last_write >= terms.keepalive:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
    finally:
        bell.close()


def _event_stream(
    filters: dict[str, Any], after: int, finished: Callable[[Session], bool] | None = None
) -> Response:
    limit = current().settings.max_streams
    if not slots.take(limit):
        response = problem(
            503,
            f"this API process already serves {limit} event streams (ORCH_MAX_STREAMS);"
            f" try again in {RETRY_AFTER} s",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response
    try:
        # Touch the database before the 200 goes out, so that an outage is a clean 503.
        with read_session() as session:
            session.execute(text("SELECT 1"))
        response = Response(
            _stream(filters, after, finished, StreamTerms.of_request()),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    except BaseException:
        slots.give_back()
        raise
    # The server closes the response once the stream ended or the client left, even if
    # the generator never started (whose own ``finally`` would then not run).
    response.call_on_close(slots.give_back)
    return response


@bp.get("/api/v1/jobs/<job_id>/stream")
def job_stream(job_id: str) -> Response:
    """Events of one job (``?chain=1``: of its whole chain), ending after the last one."""
    chain = request.args.get("chain", "0").lower() in {"1", "true", "yes"}
    after = _last_event_id() or 0  # a job's stream replays its whole story
    with read_session() as session:
        root_id = get_row(session, Job, job_id, "job").root_id
    terminal = [s.value for s in TERMINAL]

    def job_finished(session: Session) -> bool:
        return session.scalar(select(Job.status).where(Job.id == job_id)) in terminal

    def chain_finished(session: Session) -> bool:
        open_jobs = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.root_id == root_id, Job.status.not_in(terminal))
        )
        return open_jobs == 0

    filters = {"root_id": root_id} if chain else {"job_id": job_id}
    return _event_stream(filters, after, chain_finished if chain else job_finished)


@bp.get("/api/v1/events")
def all_events() -> Response:
    """Every event, live, filtered by ``status``, ``type``, ``root_id``, ``parent_id``."""
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in JobStatus}:
        raise ApiError(400, f"status must be one of: {', '.join(s.value for s in JobStatus)}")
    filters = {
        "status": status,
        "job_type": request.args.get("type"),
        "root_id": request.args.get("root_id"),
        "parent_id": request.args.get("parent_id"),
        "hidden_types": hidden_types(),
    }
    after = _last_event_id()
    if after is None:
        # The stream of everything starts now; pass Last-Event-ID to replay from a point.
        with read_session() as session:
            after = newest_event_id(session)
    return _event_stream(filters, after)
