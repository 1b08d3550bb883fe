"""``GET /metrics``: Prometheus text format, the same totals from every process."""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from orchestrator.delivery.broker import queue_depths
from orchestrator.observability.metrics import render
from orchestrator.storage.db import read_session

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)


@bp.get("/metrics")
def metrics() -> Response:
    """Job totals, durations, jobs by status, queue depths, webhooks received, restarts."""
    try:
        depths = queue_depths()
    except Exception as exc:  # the broker being away must not hide the other metrics
        log.warning("queue depths unavailable: %s", exc)
        depths = {}
    with read_session() as session:
        body = render(session, depths)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
