"""Actions on configuration resources: test a player, scan a library."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.errors import get_row
from api.player_checks import GroupLibraries, library_checks
from api.schemas import PlayerFailed, PlayerReachable
from api.serialize import queued
from orchestrator.jobs.dispatch import submit
from orchestrator.storage.db import read_session
from services.catalog.models import Library, Player
from services.players import (
    NotThisPlayer,
    PlayerAuthError,
    PlayerError,
    PlayerNoAnswer,
    client_for,
    label_of,
    settings_of,
    with_article,
)

bp = Blueprint("actions", __name__, url_prefix="/api/v1")


def _failure(exc: PlayerError, player_type: str) -> tuple[str, str]:
    """The status and fixed message of a failed test: never what the other end said."""
    name = label_of(player_type)
    if isinstance(exc, PlayerNoAnswer):
        return "unreachable", "no answer (connection refused or timed out)"
    if isinstance(exc, NotThisPlayer):
        return "unrecognized", f"not {with_article(name)} server at this URL"
    if isinstance(exc, PlayerAuthError):
        return "refused", "credentials refused"
    return "failed", f"the {name} server failed the test; see its log"


@bp.post("/players/<id:player_id>/test")
def test_player(player_id: int) -> Response:
    """Check that a player of its type answers at its URL and accepts its credentials, and
    that each library of its group is inside one of its library folders (where it tells).

    The answer tells only that (and the version): the body, headers and status of whatever
    else answers are never echoed, so the test cannot be used to explore the network.
    """
    with read_session() as session:
        row = get_row(session, Player, player_id, "player")
        settings, group = settings_of(row), GroupLibraries.of(row)
    client = client_for(settings)
    try:
        version = client.ping()["version"]
        libraries = library_checks(group, client)
    except PlayerError as exc:
        status, error = _failure(exc, settings.type)
        return jsonify(PlayerFailed.build(type=settings.type, status=status, error=error).dump())
    reachable = PlayerReachable.build(type=settings.type, version=version, libraries=libraries)
    return jsonify(reachable.dump())


@bp.post("/libraries/<id:library_id>/scan")
def scan_library(library_id: int) -> tuple[Response, int]:
    """Queue a ``library-scan`` of the library."""
    with read_session() as session:
        get_row(session, Library, library_id, "library")
    job = submit("library-scan", {"library_id": library_id}).job
    return jsonify(queued(job)), 202
