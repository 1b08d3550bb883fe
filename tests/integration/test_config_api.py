"""The configuration API: libraries, path mappings, player groups, players, movies, actions."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient

from orchestrator.jobs.dispatch import cancel_job
from orchestrator.storage.db import read_session, write_session
from services.catalog.models import MediaFileRow, Movie, Player
from tests.conftest import API_KEY
from tests.fakes.players import FakeKodi
from tests.integration.conftest import assert_problem

AUTH = {"X-Api-Key": API_KEY}
V1 = "/api/v1"
MISSING_ID = 2_000_000_000  # fits a 32-bit integer column, never allocated by the tests


def error_fields(body: dict[str, Any]) -> set[str]:
    """The ``field`` of each entry of a validation problem's ``errors``."""
    return {error["field"] for error in body["errors"]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


class Make:
    """Creates configuration rows through the API, each with unique names and paths."""

    def __init__(self, client: FlaskClient, tmp_path: Path) -> None:
        self.client = client
        self.tmp_path = tmp_path

    def post(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"{V1}/{resource}", json=body, headers=AUTH)
        assert response.status_code == 201, response.get_data(as_text=True)
        created: dict[str, Any] = response.get_json()
        return created

    def library_body(self, kind: str = "movies") -> dict[str, Any]:
        name = unique("lib")
        (self.tmp_path / name).mkdir()
        return {"name": name, "path": str(self.tmp_path / name), "kind": kind}

    def library(self, kind: str = "movies") -> dict[str, Any]:
        return self.post("libraries", self.library_body(kind))

    def mapping_body(self) -> dict[str, Any]:
        token = uuid4().hex[:8]
        return {"source": "radarr", "from": f"/downloads/{token}", "to": f"/data/{token}"}

    def mapping(self) -> dict[str, Any]:
        return self.post("path-mappings", self.mapping_body())

    def group(self, library_ids: list[int] | None = None) -> dict[str, Any]:
        body = {
            "name": unique("group"),
            "library_ids": library_ids or [],
            "path_mappings": [{"from": "/data/movies", "to": "smb://nas/movies"}],
        }
        return self.post("player-groups", body)

    def player_body(self, group_id: int, **extra: Any) -> dict[str, Any]:
        return {
            "name": unique("player"),
            "type": "kodi",
            "url": "http://kodi.local:8080",
            "group_id": group_id,
            **extra,
        }

    def player(self, group_id: int, **extra: Any) -> dict[str, Any]:
        return self.post("players", self.player_body(group_id, **extra))


@pytest.fixture
def make(client: FlaskClient, tmp_path: Path) -> Make:
    return Make(client, tmp_path)


# --- authentication ----------------------------------------------------------------------


def test_every_configuration_route_requires_the_key(app: Flask, client: FlaskClient) -> None:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("resources.", "actions."))
    ]
    paths = {rule.rule for rule in rules}
    for resource in ("libraries", "path-mappings", "player-groups", "players"):
        assert {f"{V1}/{resource}", f"{V1}/{resource}/<id:row_id>"} <= paths
    assert {f"{V1}/movies", f"{V1}/movies/<id:movie_id>"} <= paths
    assert {f"{V1}/players/<id:player_id>/test", f"{V1}/libraries/<id:library_id>/scan"} <= paths

    for rule in rules:
        path = rule.rule
        for variable in rule.arguments:
            path = path.replace(f"<id:{variable}>", "1")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, json={"name": "x"})
            assert_problem(response, 401, "API key")
            wrong = client.open(path, method=method, headers={"X-Api-Key": "wrong"})
            assert_problem(wrong, 401)


# --- create / get / list / patch / delete ------------------------------------------------


def test_library_crud(client: FlaskClient, make: Make, tmp_path: Path) -> None:
    body = make.library_body(kind="tv")
    body["path"] += "/"  # a trailing slash is dropped
    created = make.post("libraries", body)
    assert created == {
        "id": created["id"],
        "name": body["name"],
        "path": body["path"].rstrip("/"),
        "kind": "tv",
        "anchors": [],
        "follow_links": False,
        "watch": False,
    }
    url = f"{V1}/libraries/{created['id']}"
    assert client.get(url, headers=AUTH).get_json() == created

    new_path = str(tmp_path / unique("moved"))
    Path(new_path).mkdir()
    patched = client.patch(url, json={"path": new_path}, headers=AUTH)
    assert patched.status_code == 200
    assert patched.get_json() == {**created, "path": new_path}
    assert client.get(url, headers=AUTH).get_json() == {**created, "path": new_path}

    assert client.delete(url, headers=AUTH).status_code == 204
    assert_problem(client.get(url, headers=AUTH), 404)
    listed = client.get(f"{V1}/libraries?limit=500", headers=AUTH).get_json()
    assert created["id"] not in {item["id"] for item in listed["items"]}


