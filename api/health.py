"""Liveness and readiness probes; open without a key."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from api.schemas import Health, Readiness, ReadinessChecks
from orchestrator.celery_app import app as celery_app
from orchestrator.db import read_session

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify(Health().dump())


def _database_ok() -> bool:
    try:
        with read_session() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # any failure means "not ready"
        log.warning("readiness: database unreachable: %s", exc)
        return False


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
    """200 when the database and the broker answer, else 503 saying which does not."""
    checks = ReadinessChecks(database=_database_ok(), broker=_broker_ok())
    ready = checks.database and checks.broker
    body = Readiness(status="ready" if ready else "unavailable", checks=checks)
    return jsonify(body.dump()), 200 if ready else 503
