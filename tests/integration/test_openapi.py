"""The OpenAPI document: valid 3.1, complete against the URL map, and true to the live API.

Every operation but the two event streams (which may never end) is fuzzed with schemathesis
through the WSGI app: positive data, derandomized so that a run is reproducible, half of it
aimed at rows that exist. The server errors and contract bugs the fuzzing once found are
pinned by the tests at the end.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import actions
from api.openapi import build_document
from orchestrator.jobs import dispatch
from orchestrator.storage.db import write_session
from services.catalog.models import MediaFileRow, Movie
from services.players import PlayerSettings, PlayerUnavailable
from tests.conftest import API_KEY
from tests.integration.conftest import assert_problem

AUTH = {"X-Api-Key": API_KEY}
V1 = "/api/v1"
STREAMS = {("GET", f"{V1}/jobs/{{job_id}}/stream"), ("GET", f"{V1}/events")}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
MAX_EXAMPLES = 40


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation of ``document``."""
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def routed(app: Flask) -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every rule of the URL map but HEAD, OPTIONS and static files."""
    return {
        (method, re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "web.static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


FUZZED = sorted(documented(build_document()) - STREAMS)


@pytest.fixture(scope="module", autouse=True)
def recorded_only(database: str) -> Iterator[None]:
    """The jobs the fuzzing submits are recorded, never published: a worker another module
    keeps running (bound to the other database, when the two interleave) would run them
    against its own rows (a library-scan of a fuzzed library id scanned the library of an
    e2e test that had the same id)."""
    dispatch.use_relay(lambda job_id: None)
    yield
    dispatch.use_relay(None)


@pytest.fixture(scope="module")
def spec(app: Flask) -> dict[str, Any]:
    """The document as the app serves it."""
    response = app.test_client().get("/api/openapi.json", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


@pytest.fixture(scope="module")
def api_schema(app: Flask) -> Any:
    """The served document loaded by schemathesis, calling the app through WSGI."""
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=AUTH)


# --- the document ------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_document_needs_the_key(client: FlaskClient) -> None:
    assert_problem(client.get("/api/openapi.json"), 401, "API key")
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert client.get("/api/openapi.json", headers=bearer).status_code == 200


def test_every_route_is_documented(app: Flask, spec: dict[str, Any]) -> None:
    assert routed(app) - documented(spec) == set(), "routes missing from the document"


def test_every_documented_operation_is_routed(app: Flask, spec: dict[str, Any]) -> None:
    assert documented(spec) - routed(app) == set(), "documented operations the app lacks"


def test_security_requirements(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer" and schemes["Basic"]["scheme"] == "basic"
    assert (schemes["ApiKeyQuery"]["in"], schemes["ApiKeyQuery"]["name"]) == ("query", "apikey")
    assert spec["security"] == [{"ApiKey": []}, {"Bearer": []}]
    for method, path in documented(spec):
        operation = spec["paths"][path][method.lower()]
        security = operation.get("security", spec["security"])
        if path in {"/healthz", "/readyz", "/"}:
            assert security == [] and "401" not in operation["responses"], path
        else:
            assert "401" in operation["responses"], (method, path)
        if path.startswith("/api/webhooks/"):
            assert {name for s in security for name in s} == set(schemes), path


def test_errors_are_problem_json(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    for response in responses.values():
        assert response["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    used = {"405"}  # not an operation's: what any path answers for a method it lacks
    for method, path in documented(spec):
        for status, response in spec["paths"][path][method.lower()]["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                assert response["$ref"].startswith("#/components/responses/"), (path, status)
                used.add(status)
    assert used == {"400", "401", "403", "404", "405", "409", "413", "422", "503"}


def test_parameters_and_media_types(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    limit = {p["name"]: p for p in paths[f"{V1}/jobs"]["get"]["parameters"]}["limit"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)
    for path in (f"{V1}/jobs/{{job_id}}/stream", f"{V1}/events"):
        operation = paths[path]["get"]
        assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert headers == ["Last-Event-ID"]
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert list(paths["/"]["get"]["responses"]["200"]["content"]) == ["text/html"]
    webhook = paths["/api/webhooks/{source}"]["post"]["requestBody"]["content"]
    body = spec["components"]["schemas"]["WebhookBody"]
    assert webhook["application/json"]["schema"] == {"$ref": "#/components/schemas/WebhookBody"}
    assert body["required"] == ["eventType"] and body["additionalProperties"] is True


def test_request_bodies_are_the_pydantic_models(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["MappingCreate"]["required"]) == {"source", "from", "to"}
    assert schemas["LibraryCreate"]["additionalProperties"] is False
    # A partial update takes null only where it clears a field.
    assert schemas["PlayerPatch"]["properties"]["name"]["type"] == "string"
    assert {"type": "null"} in schemas["PlayerPatch"]["properties"]["token"]["anyOf"]


def conforms(spec: dict[str, Any], name: str, instance: Any) -> None:
    """Check ``instance`` against the component schema ``name`` of ``spec``."""
    Draft202012Validator({**spec, "$ref": f"#/components/schemas/{name}"}).validate(instance)


def test_method_not_allowed_is_the_documented_problem(
    client: FlaskClient, spec: dict[str, Any]
) -> None:
    response = client.delete(f"{V1}/jobs", headers=AUTH)
    conforms(spec, "Problem", assert_problem(response, 405))
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_oversized_body_is_the_documented_problem(
    app: Flask, client: FlaskClient, spec: dict[str, Any]
) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post(f"{V1}/libraries", data=b"x" * (limit + 1), headers=AUTH)
    conforms(spec, "Problem", assert_problem(response, 413, str(limit)))
    assert str(limit) in spec["components"]["responses"]["ContentTooLarge"]["description"]


def test_streams_answer_as_documented(client: FlaskClient, spec: dict[str, Any]) -> None:
    # A finished job's stream ends after its replay; /api/v1/events never ends, so only
    # its refusals are called here.
    job = client.post(f"{V1}/jobs", json={"type": "test-echo"}, headers=AUTH).get_json()
    client.post(f"{V1}/jobs/{job['id']}/cancel", headers=AUTH)
    response = client.get(f"{V1}/jobs/{job['id']}/stream", headers=AUTH)
    assert (response.status_code, response.mimetype) == (200, "text/event-stream")
    data = [
        line[6:] for line in response.get_data(as_text=True).splitlines() if line[:6] == "data: "
    ]
    assert data, response.get_data(as_text=True)
    for event in data:
        conforms(spec, "Event", json.loads(event))
    assert_problem(client.get(f"{V1}/jobs/no-such-job/stream", headers=AUTH), 404)
    assert_problem(client.get(f"{V1}/events?status=nope", headers=AUTH), 400, "status")
    assert_problem(client.get(f"{V1}/events", headers={**AUTH, "Last-Event-ID": "x"}), 400)


# --- the live API against the document ----------------------------------------------------


class OfflinePlayer:
    """Stands in for player clients while fuzzing: nothing leaves the machine."""

    def __init__(self, settings: PlayerSettings) -> None:
        self.settings = settings

    def ping(self) -> dict[str, Any]:
        """Kodi players are away; the others answer."""
        if self.settings.type == "kodi":
            raise PlayerUnavailable("offline while fuzzing")
        return {"version": "fuzz"}

    def sources(self, media: str = "video") -> list[str] | None:
        """Plex's library folders; the others do not tell."""
        return ["/data/movies"] if self.settings.type == "plex" else None


