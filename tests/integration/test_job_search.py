"""Job summaries in the API: shown in the list and the job, searched with ``q=``."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from orchestrator.jobs.summaries import MAX_SUMMARY_CHARS
from tests.conftest import API_KEY
from tests.integration.conftest import assert_problem

AUTH = {"X-Api-Key": API_KEY}


def submit_with_path(client: FlaskClient, path: str) -> str:
    """A waiting test-echo job whose summary is ``path`` (the default: the payload's path)."""
    body = {"type": "test-echo", "payload": {"path": path}, "countdown": 3600}
    response = client.post("/api/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)
    return str(response.get_json()["id"])


def found(client: FlaskClient, q: str) -> set[str]:
    response = client.get("/api/v1/jobs", query_string={"q": q, "limit": 500}, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["id"] for item in response.get_json()["items"]}


def test_the_summary_is_in_the_list_and_in_the_job(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:8]
    job_id = submit_with_path(client, f"/data/movies/The Matrix {tag} (1999)")
    plain = client.post("/api/v1/jobs", json={"type": "test-echo", "countdown": 3600}, headers=AUTH)

    whole = client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).get_json()
    items = client.get("/api/v1/jobs?type=test-echo&limit=500", headers=AUTH).get_json()["items"]
    item = next(i for i in items if i["id"] == job_id)

    assert whole["summary"] == item["summary"] == f"/data/movies/The Matrix {tag} (1999)"
    assert plain.get_json()["summary"] is None


def test_q_finds_summaries_ignoring_case(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:8]
    matrix = submit_with_path(client, f"/data/movies/The Matrix {tag} (1999)")
    other = submit_with_path(client, f"/data/movies/Alien {tag} (1979)")

    assert found(client, f"matrix {tag}") == {matrix}
    assert found(client, f"MATRIX {tag.upper()}") == {matrix}
    assert found(client, tag) == {matrix, other}
    assert found(client, f"nothing-{tag}") == set()


def test_q_ignores_case_beyond_ascii(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:8]
    amelie = submit_with_path(client, f"/data/movies/Amélie {tag} (2001)")
    leon = submit_with_path(client, f"/data/movies/LÉON {tag} (1994)")

    assert found(client, f"AMÉLIE {tag}") == {amelie}
    assert found(client, f"léon {tag}") == {leon}
    assert found(client, "é") >= {amelie, leon}


@pytest.mark.parametrize("wild", ["%", "_"])
def test_q_takes_like_wildcards_literally(client: FlaskClient, wild: str) -> None:
    tag = uuid.uuid4().hex[:8]
    literal = submit_with_path(client, f"/data/{tag}/100{wild} done")
    lookalike = submit_with_path(client, f"/data/{tag}/100x done")

    # Unescaped, "_" would match the x, and "%" anything.
    assert found(client, f"{tag}/100{wild} d") == {literal}
    assert found(client, f"{tag}/100{wild}") == {literal}
    assert lookalike in found(client, f"{tag}/100")
    backslash = submit_with_path(client, f"/data/{tag}\\x")
    assert found(client, f"{tag}\\x") == {backslash}


def test_q_combines_with_the_other_filters(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:8]
    job_id = submit_with_path(client, f"/data/{tag}")

    assert found(client, tag) == {job_id}
    response = client.get(f"/api/v1/jobs?q={tag}&status=completed", headers=AUTH)
    assert response.get_json()["items"] == []


def test_q_too_long_or_holding_nul_is_400(client: FlaskClient) -> None:
    long = client.get(
        "/api/v1/jobs", query_string={"q": "x" * (MAX_SUMMARY_CHARS + 1)}, headers=AUTH
    )
    assert_problem(long, 400, "q must be")
    assert_problem(client.get("/api/v1/jobs?q=a%00b", headers=AUTH), 400, "NUL")


def test_a_long_summary_is_cut_to_one_line(client: FlaskClient) -> None:
    job_id = submit_with_path(client, "/data/" + "a\nb" * 200)

    summary = client.get(f"/api/v1/jobs/{job_id}", headers=AUTH).get_json()["summary"]

    assert len(summary) == MAX_SUMMARY_CHARS and summary.endswith("…")
    assert "\n" not in summary and summary.startswith("/data/a b")
