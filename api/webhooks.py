"""Radarr and Sonarr webhooks: validate, record a ``webhook`` job, answer 202 at once.

Nothing here touches the disk, the players or the catalog: Radarr waits on this
request (and blocks the connection after a failure), so all work is a job.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.errors import ApiError
from api.requests import json_body
from api.schemas import WebhookQueued
from orchestrator.jobs.dispatch import submit
from services.webhooks import KNOWN_EVENTS, SOURCES, parse_webhook

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")


@bp.route("/<source>", methods=["POST", "PUT"])
def receive(source: str) -> tuple[Response, int]:
    """Accept any event type and any fields; only a body without ``eventType`` is refused."""
    if source not in SOURCES:
        raise ApiError(404, f"no webhook for {source!r}: use one of {', '.join(SOURCES)}")
    body = json_body()
    event = parse_webhook(source, body)  # a WebhookError answers 400
    # Unknown event types share one label value: a sender cannot grow the metric at will.
    label = event.event_type if event.event_type in KNOWN_EVENTS[source] else "other"
    job = submit(
        "webhook",
        {"source": source, "body": body},
        also=lambda uow: uow.increment("webhooks_received", {"source": source, "event": label}),
    ).job
    return jsonify(WebhookQueued.build(job_id=job.id, event_type=event.event_type).dump()), 202
