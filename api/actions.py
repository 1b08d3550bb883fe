"""Actions on configuration resources: test a player, scan a library."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.errors import ApiError
from api.serialize import queued
from orchestrator.db import read_session
from orchestrator.dispatch import submit
from services.catalog.models import Library, Player
from services.players import PlayerError, PlayerUnavailable, client_for, settings_of

bp = Blueprint("actions", __name__, url_prefix="/api/v1")


@bp.post("/players/<id:player_id>/test")
def test_player(player_id: int) -> Response:
    """Check that the player answers and accepts its credentials."""
    with read_session() as session:
        player = session.get(Player, player_id)
        if player is None:
            raise ApiError(404, f"no player with id {player_id}")
        settings = settings_of(player)
    try:
        details = client_for(settings).ping()
    except PlayerError as exc:
        kind = "unreachable" if isinstance(exc, PlayerUnavailable) else "refused"
        return jsonify({"ok": False, "status": kind, "error": str(exc)})
    return jsonify({"ok": True, "status": "reachable", "details": details})


@bp.post("/libraries/<id:library_id>/scan")
def scan_library(library_id: int) -> tuple[Response, int]:
    """Queue a ``library-scan`` of the library."""
    with read_session() as session:
        if session.get(Library, library_id) is None:
            raise ApiError(404, f"no library with id {library_id}")
    job = submit("library-scan", {"library_id": library_id}).job
    return jsonify(queued(job)), 202
