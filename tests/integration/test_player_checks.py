"""Players through the API: URLs without credentials, and a test that is no network probe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from flask.testing import FlaskClient

from orchestrator.storage.db import write_session
from services.catalog.models import Player
from tests.conftest import API_KEY
from tests.fakes import FakeServer
from tests.fakes.players import FakeJellyfin, FakeKodi, FakePlex, FakeWebServer
from tests.integration.conftest import assert_problem

AUTH = {"X-Api-Key": API_KEY}
V1 = "/api/v1"
PASSWORD = "pw-never-shown-4f1c"
MARKER = "internal-secret-marker"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


@pytest.fixture
def group_id(client: FlaskClient) -> Iterator[int]:
    body = {"name": unique("group"), "library_ids": [], "path_mappings": []}
    response = client.post(f"{V1}/player-groups", json=body, headers=AUTH)
    assert response.status_code == 201, response.get_data(as_text=True)
    group = response.get_json()["id"]
    yield group
    client.delete(f"{V1}/player-groups/{group}", headers=AUTH)  # and its players


def add_player(client: FlaskClient, group_id: int, url: str, **extra: Any) -> dict[str, Any]:
    body = {"name": unique("player"), "type": "kodi", "url": url, "group_id": group_id, **extra}
    response = client.post(f"{V1}/players", json=body, headers=AUTH)
    assert response.status_code == 201, response.get_data(as_text=True)
    player: dict[str, Any] = response.get_json()
    return player


# --- the URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"http://kodi:{PASSWORD}@kodi.local:8080", ["username and password", "token"]),
        (f"http://:{PASSWORD}@kodi.local", ["username and password"]),
        (f"https://{PASSWORD}@kodi.local", ["username and password"]),
        (f"http://kodi:{PASSWORD}/x@kodi.local", ["username and password"]),
        ("http://kodi.local:99999", ["port", "1 to 65535"]),
        ("http://kodi.local:0", ["port", "1 to 65535"]),
        ("http://kodi.local:http", ["port", "1 to 65535"]),
        ("http://", ["host"]),
        ("http:///jsonrpc", ["host"]),
        ("kodi.local:8080", ["http:// or https://"]),
        ("ftp://kodi.local", ["http:// or https://"]),
        ("file:///etc/passwd", ["http:// or https://"]),
    ],
)
def test_a_bad_url_is_422_naming_url_and_what_to_fix(
    client: FlaskClient, group_id: int, url: str, words: list[str]
) -> None:
    body = {"name": unique("player"), "type": "kodi", "url": url, "group_id": group_id}
    created = client.post(f"{V1}/players", json=body, headers=AUTH)
    problem = assert_problem(created, 422, "url", *words)
    assert {error["field"] for error in problem["errors"]} == {"url"}

    player = add_player(client, group_id, "http://kodi.local:8080")
    patched = client.patch(f"{V1}/players/{player['id']}", json={"url": url}, headers=AUTH)
    assert_problem(patched, 422, "url", *words)
    for response in (created, patched):
        assert PASSWORD not in response.get_data(as_text=True)
    shown = client.get(f"{V1}/players/{player['id']}", headers=AUTH).get_json()
    assert shown["url"] == "http://kodi.local:8080"


@pytest.mark.parametrize(
    "url",
    ["http://kodi.local:8080", "https://jf.local", "http://[::1]:65535/", "http://10.0.0.2:1"],
)
def test_a_good_url_is_kept(client: FlaskClient, group_id: int, url: str) -> None:
    assert add_player(client, group_id, url)["url"] == url.rstrip("/")


def test_an_old_url_with_credentials_is_shown_masked(client: FlaskClient, group_id: int) -> None:
    with write_session() as session:
        row = Player(
            name=unique("old"),
            type="kodi",
            url=f"http://kodi:{PASSWORD}@kodi.local:8080",
            group_id=group_id,
        )
        session.add(row)
        session.flush()
        player_id = row.id
    one = client.get(f"{V1}/players/{player_id}", headers=AUTH)
    listed = client.get(f"{V1}/players?limit=500", headers=AUTH)
    assert one.get_json()["url"] == "http://***@kodi.local:8080"
    item = next(p for p in listed.get_json()["items"] if p["id"] == player_id)
    assert item["url"] == "http://***@kodi.local:8080"
    for response in (one, listed):
        assert PASSWORD not in response.get_data(as_text=True)


# --- the test of a player ----------------------------------------------------------------

SECRETS: dict[str, dict[str, str]] = {
    "kodi": {"username": "kodi", "password": PASSWORD},
    "jellyfin": {"token": PASSWORD},
    "emby": {"token": PASSWORD},
    "plex": {"token": PASSWORD},
}
VERSIONS = {"kodi": "13.5.0", "jellyfin": "10.10.3", "emby": "4.8.10.0", "plex": "1.41.3.9314"}
NAMES = {"kodi": "a Kodi", "jellyfin": "a Jellyfin", "emby": "an Emby", "plex": "a Plex"}


def fake_of(kind: str) -> FakeServer:
    """A fake player of ``kind`` expecting the credentials of ``SECRETS``."""
    if kind == "kodi":
        return FakeKodi(username="kodi", password=PASSWORD)
    if kind == "plex":
        return FakePlex(token=PASSWORD)
    return FakeJellyfin(token=PASSWORD, flavor=kind)


def checked(client: FlaskClient, group_id: int, kind: str, url: str, **changes: str) -> Any:
    """The answer of ``POST /players/<id>/test`` for a new player; checks it leaks nothing."""
    player = add_player(client, group_id, url, type=kind, **{**SECRETS[kind], **changes})
    response = client.post(f"{V1}/players/{player['id']}/test", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert PASSWORD not in text and MARKER not in text
    return response.get_json()


def failure(kind: str, status: str, error: str) -> dict[str, Any]:
    return {"ok": False, "type": kind, "status": status, "error": error}


@pytest.mark.parametrize("kind", list(SECRETS))
def test_a_player_of_its_type_is_ok_with_its_version_only(
    client: FlaskClient, group_id: int, kind: str
) -> None:
    with fake_of(kind) as fake:
        answer = checked(client, group_id, kind, fake.url)
    assert answer == {
        "ok": True, "type": kind, "status": "reachable", "version": VERSIONS[kind], "libraries": []
    }  # fmt: skip


def test_the_test_says_which_library_is_outside_kodis_sources_and_what_to_do(
    client: FlaskClient,
) -> None:
    tag = uuid4().hex[:8]
    libraries = []
    for kind in ("movies", "tv"):
        body = {"name": f"{kind}-{tag}", "path": f"/data/{kind}-{tag}", "kind": kind,
                "allow_missing": True}  # fmt: skip
        response = client.post(f"{V1}/libraries", json=body, headers=AUTH)
        assert response.status_code == 201, response.get_data(as_text=True)
        libraries.append(response.get_json())
    mappings = [{"from": f"/data/{k}-{tag}", "to": f"smb://nas/{k}"} for k in ("movies", "tv")]
    body = {"name": unique("group"), "library_ids": [lib["id"] for lib in libraries],
            "path_mappings": mappings}  # fmt: skip
    group = client.post(f"{V1}/player-groups", json=body, headers=AUTH).get_json()
    try:
        with fake_of("kodi") as kodi:
            kodi.add_source("smb://nas/movies", "movies", disk="/nonexistent")
            kodi.add_source("smb://nas/music", None, disk="/nonexistent")
            answer = checked(client, group["id"], "kodi", kodi.url)
    finally:
        client.delete(f"{V1}/player-groups/{group['id']}", headers=AUTH)
        for library in libraries:
            client.delete(f"{V1}/libraries/{library['id']}", headers=AUTH)

    assert answer["ok"] is True
    movies, tv = answer["libraries"]
    assert (movies["library"], movies["path"], movies["in_source"]) == (
        f"movies-{tag}", "smb://nas/movies", True
    )  # fmt: skip
    assert (tv["library"], tv["path"], tv["in_source"]) == (f"tv-{tag}", "smb://nas/tv", False)
    assert tv["message"] == (
        "smb://nas/tv is outside every library folder of this Kodi (smb://nas/movies/,"
        " smb://nas/music/): add it there (in Kodi, a video source with its content set to"
        " TV shows), or correct the player group's path mapping"
    )


@pytest.mark.parametrize("kind", list(SECRETS))
def test_wrong_credentials_are_refused(client: FlaskClient, group_id: int, kind: str) -> None:
    wrong = {"password": "wrong-pw"} if kind == "kodi" else {"token": "wrong-token"}
    with fake_of(kind) as fake:
        answer = checked(client, group_id, kind, fake.url, **wrong)
    assert answer == failure(kind, "refused", "credentials refused")


@pytest.mark.parametrize(
    ("kind", "other"), [("kodi", "plex"), ("jellyfin", "kodi"), ("emby", "plex"), ("plex", "emby")]
)
def test_a_player_of_another_type_is_not_one(
    client: FlaskClient, group_id: int, kind: str, other: str
) -> None:
    with fake_of(other) as fake:
        answer = checked(client, group_id, kind, fake.url)
    assert answer == failure(kind, "unrecognized", f"not {NAMES[kind]} server at this URL")


@pytest.mark.parametrize("status", [200, 401, 403, 404, 500])
@pytest.mark.parametrize("kind", list(SECRETS))
def test_any_other_web_server_is_not_a_player_and_nothing_of_it_is_echoed(
    client: FlaskClient, group_id: int, kind: str, status: int
) -> None:
    body = f"<html><title>{MARKER}</title>{MARKER}</html>".encode()
    with FakeWebServer(status, body, challenge=f'Basic realm="{MARKER}"') as web:
        answer = checked(client, group_id, kind, web.url)
        assert web.requests
    assert answer == failure(kind, "unrecognized", f"not {NAMES[kind]} server at this URL")


@pytest.mark.parametrize("kind", list(SECRETS))
def test_a_closed_port_is_no_answer(client: FlaskClient, group_id: int, kind: str) -> None:
    fake = fake_of(kind)
    fake.stop()
    answer = checked(client, group_id, kind, fake.url)
    assert answer == failure(kind, "unreachable", "no answer (connection refused or timed out)")
