"""Errors as ``application/problem+json`` (RFC 9457): never HTML, never a traceback."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from api.schemas import Problem
from orchestrator.errors import (
    Conflict,
    ExternalServiceError,
    InvalidInput,
    NotFound,
    OrchestratorError,
    UnsupportedInput,
    field_problems,
    one_line,
)

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
    title = title or HTTPStatus(status).phrase
    body = Problem.build(type=PROBLEM_TYPE, title=title, status=status, detail=detail, **extra)
    response = jsonify(body.dump())
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def validation_problem(exc: ValidationError) -> Response:
    """A 422 naming each invalid field."""
    errors = [{"field": field, "message": message} for field, message in field_problems(exc)]
    return problem(422, one_line(exc), "Invalid request body", errors=errors)


# The status of each error family (orchestrator/errors.py). An error answers with the
# status of the nearest family in its class's MRO: InvalidPayload is a PermanentError and an
# InvalidInput, so 422; UnknownJobType is an UnsupportedInput, so 400 before InvalidInput.
STATUS_OF_FAMILY: dict[type[OrchestratorError], int] = {
    UnsupportedInput: 400,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    ExternalServiceError: 502,
}

# What another service answered is never echoed: it would let a caller explore the network.
EXTERNAL_DETAIL = "a service the orchestrator relies on failed; its log tells which and why"


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of ``exc``'s family, or None when no family maps to one (500)."""
    for kind in type(exc).__mro__:
        if kind in STATUS_OF_FAMILY:
            return STATUS_OF_FAMILY[kind]
    return None


def family_problem(exc: OrchestratorError) -> Response | None:
    """The problem+json answer to ``exc`` by its family, or None for an unexpected error."""
    status = status_of(exc)
    if status is None:
        return None
    if isinstance(exc, ExternalServiceError):
        log.warning("an outside service failed: %s", exc)
        return problem(status, EXTERNAL_DETAIL)
    field = exc.field if isinstance(exc, InvalidInput) else None
    return problem(status, str(exc), **({"field": field} if field else {}))


Row = TypeVar("Row")


def get_row(session: Session, model: type[Row], row_id: int | str, what: str) -> Row:
    """The row ``row_id`` of ``model``; else :class:`NotFound` "no {what} with id {row_id}"."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {what} with id {row_id}")
    return row


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
        answer = family_problem(exc) if isinstance(exc, OrchestratorError) else None
        if answer is not None:
            return answer
        log.exception("unhandled error")
        return problem(500, "an internal error occurred; it has been logged")