def test_library_kind_defaults_to_movies(make: Make) -> None:
    body = make.library_body()
    del body["kind"]
    assert make.post("libraries", body)["kind"] == "movies"


def test_path_mapping_crud(client: FlaskClient, make: Make) -> None:
    body = make.mapping_body()
    created = make.post("path-mappings", body)
    assert created == {"id": created["id"], **body}
    url = f"{V1}/path-mappings/{created['id']}"
    assert client.get(url, headers=AUTH).get_json() == created

    patched = client.patch(url, json={"to": "/mnt/elsewhere", "source": "sonarr"}, headers=AUTH)
    assert patched.status_code == 200
    expected = {**created, "to": "/mnt/elsewhere", "source": "sonarr"}
    assert patched.get_json() == expected
    assert client.get(url, headers=AUTH).get_json() == expected

    assert client.delete(url, headers=AUTH).status_code == 204
    assert_problem(client.get(url, headers=AUTH), 404)


def test_duplicate_path_mapping_is_a_conflict(client: FlaskClient, make: Make) -> None:
    body = make.mapping_body()
    make.post("path-mappings", body)
    again = client.post(f"{V1}/path-mappings", json={**body, "to": "/other"}, headers=AUTH)
    assert_problem(again, 409)


def test_player_group_crud(client: FlaskClient, make: Make) -> None:
    first, second = make.library(), make.library()
    body = {
        "name": unique("group"),
        "library_ids": [second["id"], first["id"]],
        "path_mappings": [
            {"from": "/data/movies", "to": "smb://nas/movies"},
            {"from": "/data/tv", "to": "nfs://nas/tv"},
        ],
    }
    created = make.post("player-groups", body)
    assert created == {
        "id": created["id"],
        "name": body["name"],
        "library_ids": sorted([first["id"], second["id"]]),
        "path_mappings": body["path_mappings"],
        "player_ids": [],
    }
    url = f"{V1}/player-groups/{created['id']}"
    assert client.get(url, headers=AUTH).get_json() == created

    player = make.player(created["id"])
    assert client.get(url, headers=AUTH).get_json()["player_ids"] == [player["id"]]

    patched = client.patch(url, json={"library_ids": [first["id"]]}, headers=AUTH)
    assert patched.status_code == 200
    assert patched.get_json() == {
        **created,
        "library_ids": [first["id"]],
        "player_ids": [player["id"]],
    }
    renamed = client.patch(url, json={"name": unique("renamed"), "path_mappings": []}, headers=AUTH)
    assert renamed.status_code == 200
    assert renamed.get_json()["path_mappings"] == []
    assert renamed.get_json()["library_ids"] == [first["id"]]

    # (Deleting a group that still has players is test_group_delete_cascades_its_players.)
    assert client.delete(f"{V1}/players/{player['id']}", headers=AUTH).status_code == 204
    assert client.get(url, headers=AUTH).get_json()["player_ids"] == []
    assert client.delete(url, headers=AUTH).status_code == 204
    assert_problem(client.get(url, headers=AUTH), 404)
    # The libraries themselves are untouched.
    assert client.get(f"{V1}/libraries/{first['id']}", headers=AUTH).status_code == 200


def test_player_crud(client: FlaskClient, make: Make) -> None:
    group, other_group = make.group(), make.group()
    body = make.player_body(group["id"], type="jellyfin", url="http://jf.local:8096/", position=3)
    body["token"] = unique("tok")
    created = make.post("players", body)
    assert created == {
        "id": created["id"],
        "name": body["name"],
        "type": "jellyfin",
        "url": "http://jf.local:8096",
        "group_id": group["id"],
        "enabled": True,
        "position": 3,
        "username": None,
        "has_password": False,
        "has_token": True,
        # The command and webhook types' fields, unset for a media player.
        "command": None,
        "time_limit": None,
        "header_name": None,
        "has_header_value": False,
    }
    url = f"{V1}/players/{created['id']}"
    assert client.get(url, headers=AUTH).get_json() == created

    change = {"group_id": other_group["id"], "type": "emby", "position": 0}
    patched = client.patch(url, json=change, headers=AUTH)
    assert patched.status_code == 200
    assert patched.get_json() == {**created, **change}
    assert client.get(url, headers=AUTH).get_json() == {**created, **change}

    assert client.delete(url, headers=AUTH).status_code == 204
    assert_problem(client.get(url, headers=AUTH), 404)
    # The group survives the deletion of its player.
    remaining = client.get(f"{V1}/player-groups/{other_group['id']}", headers=AUTH)
    assert remaining.status_code == 200 and remaining.get_json()["player_ids"] == []


# --- lists -------------------------------------------------------------------------------


