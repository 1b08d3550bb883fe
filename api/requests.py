"""Reading request input: JSON bodies and common query parameters, with clear 400s."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from api.errors import ApiError

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is missing, malformed or not an object."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "the request body is empty: send a JSON object")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def query_limit() -> int:
    """``?limit=`` as an integer from 1 to 500 (default 50)."""
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def query_int(name: str, default: int = 0) -> int:
    """A non-negative integer query parameter; 400 when it is not one."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, f"{name} must be a non-negative integer")
    return int(raw)
