"""Auth and secrets, and paths that try to escape their library.

- Every route of the app but the open ones (health, readiness, the page and its assets)
  refuses a request without the API key or with a wrong one, in every accepted form; the
  route list is read from the app itself, so a new route is covered the day it is added.
- The key is compared in constant time.
- Player passwords and tokens, and the API key, are never echoed: not by the API, not in
  a job, an event, a metric or the worker's log.
- A manager path that climbs out of its mapping with ``..`` is refused before any scan.
- An oversized webhook body is refused with 413 and records nothing.
"""

from __future__ import annotations

import base64
import copy
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import OPEN_ENDPOINTS, create_app
from api import auth as api_auth
from tests.api_client import Api
from tests.conftest import API_KEY, ApiServer, WorkerProcess, sqlite_only
from tests.fakes.players import FakeJellyfin, FakeKodi
from tests.pipeline import HEADERS, clear_catalog, fixture, make_movie, unique

OPEN = {"health.healthz", "health.readyz", "web.index", "web.static"}
PASSWORD, TOKEN = "kodi-s3cret-pw", "tok-s3cret"


# --- helpers (the client is tests/api_client.py) -----------------------------------------


def basic(password: str, user: str = "radarr") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(autouse=True)
def empty_catalog(database: str) -> None:
    """Each test configures its own libraries, mappings and players (on SQLite: the faults
    here are the players' and the senders', not the database's)."""
    sqlite_only(database, "players or senders misbehaving")
    clear_catalog()


@pytest.fixture
def live(worker: WorkerProcess, api_server: ApiServer) -> Api:
    """The live API; every answer it gets is kept in ``live.seen``."""
    return Api(api_server, read_timeout=20)


def movies_setup(
    live: Api, tmp_path: Path, group_mapping: str = "smb://nas/movies"
) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    library_path = tmp_path / "data" / "movies"
    library_path.mkdir(parents=True)
    library = live.create(
        "/api/v1/libraries",
        {"name": unique("Movies"), "path": str(library_path), "kind": "movies"},
    )
    live.create(
        "/api/v1/path-mappings", {"source": "radarr", "from": "/movies", "to": str(library_path)}
    )
    group = live.create(
        "/api/v1/player-groups",
        {"name": unique("Living room"), "library_ids": [library["id"]],
         "path_mappings": [{"from": str(library_path), "to": group_mapping}]},
    )  # fmt: skip
    return library_path, library, group


# --- every route needs the key --------------------------------------------------------------


@pytest.fixture(scope="module")
def app(database: str) -> Flask:
    return create_app({"TESTING": True})


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, URL) of every rule and method but the open ones."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN:
            continue
        values = {name: "radarr" if name == "source" else "1" for name in rule.arguments}
        _, url = rule.build(values)
        assert url is not None
        for method in sorted(rule.methods or ()):
            routes.append((rule.endpoint, method, url))
    return routes


def _assert_refused(response: Any, method: str, what: str) -> None:
    assert response.status_code == 401, f"{what}: {response.status_code}"
    assert response.mimetype == "application/problem+json", what
    if method != "HEAD":
        body = response.get_json()
        assert body["status"] == 401 and body["title"] and body["detail"], what


def test_only_health_readiness_and_the_page_are_open(app: Flask, client: FlaskClient) -> None:
    # A new open endpoint has to be added here on purpose, not slip into OPEN_ENDPOINTS.
    assert set(OPEN_ENDPOINTS) == OPEN
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= OPEN
    for path in ("/healthz", "/", "/static/app.js"):
        assert client.get(path).status_code == 200, path
    assert client.get("/readyz").status_code in (200, 503)
    # The walk below reaches every kind of route: API, streams, metrics, webhooks, schema.
    walked = {(endpoint, method) for endpoint, method, _ in _routes(app)}
    assert walked >= {
        ("jobs.submit_job", "POST"), ("events.all_events", "GET"), ("metrics.metrics", "GET"),
        ("webhooks.receive", "PUT"), ("resources.delete_players", "DELETE"),
        ("actions.test_player", "POST"), ("openapi.document", "HEAD"), ("jobs.cancel", "OPTIONS"),
    }  # fmt: skip


