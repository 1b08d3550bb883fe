"""The jobs API: auth, submit validation, listing, retry/cancel, error shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import API_KEY, wait_until
from tests.integration.conftest import assert_problem

AUTH = {"X-Api-Key": API_KEY}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_every_route_but_health_requires_the_key(app: Flask, client: FlaskClient) -> None:
    open_routes = {"/healthz", "/readyz", "/"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "web.static":  # the page's own assets, open like the page
            continue
        path = rule.rule.replace("<job_id>", "00000000-0000-0000-0000-000000000000")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            if rule.rule in open_routes:
                assert response.status_code == 200, path
            else:
                assert_problem(response, 401, "API key")


@pytest.mark.parametrize(
    "headers",
    [{"X-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic Og=="}],
)
def test_wrong_keys_are_rejected(client: FlaskClient, headers: dict[str, str]) -> None:
    assert_problem(client.get("/api/v1/jobs", headers=headers), 401)


def test_bearer_and_header_keys_are_accepted(client: FlaskClient) -> None:
    assert client.get("/api/v1/jobs", headers=AUTH).status_code == 200
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert client.get("/api/v1/jobs", headers=bearer).status_code == 200
    # Query-string keys are for webhooks only (they end up in access logs).
    assert_problem(client.get(f"/api/v1/jobs?apikey={API_KEY}"), 401)


def test_submit_answers_202_with_links(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/jobs",
        json={"type": "test-echo", "payload": {"a": 1}, "priority": "high", "countdown": 3600},
        headers=AUTH,
    )

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending" and body["type"] == "test-echo"
    assert (body["priority"], body["queue"]) == (3, "high")
    assert body["links"] == {
        "self": f"/api/v1/jobs/{body['id']}",
        "stream": f"/api/v1/jobs/{body['id']}/stream",
    }
    assert response.headers["Location"] == body["links"]["self"]
    assert body["deduplicated"] is False


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"type": "no-such-type"}, 400, ["unknown job type", "test-echo"]),
        ({"type": "test-echo", "payload": [1, 2]}, 422, ["payload"]),
        ({"type": "test-echo", "surprise": 1}, 422, ["surprise"]),
        ({"type": "test-echo", "priority": "urgent"}, 422, ["priority"]),
        ({"type": "test-echo", "priority": 11}, 422, ["out of range"]),
        ({"type": "test-echo", "max_retries": -1}, 422, ["max_retries"]),
        ({"type": "test-echo", "countdown": -5}, 422, ["countdown"]),
        ({"type": "test-typed", "payload": {"times": 2}}, 422, ["name"]),
        ({"payload": {}}, 422, ["type"]),
        # The critical lane and the platform's maintenance are not for API clients: 200
        # submitted reapers once held a Radarr Test webhook back 68 s.
        ({"type": "reaper"}, 422, ["reaper", "maintenance"]),
        ({"type": "retention"}, 422, ["retention", "maintenance"]),
        ({"type": "test-echo", "priority": "critical"}, 422, ["critical", "high (3)"]),
        ({"type": "test-echo", "priority": 2}, 422, ["critical", "high (3)"]),
    ],
)
def test_submit_rejects_bad_bodies(
    client: FlaskClient, body: dict[str, Any], status: int, words: list[str]
) -> None:
    assert_problem(client.post("/api/v1/jobs", json=body, headers=AUTH), status, *words)


def test_submit_rejects_malformed_json_and_oversized_bodies(client: FlaskClient) -> None:
    bad = client.post("/api/v1/jobs", data="{not json", headers=AUTH)
    assert_problem(bad, 400, "not valid JSON")
    assert_problem(client.post("/api/v1/jobs", data="[1]", headers=AUTH), 400, "JSON object")
    assert_problem(client.post("/api/v1/jobs", data="", headers=AUTH), 400, "empty")
    huge = '{"type": "test-echo", "payload": {"x": "' + "a" * 2_000_000 + '"}}'
    assert_problem(client.post("/api/v1/jobs", data=huge, headers=AUTH), 413, "limit")


def test_list_filters_and_paginates_with_a_cursor(client: FlaskClient) -> None:
    ids = [
        client.post(
            "/api/v1/jobs",
            json={"type": "test-typed", "payload": {"name": str(n)}, "countdown": 3600},
            headers=AUTH,
        ).get_json()["id"]
        for n in range(5)
    ]
    seen: list[str] = []
    url = "/api/v1/jobs?type=test-typed&status=pending&limit=2"
    while url:
        page = client.get(url, headers=AUTH).get_json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        url = (
            f"/api/v1/jobs?type=test-typed&status=pending&limit=2&cursor={cursor}" if cursor else ""
        )
    assert seen[:5] == list(reversed(ids))
    assert len(seen) == len(set(seen))


def test_the_list_gives_summaries_and_the_job_itself_is_whole(client: FlaskClient) -> None:
    body = {"type": "test-echo", "payload": {"big": "x" * 1000}, "countdown": 3600}
    job = client.post("/api/v1/jobs", json=body, headers=AUTH).get_json()
    # Read both once its publication is stamped (a background write, 0.2 s after the
    # submit): a stamp landing between the two reads made them differ.
    wait_until(
        lambda: client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).get_json()["dispatched_at"]
    )

    page = client.get("/api/v1/jobs?type=test-echo&status=pending&limit=500", headers=AUTH)
    item = next(i for i in page.get_json()["items"] if i["id"] == job["id"])
    whole = client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).get_json()

    # The summary is the job without its payload, result and checkpoint.
    assert set(whole) - set(item) == {"payload", "result", "checkpoint", "children"}
    assert {k: v for k, v in whole.items() if k in item} == item
    assert whole["payload"] == {"big": "x" * 1000} and "x" * 1000 not in page.text


def test_the_list_leaves_out_the_platforms_maintenance_when_asked(client: FlaskClient) -> None:
    from orchestrator import submit

    maintenance = submit("retention", countdown=3600).job.id  # internal: not over the API
    body = {"type": "test-echo", "payload": {"n": 1}, "countdown": 3600}
    echo = client.post("/api/v1/jobs", json=body, headers=AUTH).get_json()["id"]

    def listed(query: str) -> set[str]:
        page = client.get(f"/api/v1/jobs?status=pending&limit=500{query}", headers=AUTH)
        return {item["id"] for item in page.get_json()["items"]}

    assert {maintenance, echo} <= listed("")  # as before: everything
    assert echo in listed("&maintenance=0") and maintenance not in listed("&maintenance=0")
    assert {maintenance, echo} <= listed("&maintenance=yes")


@pytest.mark.parametrize(
    ("query", "words"),
    [("status=done", ["status"]), ("limit=0", ["limit"]), ("limit=x", ["limit"]),
     ("cursor=%%%", ["cursor"]), ("maintenance=perhaps", ["maintenance"])],
)  # fmt: skip
def test_list_rejects_bad_queries(client: FlaskClient, query: str, words: list[str]) -> None:
    assert_problem(client.get(f"/api/v1/jobs?{query}", headers=AUTH), 400, *words)


def test_get_unknown_job_is_404(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/jobs/nope", headers=AUTH), 404, "nope")


def test_cancel_and_retry_follow_the_lifecycle(client: FlaskClient) -> None:
    job = client.post(
        "/api/v1/jobs", json={"type": "test-echo", "countdown": 3600}, headers=AUTH
    ).get_json()
    url = f"/api/v1/jobs/{job['id']}"

    assert_problem(client.post(f"{url}/retry", headers=AUTH), 409, "only failed or cancelled")
    cancelled = client.post(f"{url}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert_problem(client.post(f"{url}/cancel", headers=AUTH), 409, "cancelled")
    retried = client.post(f"{url}/retry", headers=AUTH)
    assert retried.status_code == 202 and retried.get_json()["status"] == "pending"
    detail = client.get(url, headers=AUTH).get_json()
    assert detail["children"] == [] and detail["status"] == "pending"


def test_health_and_readiness_are_open(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": True, "broker": True}


def test_unknown_route_and_method_are_problems(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/nothing", headers=AUTH), 404)
    assert_problem(client.delete("/api/v1/jobs", headers=AUTH), 405)


def test_a_webhook_without_its_key_is_told_every_form_radarr_can_send(
    client: FlaskClient,
) -> None:
    response = client.post("/api/webhooks/radarr", json={"eventType": "Test"})

    assert_problem(response, 401, "API key")
    detail = response.get_json()["detail"]
    for form in ("X-Api-Key", "Authorization: Bearer", "basic auth", "?apikey="):
        assert form in detail
    # The other routes name only the forms they take.
    assert "?apikey=" not in client.get("/api/v1/jobs").get_json()["detail"]


@pytest.mark.parametrize(("sent_to", "right"), [("radarr", "sonarr"), ("sonarr", "radarr")])
def test_the_other_managers_body_is_refused_naming_the_right_url(
    client: FlaskClient, sent_to: str, right: str
) -> None:
    body = json.loads((FIXTURES / f"{right}_download.json").read_text())

    response = client.post(f"/api/webhooks/{sent_to}", json=body, headers=AUTH)

    assert_problem(response, 400, f"/api/webhooks/{right}")


def test_a_type_whose_own_priority_is_critical_runs_high_over_the_api(
    client: FlaskClient,
) -> None:
    response = client.post("/api/v1/jobs", json={"type": "test-critical-default"}, headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert (response.get_json()["priority"], response.get_json()["queue"]) == (3, "high")
