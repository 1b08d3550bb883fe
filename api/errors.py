"""Errors as ``application/problem+json`` (RFC 9457): never HTML, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from orchestrator.errors import (
    InvalidPayload,
    InvalidTransition,
    JobNotFound,
    UnknownJobType,
)
from orchestrator.priorities import InvalidPriority

log = logging.getLogger(__name__)

PROBLEM_TYPE = "about:blank"


class ApiError(Exception):
    """An error answered as problem+json with ``status``."""

    def __init__(self, status: int, detail: str, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.extra = extra


def problem(status: int, detail: str, title: str | None = None, **extra: Any) -> Response:
    """A problem+json response."""
    from http import HTTPStatus

    body = {
        "type": PROBLEM_TYPE,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def validation_problem(exc: ValidationError) -> Response:
    """A 422 naming each invalid field."""
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, detail, "Invalid request body", errors=errors)


_STATUS_OF: list[tuple[type[Exception], int]] = [
    (UnknownJobType, 400),
    (InvalidPayload, 422),
    (InvalidPriority, 422),
    (JobNotFound, 404),
    (InvalidTransition, 409),
]


def register_error_handlers(app: Flask) -> None:
    """Answer every error of ``app`` as problem+json."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return problem(exc.status, exc.detail, exc.title, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = exc.description or ""
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"the request body is larger than the limit of {limit} bytes"
        response = problem(status, detail)
        if status == 405 and exc.get_response().allow:
            response.headers["Allow"] = ", ".join(sorted(exc.get_response().allow))
        return response

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError) -> Response:
        return validation_problem(exc)

    @app.errorhandler(OperationalError)
    def _database_error(exc: OperationalError) -> Response:
        log.error("database unavailable: %s", exc.orig)
        response = problem(503, "the database is unavailable; try again shortly")
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        for kind, status in _STATUS_OF:
            if isinstance(exc, kind):
                return problem(status, str(exc))
        log.exception("unhandled error")
        return problem(500, "an internal error occurred; it has been logged")
