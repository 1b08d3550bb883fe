"""Named API keys with a scope: every route of the live API against every scope, and a
key's life (made once, kept hashed, listed without its secret, last use, revoked)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from orchestrator.cli.main import main
from orchestrator.storage import api_keys
from orchestrator.storage.api_keys import ApiKey
from orchestrator.storage.db import read_session, write_session
from tests.conftest import ApiServer

# Every route of the app and the scope it needs: "open" needs no key. A route added to the
# app fails test_every_route_is_in_the_table until it is written here.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/"): "open",
    ("GET", "/healthz"): "open",
    ("GET", "/readyz"): "open",
    ("GET", "/static/<path:filename>"): "open",
    ("POST", "/api/webhooks/<source>"): "webhooks",
    ("PUT", "/api/webhooks/<source>"): "webhooks",
    ("POST", "/api/triggers/manual"): "webhooks",
    ("GET", "/metrics"): "read",
    ("GET", "/api/openapi.json"): "read",
    ("GET", "/api/v1/events"): "read",
    ("GET", "/api/v1/jobs"): "read",
    ("GET", "/api/v1/jobs/<job_id>"): "read",
    ("GET", "/api/v1/jobs/<job_id>/stream"): "read",
    ("GET", "/api/v1/movies"): "read",
    ("GET", "/api/v1/movies/<id:movie_id>"): "read",
    ("GET", "/api/v1/series"): "read",
    ("GET", "/api/v1/player-types"): "read",
    ("POST", "/api/v1/jobs"): "admin",
    ("POST", "/api/v1/jobs/<job_id>/cancel"): "admin",
    ("POST", "/api/v1/jobs/<job_id>/retry"): "admin",
    ("POST", "/api/v1/keys"): "admin",
    ("GET", "/api/v1/keys"): "admin",
    ("DELETE", "/api/v1/keys/<id:key_id>"): "admin",
    ("POST", "/api/v1/libraries/<id:library_id>/scan"): "admin",
    ("POST", "/api/v1/players/<id:player_id>/test"): "admin",
}
for _resource in ("libraries", "path-mappings", "player-groups", "players"):
    ROUTES[("GET", f"/api/v1/{_resource}")] = "read"
    ROUTES[("GET", f"/api/v1/{_resource}/<id:row_id>")] = "read"
    ROUTES[("POST", f"/api/v1/{_resource}")] = "admin"
    ROUTES[("PATCH", f"/api/v1/{_resource}/<id:row_id>")] = "admin"
    ROUTES[("DELETE", f"/api/v1/{_resource}/<id:row_id>")] = "admin"

# What each rule's variables are filled with: rows and jobs that do not exist, so that a
# request a scope lets through is refused later (404, 400, 422) and changes nothing.
FILLERS = {
    "<path:filename>": "page.js",
    "<source>": "radarr",
    "<job_id>": "no-such-job",
    "<id:movie_id>": "999999",
    "<id:key_id>": "999999",
    "<id:library_id>": "999999",
    "<id:player_id>": "999999",
    "<id:row_id>": "999999",
}


def _url(rule: str) -> str:
    return re.sub(r"<[^>]+>", lambda match: FILLERS[match.group(0)], rule)


@pytest.fixture(scope="module")
def keys(api_server: ApiServer) -> Iterator[dict[str, str]]:
    """A key of each scope, the admin one being ORCH_API_KEY."""
    made = {scope: api_keys.add(f"test-{scope}", scope)[1] for scope in ("webhooks", "read")}
    made["admin"] = api_server.app.config["API_KEY"]
    yield made
    for scope in ("webhooks", "read"):
        api_keys.revoke(f"test-{scope}")


def _status(server: ApiServer, method: str, rule: str, key: str | None) -> int:
    headers = {"X-Api-Key": key} if key else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    # Streams never end: the status line is all this asks for.
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        client.stream(method, _url(rule), headers=headers, json=body) as response,
    ):
        return response.status_code


def test_every_route_is_in_the_table(api_server: ApiServer) -> None:
    rules = {
        (method, rule.rule)
        for rule in api_server.app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }

    assert rules == set(ROUTES)


@pytest.mark.parametrize("route", sorted(ROUTES), ids=" ".join)
def test_each_route_opens_to_its_scope_and_admin_only(
    api_server: ApiServer, keys: dict[str, str], route: tuple[str, str]
) -> None:
    method, rule = route
    needed = ROUTES[route]
    answers = {scope: _status(api_server, method, rule, key) for scope, key in keys.items()}
    anonymous = _status(api_server, method, rule, None)

    for scope, status in answers.items():
        if needed == "open" or scope in ("admin", needed):
            assert status not in (401, 403), (scope, status)
        else:
            assert status == 403, (scope, status)
    assert (anonymous not in (401, 403)) if needed == "open" else anonymous == 401


def test_a_refusal_names_the_scope_needed(api_server: ApiServer, keys: dict[str, str]) -> None:
    answer = httpx.post(
        f"{api_server.url}/api/v1/libraries", headers={"X-Api-Key": keys["webhooks"]}, json={}
    )

    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "this key's scope is webhooks: POST /api/v1/libraries needs an admin key"
    )
    read = httpx.post(f"{api_server.url}/api/webhooks/radarr", headers={"X-Api-Key": keys["read"]})
    assert read.json()["detail"] == (
        "this key's scope is read: POST /api/webhooks/radarr needs a webhooks or an admin key"
    )


def test_a_webhooks_key_works_as_radarr_sends_it_and_only_on_webhooks(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    key = keys["webhooks"]
    test_event = {"eventType": "Test"}
    basic = httpx.post(
        f"{api_server.url}/api/webhooks/radarr", auth=("radarr", key), json=test_event
    )
    query = httpx.post(f"{api_server.url}/api/webhooks/sonarr?apikey={key}", json=test_event)
    elsewhere = httpx.get(f"{api_server.url}/api/v1/jobs?apikey={key}")

    assert (basic.status_code, query.status_code) == (202, 202), (basic.text, query.text)
    # The URL forms are the webhooks' only: elsewhere the key is not even read.
    assert elsewhere.status_code == 401


def test_a_key_is_shown_once_kept_hashed_and_listed_without_its_secret(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    admin = {"X-Api-Key": keys["admin"]}
    made = httpx.post(
        f"{api_server.url}/api/v1/keys", headers=admin, json={"name": "grafana", "scope": "read"}
    )
    assert made.status_code == 201, made.text
    secret = made.json()["key"]
    listed = httpx.get(f"{api_server.url}/api/v1/keys", headers=admin).json()["items"]

    with read_session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.name == "grafana")).one()
        stored = [str(value) for value in (row.name, row.scope, row.secret_hash, row.hint)]
    assert secret.startswith("orch_") and len(secret) >= 40
    assert not any(secret in value for value in stored)
    (grafana,) = [item for item in listed if item["name"] == "grafana"]
    assert secret not in str(listed)
    assert grafana["hint"] == secret[:9] + "…"
    assert (grafana["scope"], grafana["last_used_at"]) == ("read", None)

    used = httpx.get(f"{api_server.url}/api/v1/jobs", headers={"X-Api-Key": secret})
    listed = httpx.get(f"{api_server.url}/api/v1/keys", headers=admin).json()["items"]
    assert used.status_code == 200
    assert [item["last_used_at"] for item in listed if item["name"] == "grafana"] != [None]

    revoked = httpx.delete(f"{api_server.url}/api/v1/keys/{grafana['id']}", headers=admin)
    after = httpx.get(f"{api_server.url}/api/v1/jobs", headers={"X-Api-Key": secret})
    assert revoked.status_code == 204
    assert after.status_code == 401


def test_a_key_needs_a_known_scope_and_a_free_name(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    admin = {"X-Api-Key": keys["admin"]}
    url = f"{api_server.url}/api/v1/keys"
    bad_scope = httpx.post(url, headers=admin, json={"name": "x", "scope": "root"})
    taken = httpx.post(url, headers=admin, json={"name": "test-read", "scope": "read"})

    assert bad_scope.status_code == 422
    assert "webhooks" in bad_scope.text and "admin" in bad_scope.text
    assert taken.status_code == 409
    assert "test-read" in taken.json()["detail"]


def test_the_cli_prints_the_key_once_lists_and_revokes_it(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    runner = CliRunner()
    added = runner.invoke(main, ["key", "add", "sonarr", "--scope", "webhooks"])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip()
    webhook = httpx.post(
        f"{api_server.url}/api/webhooks/sonarr", auth=("sonarr", secret), json={"eventType": "Test"}
    )
    listed = runner.invoke(main, ["key", "list"])
    revoked = runner.invoke(main, ["key", "revoke", "sonarr"])
    again = runner.invoke(main, ["key", "revoke", "sonarr"])
    wrong = runner.invoke(main, ["key", "add", "x", "--scope", "root"])

    assert webhook.status_code == 202
    assert "only time it is shown" in added.stderr
    (row,) = [line for line in listed.output.splitlines() if line.startswith("sonarr ")]
    assert "webhooks" in row and secret[:9] in row and secret not in listed.output
    assert revoked.exit_code == 0 and "revoked key sonarr" in revoked.output
    assert again.exit_code == 1 and "no API key named 'sonarr'" in again.output
    assert wrong.exit_code == 2 and "webhooks" in wrong.output


def test_a_named_key_use_is_written_at_most_once_a_minute(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    info, secret = api_keys.add("touch", "read")
    try:
        api_keys.scope_of(secret)
        first = _last_used("touch")
        api_keys.scope_of(secret)
        assert _last_used("touch") == first is not None
    finally:
        api_keys.revoke("touch")


def _last_used(name: str) -> object:
    with write_session() as session:
        return session.scalars(select(ApiKey.last_used_at).where(ApiKey.name == name)).one()
