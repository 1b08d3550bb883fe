"""One error tree: each domain error belongs to a family, and the API answers by family."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from pydantic import BaseModel, ValidationError, field_validator

from api.errors import EXTERNAL_DETAIL, get_row, register_error_handlers, status_of
from orchestrator.errors import (
    ConfigurationError,
    Conflict,
    ExternalServiceError,
    InvalidInput,
    InvalidPayload,
    InvalidTransition,
    JobNotFound,
    NotFound,
    OrchestratorError,
    PermanentError,
    UnknownJobType,
    UnsupportedInput,
    one_line,
)
from orchestrator.jobs.priorities import InvalidPriority
from orchestrator.storage.credentials import WeakApiKey
from services.catalog.config import UnknownReference
from services.pathmap import PathEscape
from services.players import (
    NotThisPlayer,
    PlayerAuthError,
    PlayerBusy,
    PlayerError,
    PlayerNoAnswer,
    PlayerUnavailable,
)
from services.webhooks import WebhookError

FAMILY_OF: list[tuple[type[Exception], type[OrchestratorError]]] = [
    (UnknownJobType, UnsupportedInput),
    (WebhookError, UnsupportedInput),
    (InvalidPayload, InvalidInput),
    (InvalidPriority, InvalidInput),
    (UnknownReference, InvalidInput),
    (PathEscape, InvalidInput),
    (JobNotFound, NotFound),
    (InvalidTransition, Conflict),
    (PlayerError, ExternalServiceError),
    (PlayerAuthError, ExternalServiceError),
    (NotThisPlayer, ExternalServiceError),
    (PlayerUnavailable, ExternalServiceError),
    (PlayerNoAnswer, ExternalServiceError),
    (PlayerBusy, ExternalServiceError),
    (WeakApiKey, ConfigurationError),
]


@pytest.mark.parametrize(("error", "family"), FAMILY_OF, ids=lambda c: c.__name__)
def test_each_domain_error_belongs_to_its_family(
    error: type[Exception], family: type[OrchestratorError]
) -> None:
    assert issubclass(error, family)
    assert issubclass(error, OrchestratorError)


@pytest.mark.parametrize(
    "error", [InvalidPriority, PathEscape, WebhookError, UnknownReference, WeakApiKey]
)
def test_errors_that_were_value_errors_still_are(error: type[Exception]) -> None:
    # Callers (and `except ValueError` of older code) may still catch them as such.
    assert issubclass(error, ValueError)


def test_an_invalid_payload_fails_the_job_for_good_and_is_bad_input() -> None:
    assert issubclass(InvalidPayload, PermanentError)
    assert issubclass(InvalidPayload, InvalidInput)


def _error(kind: type[Exception]) -> Exception:
    """An instance of ``kind`` with a recognisable message."""
    if kind is UnknownJobType:
        return UnknownJobType("nope", ["a", "b"])
    if kind is UnknownReference:
        return UnknownReference("group_id", "no player group with id 9")
    return kind(f"the {kind.__name__} message")


STATUS: list[tuple[type[Exception], int]] = [
    (UnsupportedInput, 400),
    (UnknownJobType, 400),
    (WebhookError, 400),
    (InvalidInput, 422),
    (InvalidPayload, 422),
    (InvalidPriority, 422),
    (UnknownReference, 422),
    (PathEscape, 422),
    (NotFound, 404),
    (JobNotFound, 404),
    (Conflict, 409),
    (InvalidTransition, 409),
    (ExternalServiceError, 502),
    (PlayerError, 502),
    (PlayerBusy, 502),
]


@pytest.mark.parametrize(("error", "status"), STATUS, ids=lambda c: getattr(c, "__name__", c))
def test_the_status_follows_the_family(error: type[Exception], status: int) -> None:
    assert status_of(_error(error)) == status


@pytest.mark.parametrize("error", [ConfigurationError, WeakApiKey, PermanentError, ValueError])
def test_errors_of_no_mapped_family_have_no_status(error: type[Exception]) -> None:
    assert status_of(error("x")) is None


@pytest.fixture
def app() -> Flask:
    """A bare app with the error handlers and one route raising what it is asked to."""
    app = Flask(__name__)
    register_error_handlers(app)
    errors = {kind.__name__: kind for kind, _ in STATUS} | {"WeakApiKey": WeakApiKey}

    @app.get("/raise/<name>")
    def _raise(name: str) -> Any:
        raise _error(errors[name])

    return app


@pytest.mark.parametrize(("error", "status"), STATUS, ids=lambda c: getattr(c, "__name__", c))
def test_the_api_answers_each_family_as_problem_json(
    app: Flask, error: type[Exception], status: int
) -> None:
    response = app.test_client().get(f"/raise/{error.__name__}")

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    if status == 502:
        # What another service said is never echoed.
        assert body["detail"] == EXTERNAL_DETAIL
    else:
        assert body["detail"] == str(_error(error))


def test_an_invalid_field_is_named(app: Flask) -> None:
    body = app.test_client().get("/raise/UnknownReference").get_json()

    assert body["field"] == "group_id"
    assert body["detail"] == "no player group with id 9"


def test_a_configuration_error_is_an_internal_error(app: Flask) -> None:
    body = app.test_client().get("/raise/WeakApiKey").get_json()

    assert body["status"] == 500
    assert "WeakApiKey" not in body["detail"]


class _Session:
    """A session holding one row, id 1."""

    def get(self, model: type[Any], row_id: int | str) -> Any:
        return {"id": row_id} if row_id == 1 else None


def test_get_row_gives_the_row_or_not_found() -> None:
    session: Any = _Session()

    assert get_row(session, dict, 1, "player") == {"id": 1}
    with pytest.raises(NotFound, match="^no player with id 2$"):
        get_row(session, dict, 2, "player")


def test_a_validation_error_is_one_line_naming_each_field_and_what_to_fix() -> None:
    class Body(BaseModel):
        name: str
        path: str

        @field_validator("path")
        @classmethod
        def _absolute(cls, value: str) -> str:
            if not value.startswith("/"):
                raise ValueError("must be an absolute path")
            return value

    with pytest.raises(ValidationError) as refused:
        Body.model_validate({"path": "movies"})

    # Not pydantic's four lines: no "Value error," prefix, no input echoed, no link.
    assert one_line(refused.value) == "name: Field required; path: must be an absolute path"
