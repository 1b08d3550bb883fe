"""Liveness and readiness probes; open without a key."""

from __future__ import annotations

import logging
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.schemas import Health, Readiness, ReadinessChecks
from orchestrator.delivery.celery_app import app as celery_app
from orchestrator.runtime import current
from orchestrator.storage.db import read_session

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

# Each check runs on a thread of this pool and is given up after READY_WITHIN seconds:
# a database or broker behind a cut cable (packets dropped, not refused) must not hold
# the probe, or whoever asks it, for minutes. The threads of hung checks end with the
# network timeouts; while they are all busy, later checks wait here and count as failed.
READY_WITHIN = 4.0
# Less room than this on a SQLite database's disk counts as full.
MIN_FREE_BYTES = 1024 * 1024
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify(Health().dump())


def _answer(check: Future[bool], name: str, deadline: float) -> bool:
    try:
        return check.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        log.warning("readiness: %s did not answer within %g s", name, READY_WITHIN)
        return False


def _database_ok() -> bool:
    try:
        with read_session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"
        log.warning("readiness: database unreachable: %s", exc)
        return False
    return _room_to_write()


def _room_to_write() -> bool:
    """For SQLite, whether its disk has room for a write: a full disk answers reads, and
    refuses every webhook and submission (the API's writes)."""
    url = make_url(current().settings.effective_database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return True
    folder = os.path.dirname(os.path.abspath(url.database))
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        log.warning("readiness: the disk of the database (%s) has %d bytes free", folder, free)
        return False
    return True


def _broker_ok() -> bool:
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception as exc:  # any failure means "not ready"
        log.warning("readiness: broker unreachable: %s", exc)
        return False


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when the database and the broker answer within 4 s, else 503 saying which
    does not."""
    deadline = time.monotonic() + READY_WITHIN
    database, broker = _checks.submit(_database_ok), _checks.submit(_broker_ok)
    checks = ReadinessChecks(
        database=_answer(database, "database", deadline),
        broker=_answer(broker, "broker", deadline),
    )
    ready = checks.database and checks.broker
    body = Readiness(status="ready" if ready else "unavailable", checks=checks)
    return jsonify(body.dump()), 200 if ready else 503