def _walk(client: FlaskClient, resource: str, start: int) -> list[int]:
    """Ids of every row after ``start``, one page of one row at a time."""
    seen: list[int] = []
    cursor: str | None = str(start)
    while cursor is not None:
        response = client.get(f"{V1}/{resource}?limit=1&cursor={cursor}", headers=AUTH)
        assert response.status_code == 200
        page = response.get_json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 1
        if page["next_cursor"] is not None:
            # A cursor is handed out only with a full page, and is its last row's id.
            assert page["next_cursor"] == str(page["items"][0]["id"])
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        assert len(seen) < 1000, "the cursor does not advance"
    return seen


@pytest.mark.parametrize("resource", ["libraries", "path-mappings", "player-groups", "players"])
def test_list_pages_with_limit_and_cursor(client: FlaskClient, make: Make, resource: str) -> None:
    group = make.group()
    factories: dict[str, Callable[[], dict[str, Any]]] = {
        "libraries": make.library,
        "path-mappings": make.mapping,
        "player-groups": make.group,
        "players": lambda: make.player(group["id"]),
    }
    mine = [factories[resource]()["id"] for _ in range(3)]
    assert mine == sorted(mine)

    walked = _walk(client, resource, mine[0] - 1)
    assert walked == sorted(walked)
    assert [row_id for row_id in walked if row_id in mine] == mine
    assert walked[:3] == mine  # nothing else was created meanwhile

    first = client.get(f"{V1}/{resource}?limit=1&cursor={mine[0] - 1}", headers=AUTH).get_json()
    assert first == {"items": [first["items"][0]], "next_cursor": str(mine[0])}
    assert first["items"][0]["id"] == mine[0]
    last = client.get(f"{V1}/{resource}?limit=500&cursor={mine[-1]}", headers=AUTH).get_json()
    assert mine[-1] not in {item["id"] for item in last["items"]}
    everything = client.get(f"{V1}/{resource}?limit=500", headers=AUTH).get_json()
    assert set(mine) <= {item["id"] for item in everything["items"]}


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "cursor=-1", "cursor=a"])
def test_bad_list_parameters_are_400(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"{V1}/libraries?{query}", headers=AUTH), 400)


# --- validation --------------------------------------------------------------------------


