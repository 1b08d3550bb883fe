"""The HTTP API: ``create_app()`` is the WSGI application (``gunicorn 'api:create_app()'``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from api import (
    actions,
    events,
    health,
    jobs,
    keys,
    metrics,
    openapi,
    resources,
    triggers,
    web,
    webhooks,
)
from api.auth import WEBHOOK_ENDPOINTS, opens, required_scope, scope_of_request
from api.errors import ApiError, problem, register_error_handlers
from api.pacing import StreamPace
from api.requests import IdConverter, has_nul
from orchestrator.delivery.broker_memory import broker_memory
from orchestrator.jobs.registry import load_job_modules
from orchestrator.runtime import current
from orchestrator.storage import credentials

# The page and its assets are open: the page asks for the key itself.
OPEN_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "web.index", "web.static"})


# Routes that take new work in: refused while the broker is nearly full.
INTAKE_ENDPOINTS = ("webhooks.", "triggers.", "jobs.submit_job")
BROKER_FULL_RETRY_AFTER = 30

KEY_FORMS = "missing or wrong API key: send it as X-Api-Key or Authorization: Bearer"
# What Radarr and Sonarr can send: their connection's username/password, or a URL.
WEBHOOK_KEY_FORMS = (
    "missing or wrong API key: send it as X-Api-Key, Authorization: Bearer, basic auth"
    " (any username, the key as password) or ?apikey= in the URL"
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app: defaults, then the environment, then ``config`` overrides."""
    settings = current().settings
    app = Flask(__name__, static_folder=None)
    app.config.update(
        API_KEY=credentials.api_key(settings)[0],
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SSE_KEEPALIVE=settings.sse_keepalive,
        # Streams: stored events one may replay, bytes a second per client and per process.
        STREAM_REPLAY_LIMIT=10_000,
        STREAM_CLIENT_RATE=256 * 1024,
        STREAM_PROCESS_RATE=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    app.extensions["stream_pace"] = StreamPace(
        app.config["STREAM_CLIENT_RATE"], app.config["STREAM_PROCESS_RATE"]
    )
    app.url_map.converters["id"] = IdConverter
    load_job_modules()
    register_error_handlers(app)

    @app.before_request
    def _require_api_key() -> None:
        if "\x00" in request.path or has_nul(list(request.args.items(multi=True))):
            # PostgreSQL cannot store or compare text holding NUL: refuse it up front.
            raise ApiError(400, "the URL holds a NUL character (%00): remove it")
        if request.endpoint in OPEN_ENDPOINTS:
            return
        endpoint = request.endpoint or ""  # none: an unknown path or method (404, 405)
        # Radarr, Sonarr and scripts calling the manual trigger may send the key as they can.
        webhook = endpoint.startswith(WEBHOOK_ENDPOINTS)
        scope = scope_of_request(allow_webhook_forms=webhook)
        if scope is None:
            raise ApiError(401, WEBHOOK_KEY_FORMS if webhook else KEY_FORMS)
        needed = required_scope(endpoint, request.method)
        if not opens(scope, needed):
            wanted = "an admin key" if needed == "admin" else f"a {needed} or an admin key"
            raise ApiError(
                403, f"this key's scope is {scope}: {request.method} {request.path} needs {wanted}"
            )

    @app.before_request
    def _refuse_work_while_the_broker_is_full() -> Response | None:
        if not (request.endpoint and request.endpoint.startswith(INTAKE_ENDPOINTS)):
            return None
        reason = broker_memory.full()
        if reason is None:
            return None
        response = problem(503, reason)
        response.headers["Retry-After"] = str(BROKER_FULL_RETRY_AFTER)
        return response

    @app.after_request
    def _no_sniffing(response: Response) -> Response:
        # A browser must not take a JSON answer quoting user data for HTML or script.
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    for blueprint in (
        health.bp,
        jobs.bp,
        keys.bp,
        events.bp,
        resources.bp,
        actions.bp,
        webhooks.bp,
        triggers.bp,
        web.bp,
        metrics.bp,
        openapi.bp,
    ):
        app.register_blueprint(blueprint)
    return app
