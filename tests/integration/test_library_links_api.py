"""The configuration API of links out of a library (``follow_links``) and of libraries in
system folders (``confirm_system_path``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

from flask.testing import FlaskClient

from tests.conftest import API_KEY
from tests.integration.conftest import assert_problem

AUTH = {"X-Api-Key": API_KEY}
LIBRARIES = "/api/v1/libraries"


def _body(path: str, **extra: Any) -> dict[str, Any]:
    # Folders that need not exist here: links and system folders are under test.
    return {"name": f"lib-{uuid4().hex[:8]}", "path": path, "allow_missing": True, **extra}


def _post(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.post(LIBRARIES, json=body, headers=AUTH)


def test_follow_links_is_off_unless_asked_and_can_be_changed(
    client: FlaskClient, tmp_path: Path
) -> None:
    plain = _post(client, _body(str(tmp_path / "plain"))).get_json()
    following = _post(client, _body(str(tmp_path / "following"), follow_links=True)).get_json()
    assert (plain["follow_links"], following["follow_links"]) == (False, True)

    url = f"{LIBRARIES}/{plain['id']}"
    assert client.patch(url, json={"follow_links": True}, headers=AUTH).get_json() == {
        **plain,
        "follow_links": True,
    }
    assert client.get(url, headers=AUTH).get_json()["follow_links"] is True
    renamed = client.patch(url, json={"name": f"lib-{uuid4().hex[:8]}"}, headers=AUTH)
    assert renamed.get_json()["follow_links"] is True  # a patch without it keeps it
    listed = client.get(f"{LIBRARIES}?limit=500", headers=AUTH).get_json()["items"]
    assert {row["id"]: row["follow_links"] for row in listed}[following["id"]] is True

    for bad in (None, "maybe", 2):
        body = assert_problem(client.patch(url, json={"follow_links": bad}, headers=AUTH), 422)
        assert {error["field"] for error in body["errors"]} == {"follow_links"}


def test_a_library_in_a_system_folder_needs_confirming(client: FlaskClient) -> None:
    for path in ("/", "/etc", "/usr/share/movies", "/var/lib/media", "/root/Movies"):
        response = _post(client, _body(path))
        body = assert_problem(response, 422, path, '"confirm_system_path": true')
        assert [error["field"] for error in body["errors"]] == ["confirm_system_path"]

    name = f"/var/media-{uuid4().hex[:8]}"
    created = _post(client, _body(name, confirm_system_path=True))
    assert created.status_code == 201, created.get_data(as_text=True)
    library = created.get_json()
    assert library["path"] == name and "confirm_system_path" not in library  # never stored

    url = f"{LIBRARIES}/{library['id']}"
    kept = client.patch(url, json={"path": name, "follow_links": True}, headers=AUTH)
    assert kept.status_code == 200  # the same path again needs no new confirmation
    moved = client.patch(url, json={"path": "/etc/media", "allow_missing": True}, headers=AUTH)
    assert_problem(moved, 422, "/etc/media", "system folder /etc")
    confirmed = client.patch(
        url,
        json={"path": "/etc/media", "confirm_system_path": True, "allow_missing": True},
        headers=AUTH,
    )
    assert confirmed.get_json()["path"] == "/etc/media"


def test_other_folders_need_no_confirming(client: FlaskClient, tmp_path: Path) -> None:
    for path in ("/mnt/movies", "/media/usb", "/srv/tv", "/data/films", "/home/anna/Movies"):
        response = _post(client, _body(f"{path}-{uuid4().hex[:8]}"))
        assert response.status_code == 201, response.get_data(as_text=True)
    link = tmp_path / "looks-fine"
    link.symlink_to("/usr")
    assert_problem(_post(client, _body(str(link))), 422, str(link), "system folder /usr")