Seeds = dict[str, list[Any]]


@pytest.fixture
def seeds(client: FlaskClient) -> Seeds:
    """Fresh rows of every kind, by the first path segment after /api/v1."""
    tag = uuid.uuid4().hex[:8]

    def post(resource: str, /, **body: Any) -> Any:
        response = client.post(f"{V1}/{resource}", json=body, headers=AUTH)
        assert response.status_code in (201, 202), response.get_json()
        return response.get_json()["id"]

    library = post("libraries", name=f"lib-{tag}", path=f"/data/{tag}", allow_missing=True)
    mapping = post("path-mappings", source="radarr", **{"from": f"/m/{tag}", "to": "/data"})
    mappings = [{"from": "/data", "to": "/srv"}]
    group = post("player-groups", name=f"g-{tag}", library_ids=[library], path_mappings=mappings)
    url = "http://player.invalid"
    players = [post("players", name=t, type=t, url=url, group_id=group) for t in ("kodi", "plex")]
    jobs = [post("jobs", type="test-echo") for _ in range(2)]
    client.post(f"{V1}/jobs/{jobs[1]}/cancel", headers=AUTH)
    with write_session() as session:
        folder = f"/data/{tag}/Film (1999)"
        movie = Movie(library_id=library, path=folder, title="Film", year=1999, tmdb_id=603)
        video = MediaFileRow(path=f"{folder}/film.mkv", kind="video", flags=[], size=1, mtime=1.5)
        movie.files = [video]
        session.add(movie)
        session.flush()
        movies = [movie.id]
    return {
        "libraries": [library],
        "path-mappings": [mapping],
        "player-groups": [group],
        "players": players,
        "jobs": jobs,
        "movies": movies,
    }