def test_library_relative_path_is_422_naming_path(client: FlaskClient, make: Make) -> None:
    body = {**make.library_body(), "path": "media/movies"}
    problem = assert_problem(client.post(f"{V1}/libraries", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"path"}
    assert "absolute" in problem["detail"]


def test_library_path_with_dotdot_is_422(client: FlaskClient, make: Make, tmp_path: Path) -> None:
    body = {**make.library_body(), "path": f"{tmp_path}/../etc"}
    problem = assert_problem(client.post(f"{V1}/libraries", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"path"}


def test_an_unknown_library_kind_is_422_naming_kind(client: FlaskClient, make: Make) -> None:
    body = make.library_body(kind="audiobooks")
    problem = assert_problem(client.post(f"{V1}/libraries", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"kind"}


def test_a_library_folder_that_is_not_there_is_422_unless_allowed(
    client: FlaskClient, make: Make, tmp_path: Path
) -> None:
    missing = {**make.library_body(), "path": str(tmp_path / "not-mounted-yet")}
    problem = assert_problem(client.post(f"{V1}/libraries", json=missing, headers=AUTH), 422)
    assert error_fields(problem) == {"allow_missing"}
    assert f"{tmp_path / 'not-mounted-yet'} does not exist here" in problem["detail"]
    assert '"allow_missing": true' in problem["detail"]
    (tmp_path / "a-file").write_text("")
    a_file = {**make.library_body(), "path": str(tmp_path / "a-file")}
    problem = assert_problem(client.post(f"{V1}/libraries", json=a_file, headers=AUTH), 422)
    assert "is not a folder" in problem["detail"]

    allowed = make.post("libraries", {**missing, "allow_missing": True})
    assert allowed["path"] == missing["path"] and "allow_missing" not in allowed
    url = f"{V1}/libraries/{allowed['id']}"
    kept = client.patch(url, json={"path": missing["path"], "kind": "tv"}, headers=AUTH)
    assert kept.status_code == 200, kept.text  # the same path: nothing to check again
    moved = client.patch(url, json={"path": str(tmp_path / "also-missing")}, headers=AUTH)
    assert error_fields(assert_problem(moved, 422)) == {"allow_missing"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": "readarr"}, "source"),
        ({"source": "raddar"}, "source"),
        ({"from": "movies"}, "from"),
        ({"to": "data/movies"}, "to"),
        ({"to": "/data/../etc"}, "to"),
    ],
)
def test_a_mapping_that_cannot_work_is_422_naming_its_field(
    client: FlaskClient, make: Make, change: dict[str, str], field: str
) -> None:
    body = {**make.mapping_body(), **change}
    problem = assert_problem(client.post(f"{V1}/path-mappings", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {field}


@pytest.mark.parametrize("theirs", ["C:\\Movies", "D:/Movies", "\\\\nas\\movies", "/movies"])
def test_a_mapping_takes_a_managers_windows_or_linux_folder(make: Make, theirs: str) -> None:
    body = {**make.mapping_body(), "source": "manual", "from": theirs + uuid4().hex[:6]}
    assert make.post("path-mappings", body)["from"] == body["from"]


def test_library_anchors_are_kept_shown_and_changed(client: FlaskClient, make: Make) -> None:
    body = {**make.library_body(), "anchors": [".anchor", " ./Movies//.mounted/ "]}
    created = make.post("libraries", body)
    assert created["anchors"] == [".anchor", "Movies/.mounted"]  # written as they are checked
    url = f"{V1}/libraries/{created['id']}"
    assert client.get(url, headers=AUTH).get_json() == created
    listed = client.get(f"{V1}/libraries?limit=500", headers=AUTH).get_json()["items"]
    assert [row for row in listed if row["id"] == created["id"]] == [created]

    renamed = client.patch(url, json={"name": unique("renamed")}, headers=AUTH).get_json()
    assert renamed["anchors"] == created["anchors"]  # a patch without anchors keeps them
    changed = client.patch(url, json={"anchors": [".mounted"]}, headers=AUTH).get_json()
    assert changed["anchors"] == [".mounted"]
    cleared = client.patch(url, json={"anchors": []}, headers=AUTH).get_json()
    assert cleared["anchors"] == []
    assert client.get(url, headers=AUTH).get_json()["anchors"] == []


@pytest.mark.parametrize(
    ("anchors", "field", "words"),
    [
        (["/mnt/movies/.anchor"], "anchors.0", "relative to the library folder"),
        (["ok", "Movies/../../etc/passwd"], "anchors.1", "'..'"),
        (["   "], "anchors.0", "blank"),
        ([""], "anchors.0", "at least 1 character"),
        (["./"], "anchors.0", "name a file"),
        (["a" * 501], "anchors.0", "at most 500 characters"),
        ([f"a{n}" for n in range(11)], "anchors", "at most 10 items"),
        ([5], "anchors.0", "string"),
        (".anchor", "anchors", "list"),
    ],
)
def test_bad_library_anchors_are_422_saying_what_to_fix(
    client: FlaskClient, make: Make, anchors: Any, field: str, words: str
) -> None:
    body = {**make.library_body(), "anchors": anchors}
    problem = assert_problem(client.post(f"{V1}/libraries", json=body, headers=AUTH), 422, words)
    assert error_fields(problem) == {field}
    assert body["name"] not in client.get(f"{V1}/libraries?limit=500", headers=AUTH).get_data(
        as_text=True
    )
    library = make.library()
    url = f"{V1}/libraries/{library['id']}"
    problem = assert_problem(client.patch(url, json={"anchors": anchors}, headers=AUTH), 422)
    assert error_fields(problem) == {field}
    assert client.get(url, headers=AUTH).get_json() == library


def test_library_anchors_null_is_422(client: FlaskClient, make: Make) -> None:
    library = make.library()
    url = f"{V1}/libraries/{library['id']}"
    problem = assert_problem(client.patch(url, json={"anchors": None}, headers=AUTH), 422)
    assert error_fields(problem) == {"anchors"}


def test_mapping_without_to_is_422_naming_to(client: FlaskClient) -> None:
    body = {"source": "radarr", "from": f"/downloads/{uuid4().hex[:8]}"}
    problem = assert_problem(client.post(f"{V1}/path-mappings", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"to"}


def test_group_with_unknown_library_is_422_naming_library_ids(
    client: FlaskClient, make: Make
) -> None:
    known = make.library()
    body = {"name": unique("group"), "library_ids": [known["id"], MISSING_ID]}
    response = client.post(f"{V1}/player-groups", json=body, headers=AUTH)
    problem = assert_problem(response, 422, str(MISSING_ID))
    assert problem["field"] == "library_ids"
    # Nothing was created.
    groups = client.get(f"{V1}/player-groups?limit=500", headers=AUTH).get_json()["items"]
    assert body["name"] not in [group["name"] for group in groups]


def test_group_patch_with_unknown_library_is_422(client: FlaskClient, make: Make) -> None:
    library = make.library()
    group = make.group([library["id"]])
    url = f"{V1}/player-groups/{group['id']}"
    response = client.patch(url, json={"library_ids": [MISSING_ID]}, headers=AUTH)
    assert assert_problem(response, 422)["field"] == "library_ids"
    assert client.get(url, headers=AUTH).get_json()["library_ids"] == [library["id"]]


def test_player_unknown_type_is_422_naming_type(client: FlaskClient, make: Make) -> None:
    body = make.player_body(make.group()["id"], type="vlc")
    problem = assert_problem(client.post(f"{V1}/players", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"type"}


def test_a_player_needs_a_url_but_the_dry_run_one(client: FlaskClient, make: Make) -> None:
    group_id = make.group()["id"]
    body = {"name": unique("kodi"), "type": "kodi", "group_id": group_id}
    problem = assert_problem(client.post(f"{V1}/players", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"url"}
    assert "required: the player's base URL" in problem["detail"]

    dry = make.post("players", {"name": unique("try"), "type": "log", "group_id": group_id})
    assert (dry["type"], dry["url"]) == ("log", "")


@pytest.mark.parametrize("url", ["kodi.local:8080", "ftp://kodi.local", "http://", ""])
def test_player_bad_url_is_422_naming_url(client: FlaskClient, make: Make, url: str) -> None:
    body = make.player_body(make.group()["id"], url=url)
    problem = assert_problem(client.post(f"{V1}/players", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"url"}


def test_player_unknown_group_is_422_naming_group_id(client: FlaskClient, make: Make) -> None:
    body = make.player_body(MISSING_ID)
    problem = assert_problem(client.post(f"{V1}/players", json=body, headers=AUTH), 422)
    assert problem["field"] == "group_id"

    player = make.player(make.group()["id"])
    url = f"{V1}/players/{player['id']}"
    patched = client.patch(url, json={"group_id": MISSING_ID}, headers=AUTH)
    assert assert_problem(patched, 422)["field"] == "group_id"
    assert client.get(url, headers=AUTH).get_json()["group_id"] == player["group_id"]


@pytest.mark.parametrize("resource", ["libraries", "path-mappings", "player-groups", "players"])
def test_unknown_field_is_422_naming_it(client: FlaskClient, make: Make, resource: str) -> None:
    bodies = {
        "libraries": make.library_body,
        "path-mappings": make.mapping_body,
        "player-groups": lambda: {"name": unique("group")},
        "players": lambda: make.player_body(make.group()["id"]),
    }
    body = {**bodies[resource](), "colour": "blue"}
    problem = assert_problem(client.post(f"{V1}/{resource}", json=body, headers=AUTH), 422)
    assert error_fields(problem) == {"colour"}


def test_unknown_field_in_patch_is_422(client: FlaskClient, make: Make) -> None:
    library = make.library()
    url = f"{V1}/libraries/{library['id']}"
    problem = assert_problem(client.patch(url, json={"colour": "blue"}, headers=AUTH), 422)
    assert error_fields(problem) == {"colour"}
    assert client.get(url, headers=AUTH).get_json() == library


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]"])
def test_body_must_be_a_json_object(client: FlaskClient, raw: bytes) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    assert_problem(client.post(f"{V1}/libraries", data=raw, headers=headers), 400)


def test_duplicate_library_name_or_path_is_409(client: FlaskClient, make: Make) -> None:
    library = make.library()
    same_name = {**make.library_body(), "name": library["name"]}
    assert_problem(client.post(f"{V1}/libraries", json=same_name, headers=AUTH), 409)
    same_path = {**make.library_body(), "path": library["path"]}
    assert_problem(client.post(f"{V1}/libraries", json=same_path, headers=AUTH), 409)

    other = make.library()
    url = f"{V1}/libraries/{other['id']}"
    assert_problem(client.patch(url, json={"name": library["name"]}, headers=AUTH), 409)
    assert client.get(url, headers=AUTH).get_json() == other


def test_duplicate_group_name_is_409(client: FlaskClient, make: Make) -> None:
    group = make.group()
    again = client.post(f"{V1}/player-groups", json={"name": group["name"]}, headers=AUTH)
    assert_problem(again, 409)


def test_patch_with_null_required_field_is_422(client: FlaskClient, make: Make) -> None:
    library = make.library()
    url = f"{V1}/libraries/{library['id']}"
    problem = assert_problem(client.patch(url, json={"name": None}, headers=AUTH), 422)
    assert "name" in error_fields(problem)


# --- unknown ids -------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["libraries", "path-mappings", "player-groups", "players"])
def test_unknown_id_is_404(client: FlaskClient, resource: str) -> None:
    url = f"{V1}/{resource}/{MISSING_ID}"
    assert_problem(client.get(url, headers=AUTH), 404, str(MISSING_ID))
    assert_problem(client.patch(url, json={"name": "x"}, headers=AUTH), 404, str(MISSING_ID))
    assert_problem(client.delete(url, headers=AUTH), 404, str(MISSING_ID))


# --- secrets -----------------------------------------------------------------------------


def test_player_secrets_are_write_only(client: FlaskClient, make: Make) -> None:
    group = make.group()
    password, token = unique("pw"), unique("tok")
    body = make.player_body(group["id"], username="kodi", password=password, token=token)
    responses = [client.post(f"{V1}/players", json=body, headers=AUTH)]
    assert responses[0].status_code == 201
    created = responses[0].get_json()
    url = f"{V1}/players/{created['id']}"
    responses += [
        client.get(url, headers=AUTH),
        client.get(f"{V1}/players?limit=500", headers=AUTH),
        client.patch(url, json={"name": unique("renamed")}, headers=AUTH),
        client.get(f"{V1}/player-groups/{group['id']}", headers=AUTH),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        text = response.get_data(as_text=True)
        assert password not in text and token not in text
        assert '"password"' not in text and '"token"' not in text
    for shown in (created, responses[1].get_json(), responses[3].get_json()):
        assert shown["has_password"] is True and shown["has_token"] is True
        assert shown["username"] == "kodi"
    listed = next(p for p in responses[2].get_json()["items"] if p["id"] == created["id"])
    assert listed["has_password"] is True and listed["has_token"] is True


def test_patch_changes_only_the_given_fields(client: FlaskClient, make: Make) -> None:
    group = make.group()
    password = unique("pw")
    created = make.player(group["id"], username="kodi", password=password, position=2)
    url = f"{V1}/players/{created['id']}"

    patched = client.patch(url, json={"enabled": False}, headers=AUTH)
    assert patched.status_code == 200
    assert patched.get_json() == {**created, "enabled": False}
    assert client.get(url, headers=AUTH).get_json() == {**created, "enabled": False}
    with read_session() as session:
        row = session.get(Player, created["id"])
        assert row is not None
        assert (row.password, row.username, row.enabled) == (password, "kodi", False)

    # A new password replaces the old one; null clears it.
    new_password = unique("pw")
    assert client.patch(url, json={"password": new_password}, headers=AUTH).status_code == 200
    with read_session() as session:
        row = session.get(Player, created["id"])
        assert row is not None and row.password == new_password
    cleared = client.patch(url, json={"password": None}, headers=AUTH).get_json()
    assert cleared["has_password"] is False
    assert cleared["enabled"] is False and cleared["username"] == "kodi"


def test_empty_patch_changes_nothing(client: FlaskClient, make: Make) -> None:
    library = make.library()
    url = f"{V1}/libraries/{library['id']}"
    response = client.patch(url, json={}, headers=AUTH)
    assert response.status_code == 200 and response.get_json() == library


# --- deletion cascades -------------------------------------------------------------------


def test_group_delete_cascades_its_players(client: FlaskClient, make: Make) -> None:
    group = make.group()
    players = [make.player(group["id"], password="x") for _ in range(2)]
    other = make.player(make.group()["id"])

    response = client.delete(f"{V1}/player-groups/{group['id']}", headers=AUTH)
    assert response.status_code == 204, response.get_data(as_text=True)
    for player in players:
        assert_problem(client.get(f"{V1}/players/{player['id']}", headers=AUTH), 404)
    assert client.get(f"{V1}/players/{other['id']}", headers=AUTH).status_code == 200


def test_library_delete_removes_it_from_groups(client: FlaskClient, make: Make) -> None:
    kept, deleted = make.library(), make.library()
    group = make.group([kept["id"], deleted["id"]])
    url = f"{V1}/player-groups/{group['id']}"
    assert client.get(url, headers=AUTH).get_json()["library_ids"] == sorted(
        [kept["id"], deleted["id"]]
    )

    assert client.delete(f"{V1}/libraries/{deleted['id']}", headers=AUTH).status_code == 204
    assert client.get(url, headers=AUTH).get_json()["library_ids"] == [kept["id"]]
    listed = client.get(f"{V1}/player-groups?limit=500", headers=AUTH).get_json()["items"]
    assert next(g for g in listed if g["id"] == group["id"])["library_ids"] == [kept["id"]]


# --- movies ------------------------------------------------------------------------------


def _add_movie(library_id: int, title: str, tmdb_id: int | None, files: list[str]) -> int:
    """Insert a movie with one file per kind in ``files``; returns its id."""
    folder = f"/data/movies/{uuid4().hex}"
    with write_session() as session:
        movie = Movie(library_id=library_id, path=folder, title=title, year=1999, tmdb_id=tmdb_id)
        movie.files = [
            MediaFileRow(
                path=f"{folder}/{n}-{kind}",
                kind=kind,
                art_type="poster" if kind == "artwork" else None,
                language="en" if kind == "subtitle" else None,
                flags=["forced"] if kind == "subtitle" else [],
                part=None,
                size=100 + n,
                mtime=1_700_000_000.5,
            )
            for n, kind in enumerate(files)
        ]
        session.add(movie)
        session.flush()
        return movie.id


def _movie_ids(client: FlaskClient, query: str) -> list[int]:
    response = client.get(f"{V1}/movies?limit=500&{query}", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["items"]]


def test_movies_are_filtered_by_library_tmdb_id_and_title(client: FlaskClient, make: Make) -> None:
    first, second = make.library(), make.library()
    token = uuid4().hex[:10]
    tmdb = random.randint(100_000_000, 2_000_000_000)
    matrix = _add_movie(first["id"], f"The Matrix {token}", tmdb, ["video"])
    heat = _add_movie(first["id"], f"Heat {token}", tmdb + 1, ["video"])
    alien = _add_movie(second["id"], f"Alien {token}", None, ["video"])

    assert _movie_ids(client, f"library_id={first['id']}") == [matrix, heat]
    assert _movie_ids(client, f"library_id={second['id']}") == [alien]
    assert _movie_ids(client, f"tmdb_id={tmdb}") == [matrix]
    assert _movie_ids(client, f"title={token.upper()}") == [matrix, heat, alien]
    assert _movie_ids(client, f"title=mATRix%20{token}") == [matrix]
    assert _movie_ids(client, f"title=matrix%20{token}&library_id={second['id']}") == []
    assert _movie_ids(client, f"title={token}&tmdb_id={tmdb + 1}") == [heat]

    items = client.get(f"{V1}/movies?library_id={second['id']}", headers=AUTH).get_json()["items"]
    assert items[0]["title"] == f"Alien {token}" and items[0]["tmdb_id"] is None
    assert "files" not in items[0] and "assets" not in items[0]

    page = client.get(f"{V1}/movies?limit=1&library_id={first['id']}", headers=AUTH).get_json()
    assert [m["id"] for m in page["items"]] == [matrix] and page["next_cursor"] == str(matrix)
    query = f"limit=1&library_id={first['id']}&cursor={page['next_cursor']}"
    page = client.get(f"{V1}/movies?{query}", headers=AUTH).get_json()
    assert [m["id"] for m in page["items"]] == [heat] and page["next_cursor"] is None

    assert_problem(client.get(f"{V1}/movies?library_id=abc", headers=AUTH), 400)
    assert_problem(client.get(f"{V1}/movies?tmdb_id=-1", headers=AUTH), 400)


def test_movie_detail_splits_files_and_assets(client: FlaskClient, make: Make) -> None:
    library = make.library()
    kinds = ["nfo", "video", "artwork", "subtitle", "video"]
    movie_id = _add_movie(library["id"], f"Two Parts {uuid4().hex[:8]}", None, kinds)

    response = client.get(f"{V1}/movies/{movie_id}", headers=AUTH)
    assert response.status_code == 200
    movie = response.get_json()
    assert movie["id"] == movie_id and movie["library_id"] == library["id"]
    assert movie["year"] == 1999 and movie["state"] == "present"
    assert [f["kind"] for f in movie["files"]] == ["video", "video"]
    assert [f["path"].rsplit("/", 1)[1] for f in movie["files"]] == ["1-video", "4-video"]
    assert [a["kind"] for a in movie["assets"]] == ["nfo", "artwork", "subtitle"]
    subtitle = movie["assets"][2]
    assert subtitle["language"] == "en" and subtitle["flags"] == ["forced"]
    assert movie["assets"][1]["art_type"] == "poster"
    assert movie["files"][0]["size"] == 101 and movie["files"][0]["mtime"] == 1_700_000_000.5


def test_unknown_movie_is_404(client: FlaskClient) -> None:
    assert_problem(client.get(f"{V1}/movies/{MISSING_ID}", headers=AUTH), 404, str(MISSING_ID))


def test_movies_are_read_only(client: FlaskClient, make: Make) -> None:
    library = make.library()
    body = {"library_id": library["id"], "path": "/data/movies/x", "title": "X"}
    response = client.post(f"{V1}/movies", json=body, headers=AUTH)
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"] and "POST" not in response.headers["Allow"]
    movie_id = _add_movie(library["id"], "Read Only", None, ["video"])
    for method in ("PATCH", "DELETE", "PUT"):
        response = client.open(f"{V1}/movies/{movie_id}", method=method, json={}, headers=AUTH)
        assert_problem(response, 405)
    assert client.get(f"{V1}/movies/{movie_id}", headers=AUTH).status_code == 200


def test_deleting_a_library_deletes_its_movies(client: FlaskClient, make: Make) -> None:
    library = make.library()
    movie_id = _add_movie(library["id"], "Gone", None, ["video", "nfo"])
    assert client.delete(f"{V1}/libraries/{library['id']}", headers=AUTH).status_code == 204
    assert_problem(client.get(f"{V1}/movies/{movie_id}", headers=AUTH), 404)


# --- actions -----------------------------------------------------------------------------


@pytest.fixture
def kodi() -> Iterator[FakeKodi]:
    fake = FakeKodi(username="kodi", password="secret")
    yield fake
    fake.stop()


def _test_player(client: FlaskClient, player_id: int) -> dict[str, Any]:
    response = client.post(f"{V1}/players/{player_id}/test", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return {"body": response.get_json(), "text": response.get_data(as_text=True)}


def test_player_test_with_the_right_credentials(
    client: FlaskClient, make: Make, kodi: FakeKodi
) -> None:
    player = make.player(make.group()["id"], url=kodi.url, username="kodi", password="secret")
    answer = _test_player(client, player["id"])
    expected = {"ok": True, "type": "kodi", "status": "reachable", "version": "13.5.0",
                "libraries": []}  # fmt: skip
    assert answer["body"] == expected
    assert "secret" not in answer["text"]
    assert kodi.methods() == ["JSONRPC.Ping", "JSONRPC.Version"]  # a group without libraries


def test_player_test_with_a_wrong_password(client: FlaskClient, make: Make, kodi: FakeKodi) -> None:
    wrong = unique("wrong")
    player = make.player(make.group()["id"], url=kodi.url, username="kodi", password=wrong)
    answer = _test_player(client, player["id"])
    body = answer["body"]
    assert (body["ok"], body["status"], body["error"]) == (False, "refused", "credentials refused")
    assert "version" not in body
    assert wrong not in answer["text"] and "secret" not in answer["text"]
    assert kodi.methods() == []


def test_player_test_when_the_player_is_down(
    client: FlaskClient, make: Make, kodi: FakeKodi
) -> None:
    player = make.player(make.group()["id"], url=kodi.url, username="kodi", password="secret")
    kodi.stop()
    answer = _test_player(client, player["id"])
    body = answer["body"]
    assert (body["ok"], body["status"]) == (False, "unreachable")
    assert body["error"]
    assert "secret" not in answer["text"]


def test_player_test_of_an_unknown_player_is_404(client: FlaskClient) -> None:
    response = client.post(f"{V1}/players/{MISSING_ID}/test", headers=AUTH)
    assert_problem(response, 404, str(MISSING_ID))


def test_library_scan_queues_a_job(client: FlaskClient, make: Make) -> None:
    library = make.library()
    response = client.post(f"{V1}/libraries/{library['id']}/scan", headers=AUTH)
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "queued" and body["job_id"]
    try:
        job = client.get(f"{V1}/jobs/{body['job_id']}", headers=AUTH)
        assert job.status_code == 200
        assert job.get_json()["type"] == "library-scan"
        assert job.get_json()["payload"] == {"library_id": library["id"]}
        assert job.get_json()["queue"] == "low"
        assert body["links"]["self"] == f"{V1}/jobs/{body['job_id']}"
    finally:
        # No worker here: keep the message from running in a later module's worker.
        cancel_job(body["job_id"])


def test_scan_of_an_unknown_library_is_404(client: FlaskClient) -> None:
    response = client.post(f"{V1}/libraries/{MISSING_ID}/scan", headers=AUTH)
    assert_problem(response, 404, str(MISSING_ID))


def test_a_library_folder_belongs_to_one_library(
    client: FlaskClient, make: Make, tmp_path: Path
) -> None:
    """The same folder spelled another way, or a folder inside (or around) another
    library's, used to be accepted: scanning one moved the other's catalog rows to it,
    and deleting it deleted them."""
    library = make.library()
    folder = library["path"]
    spellings = ["/" + folder, folder.replace("/", "/./", 1), folder + "/", f"{folder}/Sub"]
    for path in [*spellings, str(Path(folder).parent)]:
        body = {**make.library_body(), "path": path, "allow_missing": True}  # overlap: the test
        problem = assert_problem(client.post(f"{V1}/libraries", json=body, headers=AUTH), 409)
        assert library["name"] in problem["detail"], path
    other = make.library()
    moved = client.patch(f"{V1}/libraries/{other['id']}", json={"path": folder}, headers=AUTH)
    assert_problem(moved, 409, library["name"])
    kept = client.patch(f"{V1}/libraries/{library['id']}", json={"path": folder}, headers=AUTH)
    assert kept.status_code == 200, kept.get_data(as_text=True)  # its own folder, unchanged
    (tmp_path / "n").mkdir()
    created = make.post("libraries", {**make.library_body(), "path": "//" + str(tmp_path / "n")})
    assert created["path"] == str(tmp_path / "n")  # one spelling per folder
