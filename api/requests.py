"""Reading request input: JSON bodies and common query parameters, with clear 400s."""

from __future__ import annotations

import json
import math
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter, ValidationError

from api.errors import ApiError
from orchestrator.jobs.models import INT32_MAX
from orchestrator.jobs.payloads import any_string, lone_surrogate, lone_surrogate_in, too_deep
from orchestrator.jobs.registry import maintenance_type_names

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_ID = INT32_MAX


def is_digits(text: str) -> bool:
    """True for plain ASCII digits (``"²".isdigit()`` is true, yet ``int("²")`` fails)."""
    return text.isascii() and text.isdigit()


def has_nul(value: Any) -> bool:
    """True if a string anywhere in ``value`` holds a NUL (PostgreSQL text cannot)."""
    return any_string(value, lambda text: "\x00" in text)


def storable(text: str) -> bool:
    """True if ``text`` can be stored and shown: no NUL, no lone surrogate."""
    return "\x00" not in text and not lone_surrogate(text)


class IdConverter(BaseConverter):
    """``<id:name>``: a row id in the database's range; anything else is a 404."""

    regex = r"\d{1,10}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: int) -> str:
        return str(value)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is missing, malformed or not an object."""
    raw = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit and len(raw) >= limit:
        # A chunked body has no length to refuse up front; werkzeug stops reading at the
        # limit without a word, so a body that reached it was cut: refuse it whole.
        raise RequestEntityTooLarge()
    if not raw.strip():
        raise ApiError(400, "the request body is empty: send a JSON object")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    deep = too_deep(body, text=raw)
    if deep:
        raise ApiError(400, f"the request body is {deep}")
    # JSON can only spell a NUL as \u0000 (a raw one is refused by the parser): a body
    # without that escape needs no walk through every string.
    if b"\\u0000" in raw and has_nul(body):
        raise ApiError(400, "the request body holds a NUL character (\\u0000): remove it")
    if lone_surrogate_in(body, raw):
        raise ApiError(
            400,
            "the request body holds half of a UTF-16 surrogate pair (an escape from \\ud800"
            " to \\udfff without its other half): send the text as valid Unicode",
        )
    return body


def _refuse_constant(name: str) -> Any:
    # Python's parser takes NaN and Infinity, which JSON does not have: the row would
    # hold them, and every list that shows it would be invalid JSON.
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is too large for a number")
    return number


def query_limit() -> int:
    """``?limit=`` as an integer from 1 to 500 (default 50)."""
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not is_digits(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def parse_id(raw: str, name: str) -> int:
    """An integer from 0 to ``MAX_ID`` written in ASCII digits; 400 naming ``name`` if not."""
    raw = raw.strip()
    if not is_digits(raw) or len(raw) > 10 or int(raw) > MAX_ID:
        raise ApiError(400, f"{name} must be an integer from 0 to {MAX_ID}")
    return int(raw)


def query_int(name: str, default: int = 0) -> int:
    """A non-negative integer query parameter; 400 when it is not one."""
    raw = request.args.get(name)
    return default if raw is None else parse_id(raw, name)


# What ``?maintenance=`` may say; the platform's maintenance is shown unless it says no.
_NO, _YES = {"0", "false", "no"}, {"1", "true", "yes"}


def hidden_types() -> tuple[str, ...]:
    """The job types a list or stream leaves out: the platform's maintenance types when
    ``?maintenance=0`` (the page's default), else none."""
    value = request.args.get("maintenance", "1").lower()
    if value not in _NO | _YES:
        raise ApiError(400, "maintenance must be 0 or 1 (also false/true, no/yes)")
    return tuple(maintenance_type_names()) if value in _NO else ()