def steer(case: Any, seeds: Seeds, pick: int) -> Any:
    """Aim a case at existing rows, and fill in what the schemas cannot say (paths, URLs)."""
    kind = case.path.split("/")[3] if case.path.startswith(V1) else None
    for name in case.path_parameters or {}:
        if kind in seeds:
            case.path_parameters[name] = seeds[kind][pick % len(seeds[kind])]
    body = case.body if isinstance(case.body, dict) else {}
    fixes = {
        "type": "test-echo" if kind == "jobs" else body.get("type"),
        "path": "/" + str(body.get("path")).strip(),
        "url": "http://player.invalid",
        "group_id": seeds["player-groups"][0],
        "library_ids": seeds["libraries"],
    }
    body.update({key: value for key, value in fixes.items() if key in body})
    return case


def has_nul(case: Any) -> bool:
    """True if any part of the request holds a NUL character (PostgreSQL refuses them)."""
    parts = [case.path_parameters, case.query, case.headers, case.body]
    return "\\u0000" in json.dumps(parts, default=str)


@pytest.mark.parametrize(("method", "path"), FUZZED, ids=[f"{m} {p}" for m, p in FUZZED])
def test_operation_keeps_its_contract(
    api_schema: Any,
    database: str,
    seeds: Seeds,
    method: str,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(actions, "client_for", OfflinePlayer)
    generated = api_schema[path][method].as_strategy()
    steered = st.tuples(generated, st.integers(0, 3)).map(lambda c: steer(c[0], seeds, c[1]))
    cases = st.one_of(generated, steered)
    if database.startswith("postgresql"):  # see test_nul_characters_are_kept_or_refused
        cases = cases.filter(lambda case: not has_nul(case))

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        response = case.call(headers=AUTH)
        case.validate_response(response, checks=CHECKS, headers=AUTH)

    run()


# --- server errors and contract bugs (see the module docstring) ---------------------------


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (f"{V1}/jobs?limit=²", {}),
        (f"{V1}/libraries?cursor=²", {}),
        (f"{V1}/movies?library_id=²", {}),
        (f"{V1}/jobs/no-such-job/stream?last_event_id=²", {}),
        (f"{V1}/jobs/no-such-job/stream", {"Last-Event-ID": "²"}),
    ],
)
def test_non_ascii_digits_are_a_bad_request(
    client: FlaskClient, url: str, headers: dict[str, str]
) -> None:
    assert_problem(client.get(url, headers={**AUTH, **headers}), 400)


PLAYER = {"name": "p", "type": "kodi", "url": "http://kodi.lan"}


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", f"{V1}/libraries/{2**63}", None, 404),
        ("GET", f"{V1}/movies/{2**63}", None, 404),
        ("POST", f"{V1}/libraries/{2**63}/scan", None, 404),
        ("POST", f"{V1}/player-groups", {"name": "big", "library_ids": [2**63]}, 422),
        ("POST", f"{V1}/player-groups", {"name": "small", "library_ids": [-(2**63) - 1]}, 422),
        ("POST", f"{V1}/players", {**PLAYER, "group_id": 2**63}, 422),
    ],
)
def test_ids_out_of_range_are_client_errors(
    client: FlaskClient, method: str, url: str, body: Any, status: int
) -> None:
    assert_problem(client.open(url, method=method, json=body, headers=AUTH), status)