def test_every_other_route_refuses_a_missing_or_wrong_key(app: Flask, client: FlaskClient) -> None:
    wrong = "wrong-" + API_KEY
    for endpoint, method, url in _routes(app):
        # The manual trigger takes the webhooks' key forms, for the scripts that call it.
        webhook = endpoint.startswith(("webhooks.", "triggers."))
        attempts: list[tuple[str, dict[str, str], str]] = [
            ("no key", {}, url),
            ("wrong X-Api-Key", {"X-Api-Key": wrong}, url),
            ("wrong Bearer", {"Authorization": f"Bearer {wrong}"}, url),
            ("empty Bearer", {"Authorization": "Bearer "}, url),
            ("wrong Basic", {"Authorization": basic(wrong)}, url),
            ("wrong apikey", {}, f"{url}?apikey={wrong}"),
            ("key as the Basic user", {"Authorization": basic("", user=API_KEY)}, url),
        ]
        if not webhook:
            # Basic and ?apikey= are webhook forms only: even the right key is refused.
            attempts += [
                ("right key as Basic", {"Authorization": basic(API_KEY)}, url),
                ("right key as ?apikey=", {}, f"{url}?apikey={API_KEY}"),
            ]
        for what, headers, target in attempts:
            response = client.open(target, method=method, headers=headers, json={})
            _assert_refused(response, method, f"{method} {target} with {what}")


def test_webhook_forms_are_accepted_on_webhooks_and_the_manual_trigger(client: FlaskClient) -> None:
    body = fixture("radarr_test")
    forms: list[dict[str, Any]] = [
        {"headers": HEADERS},
        {"headers": {"Authorization": f"Bearer {API_KEY}"}},
        {"headers": {"Authorization": basic(API_KEY)}},
        {"query_string": {"apikey": API_KEY}},
    ]
    for form in forms:
        response = client.post("/api/webhooks/radarr", json=body, **form)
        assert response.status_code == 202, (form, response.get_data(as_text=True))
        trigger = {**form, "query_string": {**form.get("query_string", {}), "dir": "/nowhere"}}
        response = client.post("/api/triggers/manual", **trigger)
        assert response.status_code == 202, (form, response.get_data(as_text=True))
    for headers in (HEADERS, {"Authorization": f"Bearer {API_KEY}"}):
        assert client.get("/api/v1/jobs?limit=1", headers=headers).status_code == 200


def test_the_key_is_compared_in_constant_time(client: FlaskClient) -> None:
    source = inspect.getsource(api_auth)
    assert "hmac.compare_digest(" in source
    compare = inspect.getsource(api_auth._same)
    assert "compare_digest" in compare and "==" not in compare
    assert "_same(" in inspect.getsource(api_auth.scope_of_request)

    last = chr(ord(API_KEY[-1]) + 1)
    near_misses = [
        API_KEY[:-1] + last,  # only the last character differs
        API_KEY[:-1],  # one character short
        API_KEY + "0",  # one character long
        API_KEY + API_KEY,
        API_KEY.upper(),
        "x" + API_KEY[1:],  # only the first character differs
    ]
    for key in near_misses:
        for headers in ({"X-Api-Key": key}, {"Authorization": f"Bearer {key}"}):
            response = client.get("/api/v1/jobs?limit=1", headers=headers)
            _assert_refused(response, "GET", f"{headers}")
        for form in ({"headers": {"Authorization": basic(key)}}, {"query_string": {"apikey": key}}):
            response = client.post("/api/webhooks/radarr", json=fixture("radarr_test"), **form)
            _assert_refused(response, "POST", f"{form}")
    assert client.get("/api/v1/jobs?limit=1", headers=HEADERS).status_code == 200


# --- secrets are never echoed ---------------------------------------------------------------


