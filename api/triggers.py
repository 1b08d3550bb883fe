"""Manual trigger: ``POST /api/triggers/manual?dir=<path>`` records a ``manual-scan`` job.

For files copied by hand or by tools without webhooks; autoscan's form (repeated ``dir``),
with the webhooks' key forms. Like the webhooks, it answers 202 at once: the folders are
mapped, matched to libraries and scanned by the job.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api.errors import ApiError
from api.serialize import queued
from orchestrator.jobs.dispatch import submit
from tasks.webhook import MAX_MANUAL_DIRS, MAX_PATH_LENGTH

bp = Blueprint("triggers", __name__, url_prefix="/api/triggers")


@bp.post("/manual")
def manual() -> tuple[Response, int]:
    """Queue a scan of each ``dir`` given."""
    dirs = [value.strip() for value in request.args.getlist("dir")]
    if not dirs or not all(dirs):
        raise ApiError(400, "name each folder to scan as ?dir=<path> (repeat dir for several)")
    if len(dirs) > MAX_MANUAL_DIRS:
        raise ApiError(400, f"at most {MAX_MANUAL_DIRS} dir parameters per request")
    if any(len(value) > MAX_PATH_LENGTH for value in dirs):
        raise ApiError(400, f"a dir is longer than {MAX_PATH_LENGTH} characters")
    job = submit("manual-scan", {"dirs": dirs}).job
    return jsonify(queued(job)), 202
