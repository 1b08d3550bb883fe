"""The jobs web page at ``/``: plain HTML, JavaScript and CSS, no build step."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).parent / "static"

bp = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/static")


@bp.get("/")
def index() -> Response:
    """The page itself; it asks for the API key and keeps it in the browser session."""
    return send_from_directory(STATIC, "index.html")