def test_player_secrets_are_never_echoed(live: Api, worker: WorkerProcess, tmp_path: Path) -> None:
    library_path, _, group = movies_setup(live, tmp_path, group_mapping="/media/movies")
    make_movie(library_path, "The Matrix (1999)", 603)
    with (
        FakeKodi(username="kodi", password="the-real-password") as kodi,
        FakeJellyfin(token="the-real-token") as jellyfin,
    ):
        # The library as the group maps it is this Kodi's movies source: only the
        # credentials keep it from adding the movie.
        kodi.add_source("/media/movies", "movies", disk=library_path)
        kodi_player = live.create(
            "/api/v1/players",
            {"name": unique("kodi"), "type": "kodi", "url": kodi.url, "group_id": group["id"],
             "username": "kodi", "password": PASSWORD, "token": TOKEN},
        )  # fmt: skip
        jf_player = live.create(
            "/api/v1/players",
            {"name": unique("jf"), "type": "jellyfin", "url": jellyfin.url,
             "group_id": group["id"], "position": 1, "password": PASSWORD, "token": TOKEN},
        )  # fmt: skip
        players = [kodi_player, jf_player]
        for player in players:
            assert (player["has_password"], player["has_token"]) == (True, True)
            live.patch(f"/api/v1/players/{player['id']}", {"password": PASSWORD, "token": TOKEN})
            test = live.post(f"/api/v1/players/{player['id']}/test", {})
            assert test.status_code == 200 and test.json()["status"] == "refused", test.text
        refused = live.post(
            "/api/v1/players",
            {"name": "x", "type": "vlc", "url": "nope", "group_id": 0,
             "password": PASSWORD, "token": TOKEN},
        )  # fmt: skip
        assert refused.status_code == 422

        root_id = live.webhook("radarr", fixture("radarr_download"))
        jobs = live.chain(root_id)

        notify = jobs[-1]
        assert (notify["type"], notify["status"], notify["retry_count"]) == (
            "notify-players", "failed", 0
        )  # fmt: skip
        assert kodi.rejected >= 1 and jellyfin.rejected >= 1
        assert "credentials refused" in notify["error"]["message"]
    live.get("/api/v1/players?limit=500")
    for player in players:
        live.get(f"/api/v1/players/{player['id']}")
    live.get("/api/v1/jobs?limit=500")
    for job in jobs:
        live.get(f"/api/v1/jobs/{job['id']}")
        live.text(f"/api/v1/jobs/{job['id']}/stream")
    live.text(f"/api/v1/jobs/{root_id}/stream?chain=1")
    live.events(root_id, until="event: job.failed")
    live.text("/metrics")

    assert any("credentials refused" in text for text in live.seen)  # the errors are there
    for secret in (PASSWORD, TOKEN):
        for text in live.seen:
            assert secret not in text, text
        assert secret not in worker.log()


def test_the_api_key_is_never_stored_from_a_webhook(
    live: Api, worker: WorkerProcess, tmp_path: Path
) -> None:
    library_path, _, _ = movies_setup(live, tmp_path)
    make_movie(library_path, "The Matrix (1999)", 603)
    forms: list[dict[str, Any]] = [
        {"headers": {}, "params": {"apikey": API_KEY}},
        {"headers": {"Authorization": basic(API_KEY)}},
    ]
    roots = []
    for form in forms:
        for name in ("radarr_test", "radarr_download"):
            roots.append(live.webhook("radarr", fixture(name), **form))
    jobs = [job for root in roots for job in live.chain(root)]
    assert {job["type"] for job in jobs} >= {"webhook", "scan-movie"}

    live.get("/api/v1/jobs?limit=500")
    for job in jobs:
        live.get(f"/api/v1/jobs/{job['id']}")
        live.text(f"/api/v1/jobs/{job['id']}/stream")
    live.text("/metrics")
    for text in live.seen:
        assert API_KEY not in text.partition("\n")[2], text  # (the request line has it)
    assert API_KEY not in worker.log()


# --- paths that try to escape ------------------------------------------------------------


def _download(folder: str, file: str) -> dict[str, Any]:
    body = copy.deepcopy(fixture("radarr_download"))
    body["movie"]["folderPath"] = folder
    body["movieFile"]["path"] = file
    body["movieFile"]["relativePath"] = file.replace("\\", "/").rsplit("/", 1)[-1]
    return body


