"""The intake baseline: a bare Flask app whose webhook endpoint only does a Redis LPUSH.

Served by the same gunicorn command as the API (``orchestrator.processes.stack.api_command`` with
``bench.bare_flask:app`` as the application), on the same Redis (``BENCH_REDIS_URL``).
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, jsonify, request

KEY = "bench:bare-flask"

app = Flask(__name__)
_redis = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@app.post("/api/webhooks/<source>")
def receive(source: str) -> tuple[Response, int]:
    """Push the raw body onto a Redis list and answer 202."""
    _redis.lpush(KEY, request.get_data())
    return jsonify({"status": "queued"}), 202
