"""The intake peer a user would write instead: a Flask webhook that hands the body to Celery.

Checks the ``X-Api-Key`` header (constant-time, as the platform does), parses the JSON
body, sends a ``bench.webhook`` task with ``send_task`` (the platform's broker settings,
see ``bench.bare_celery``; no result backend, no SQL) and answers 202 with the task id.
Served by the same gunicorn command as the API (``orchestrator.processes.stack.api_command`` with
``bench.peer_flask_send_task:app`` as the application), on the bench's Redis
(``ORCH_BROKER_URL``); the key is ``ORCH_API_KEY``.
"""

from __future__ import annotations

import hmac
import os

from flask import Flask, Response, jsonify, request

from bench.bare_celery import DEFAULT_PRIORITY, DEFAULT_QUEUE, WEBHOOK
from bench.bare_celery import app as celery_app

API_KEY = os.environ.get("ORCH_API_KEY", "")

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@app.post("/api/webhooks/<source>")
def receive(source: str) -> tuple[Response, int]:
    """Check the key, parse the body, send the task, answer 202 with its id."""
    given = request.headers.get("X-Api-Key")
    if not API_KEY or given is None or not hmac.compare_digest(given.encode(), API_KEY.encode()):
        return jsonify({"error": "unauthorized"}), 401
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"error": "the body must be a JSON object"}), 400
    result = celery_app.send_task(
        WEBHOOK,
        kwargs={"source": source, "body": body},
        queue=DEFAULT_QUEUE,
        priority=DEFAULT_PRIORITY,
    )
    return jsonify({"status": "queued", "task_id": result.id}), 202
