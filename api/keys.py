"""Named API keys: made (the key shown once), listed without their secret, revoked."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from api.requests import json_body
from orchestrator.storage import api_keys

bp = Blueprint("keys", __name__, url_prefix="/api/v1")


class KeyCreate(BaseModel):
    """A new key: its name and its scope."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=api_keys.MAX_NAME_CHARS)
    scope: api_keys.Scope


@bp.post("/keys")
def create_key() -> tuple[Response, int]:
    """Make a key; the answer holds it under ``key``, once: nothing else ever shows it."""
    body = KeyCreate.model_validate(json_body())
    info, secret = api_keys.add(body.name, body.scope)
    return jsonify({**info.to_dict(), "key": secret}), 201


@bp.get("/keys")
def list_keys() -> Response:
    """Every named key, by name, without its secret."""
    return jsonify({"items": [info.to_dict() for info in api_keys.all_keys()]})


@bp.delete("/keys/<id:key_id>")
def revoke_key(key_id: int) -> tuple[str, int]:
    """Revoke a key: it opens nothing from now on."""
    api_keys.revoke(key_id)
    return "", 204