ESCAPES = {
    "posix": ("/movies/../../etc/passwd-dir", "/movies/../../etc/passwd-dir/x.mkv"),
    "posix-deeper": (
        "/movies/The Matrix (1999)/../../../etc/passwd-dir",
        "/movies/The Matrix (1999)/../../../etc/passwd-dir/x.mkv",
    ),
    "windows": ("D:\\Movies\\..\\..\\Windows", "D:\\Movies\\..\\..\\Windows\\x.mkv"),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_path_climbing_out_of_the_library_is_refused(
    live: Api, tmp_path: Path, case: str
) -> None:
    library_path, _, _ = movies_setup(live, tmp_path)
    live.create(
        "/api/v1/path-mappings",
        {"source": "radarr", "from": "D:\\Movies", "to": str(library_path)},
    )
    # Where a naive join would land: real movie folders, so a scan would find them.
    make_movie(tmp_path / "etc", "passwd-dir", 990001)
    make_movie(tmp_path, "Windows", 990002)
    make_movie(library_path, "The Matrix (1999)", 603)
    folder, file = ESCAPES[case]

    root_id = live.webhook("radarr", _download(folder, file))
    jobs = live.chain(root_id)

    assert [j["type"] for j in jobs] == ["webhook"]  # no scan-movie was created
    webhook = jobs[0]
    assert (webhook["status"], webhook["retry_count"], webhook["attempts"]) == ("failed", 0, 1)
    assert webhook["error"]["type"] == "PermanentError"
    assert "is not allowed" in webhook["error"]["message"]
    assert repr(folder) in webhook["error"]["message"]  # the path as Radarr sent it
    for tmdb_id in (990001, 990002):
        assert live.get(f"/api/v1/movies?tmdb_id={tmdb_id}")["items"] == []


@pytest.mark.parametrize(
    "folder",
    ["/movies/./The Matrix (1999)", "/movies/Other/../The Matrix (1999)"],
)
def test_a_path_that_normalises_inside_the_library_is_accepted(
    live: Api, tmp_path: Path, folder: str
) -> None:
    library_path, library, _ = movies_setup(live, tmp_path)
    make_movie(library_path, "The Matrix (1999)", 603)

    root_id = live.webhook("radarr", _download(folder, f"{folder}/The Matrix (1999).mkv"))
    jobs = live.chain(root_id)

    assert [(j["type"], j["status"]) for j in jobs] == [
        ("webhook", "completed"),
        ("scan-movie", "completed"),
        ("notify-players", "completed"),
    ]
    assert jobs[1]["payload"]["path"] == f"{library_path}/The Matrix (1999)"
    assert jobs[1]["payload"]["library_id"] == library["id"]


# --- oversized bodies -------------------------------------------------------------------------


def test_an_oversized_webhook_is_413_and_records_nothing(live: Api) -> None:
    def webhook_jobs() -> list[str]:
        return [job["id"] for job in live.get("/api/v1/jobs?type=webhook&limit=500")["items"]]

    before = webhook_jobs()
    body = json.dumps({"eventType": "Test", "padding": "x" * (1024 * 1024 + 1)}).encode()
    response = httpx.post(
        f"{live.url}/api/webhooks/radarr",
        content=body,
        headers={**HEADERS, "Content-Type": "application/json"},
        timeout=20,
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413 and "larger than the limit" in problem["detail"]
    # Just under the limit is fine: the limit is on the body, not something smaller.
    small = json.dumps({"eventType": "Test", "padding": "x" * (1024 * 1024 - 100)}).encode()
    accepted = httpx.post(
        f"{live.url}/api/webhooks/radarr",
        content=small,
        headers={**HEADERS, "Content-Type": "application/json"},
        timeout=20,
    )
    assert accepted.status_code == 202, accepted.text
    after = webhook_jobs()
    assert [job for job in after if job not in before] == [accepted.json()["job_id"]]


def _chunks(head: bytes, padding: int) -> Iterator[bytes]:
    """A body sent with ``Transfer-Encoding: chunked`` (no Content-Length): head, then spaces."""
    yield head
    for _ in range(padding // 65536):
        yield b" " * 65536


def test_an_oversized_chunked_webhook_is_413_and_records_nothing(live: Api) -> None:
    def webhook_jobs() -> list[str]:
        return [job["id"] for job in live.get("/api/v1/jobs?type=webhook&limit=500")["items"]]

    before = webhook_jobs()
    # JSON whitespace is allowed after the object: whatever the limit cut, the head parses.
    response = httpx.post(
        f"{live.url}/api/webhooks/radarr",
        content=_chunks(json.dumps(fixture("radarr_test")).encode(), 40 * 65536),
        headers={**HEADERS, "Content-Type": "application/json"},
        timeout=20,
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    recorded = [job for job in webhook_jobs() if job not in before]
    assert (response.status_code, recorded) == (413, []), response.text
    assert response.headers["content-type"] == "application/problem+json"


# --- the open routes open nothing else ------------------------------------------------------


def test_the_open_static_route_serves_nothing_outside_its_folder(live: Api) -> None:
    assert httpx.get(f"{live.url}/static/app.js", timeout=10).status_code == 200
    attempts = [
        "/static/../web.py",
        "/static/..%2fweb.py",
        "/static/%2e%2e/web.py",
        "/static/%2e%2e%2fweb.py",
        "/static/..%5cweb.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static//etc/hostname",
        "/static/%2fetc%2fhostname",
    ]
    for path in attempts:
        response = httpx.get(f"{live.url}{path}", timeout=10)
        assert response.status_code in (401, 404), (path, response.status_code)
        assert response.headers["content-type"] == "application/problem+json", path
        assert "def " not in response.text and "[project]" not in response.text, path