def test_a_last_event_id_beyond_32_bits_is_refused(client: FlaskClient) -> None:
    job = client.post(f"{V1}/jobs", json={"type": "test-echo"}, headers=AUTH).get_json()
    client.post(f"{V1}/jobs/{job['id']}/cancel", headers=AUTH)
    headers = {**AUTH, "Last-Event-ID": str(2**31)}
    response = client.get(f"{V1}/jobs/{job['id']}/stream", headers=headers)
    assert_problem(response, 400, "Last-Event-ID")


def test_nul_characters_are_refused(client: FlaskClient) -> None:
    tag = uuid.uuid4().hex[:8]
    body = {"name": f"nul-{tag}\x00", "path": f"/nul/{tag}"}
    assert_problem(client.post(f"{V1}/libraries", json=body, headers=AUTH), 400, "NUL")
    assert_problem(client.get(f"{V1}/jobs?type=%00", headers=AUTH), 400, "NUL")
    assert_problem(client.get(f"{V1}/jobs/%00", headers=AUTH), 400, "NUL")
    hook = {"eventType": "Test", "movie": {"title": "a\x00"}}
    assert_problem(client.post("/api/webhooks/radarr", json=hook, headers=AUTH), 400, "NUL")


def test_a_cursor_at_the_edge_of_time_is_a_bad_request(client: FlaskClient) -> None:
    raw = json.dumps(["0001-01-01T00:00:00+01:00", "x"]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert_problem(client.get(f"{V1}/jobs?cursor={cursor}", headers=AUTH), 400, "cursor")


def test_a_malformed_player_url_is_refused(client: FlaskClient) -> None:
    name = f"bad-url-{uuid.uuid4().hex[:8]}"
    group = client.post(f"{V1}/player-groups", json={"name": name}, headers=AUTH).get_json()
    body = {**PLAYER, "url": "http://[", "group_id": group["id"]}
    assert_problem(client.post(f"{V1}/players", json=body, headers=AUTH), 422, "url")


@pytest.mark.parametrize("field", ["priority", "max_retries"])
def test_booleans_are_not_numbers(client: FlaskClient, field: str) -> None:
    body = {"type": "test-echo", field: True}
    assert_problem(client.post(f"{V1}/jobs", json=body, headers=AUTH), 422, field)


def test_half_of_a_surrogate_pair_is_refused_and_the_list_stays_whole(
    client: FlaskClient,
) -> None:
    """JSON can spell half of a UTF-16 surrogate pair (\\ud800); no database or JSON
    answer can hold it. One such webhook used to be accepted, and from then on every list
    that showed it answered 500 (PostgreSQL) or 503 (SQLite)."""
    lone = '"/m/\\ud800"'
    hook = f'{{"eventType": "Download", "movie": {{"folderPath": {lone}}}}}'
    job = '{"type": "test-echo", "payload": {"text": "\\udc00 alone"}}'
    for path, body in (("/api/webhooks/radarr", hook), (f"{V1}/jobs", job)):
        response = client.post(path, data=body, content_type="application/json", headers=AUTH)
        assert_problem(response, 400, "surrogate")
    paired = '{"type": "test-echo", "payload": {"title": "\\ud83c\\udfac Clip"}}'
    response = client.post(f"{V1}/jobs", data=paired, content_type="application/json",
                           headers=AUTH)  # fmt: skip
    assert response.status_code == 202, response.get_data(as_text=True)
    assert client.get(f"{V1}/jobs?type=test-echo", headers=AUTH).status_code == 200
    stored = client.get(f"{V1}/jobs/{response.get_json()['id']}", headers=AUTH).get_json()
    assert stored["payload"] == {"title": "\U0001f3ac Clip"}  # a pair is one character


@pytest.mark.parametrize("job_id", ["\ud800", "a\x00b", "x" * 37, 7])
def test_a_cursor_naming_an_impossible_job_is_a_bad_request(
    client: FlaskClient, job_id: object
) -> None:
    raw = json.dumps(["2026-01-01T00:00:00+00:00", job_id]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert_problem(client.get(f"{V1}/jobs?cursor={cursor}", headers=AUTH), 400, "cursor")
