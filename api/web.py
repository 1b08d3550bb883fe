"""The jobs web page at ``/``: plain HTML, JavaScript and CSS, no build step."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).parent / "static"

bp = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/static")

# The page runs only its own scripts and styles, posts no form, and no other site may
# frame it (clickjacking of the Retry and Cancel buttons).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.get("/")
def index() -> Response:
    """The page itself; it asks for the API key and keeps it in the browser session."""
    return send_from_directory(STATIC, "index.html")


@bp.after_request
def _page_headers(response: Response) -> Response:
    # As headers, not <meta>: a meta policy cannot say frame-ancestors, and covers no
    # static file. No referrer: the page's URL may carry a job id.
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
