"""The jobs page and its files come with their security policy as response headers."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import API_KEY

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/app.css", "/static/jobs.js"])
def test_the_page_and_its_files_send_the_policy_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_policy_is_a_header_only(client: FlaskClient) -> None:
    # A <meta> policy beside the header would be a second policy to keep in step.
    assert b"Content-Security-Policy" not in client.get("/").data


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/v1/jobs", {"X-Api-Key": API_KEY}, 200),
        ("/api/v1/jobs", {}, 401),
        ("/healthz", {}, 200),
        ("/api/v1/nowhere", {"X-Api-Key": API_KEY}, 404),
    ],
)
def test_every_api_answer_forbids_sniffing(
    client: FlaskClient, path: str, headers: dict[str, str], status: int
) -> None:
    response = client.get(path, headers=headers)

    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
