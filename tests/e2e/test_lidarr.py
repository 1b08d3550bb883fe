"""Lidarr end to end: its webhook bodies as Lidarr builds them, through a real worker, real
album folders on disk, the catalog's albums, and a Jellyfin told of each folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator.storage.db import read_session
from services.catalog.models import Album
from tests.api_client import Api
from tests.conftest import ApiServer, WorkerProcess
from tests.fakes.players import FakeJellyfin, FakePlex
from tests.pipeline import clear_catalog, fixture

TRACK_BYTES = 2048
RADIOHEAD_MBID = "a74b1b7f-71a5-4011-9441-d0b5e4122711"
OK_COMPUTER_MBID = "b1392450-e666-3926-a536-22c65f834433"


@pytest.fixture
def api(worker: WorkerProcess, api_server: ApiServer) -> Api:
    clear_catalog()
    return Api(api_server, worker)


@pytest.fixture
def jellyfin() -> Iterator[FakeJellyfin]:
    with FakeJellyfin(token="jf-secret") as server:
        yield server


def music_setup(api: Api, tmp_path: Path, jellyfin: FakeJellyfin) -> Path:
    """A music library at <tmp>/music (Lidarr's /music), told to a Jellyfin that sees it
    as /media/music."""
    root = tmp_path / "music"
    root.mkdir()
    library = api.create("/api/v1/libraries", {"name": "Music", "path": str(root), "kind": "music"})
    api.create("/api/v1/path-mappings", {"source": "lidarr", "from": "/music", "to": str(root)})
    group = api.create(
        "/api/v1/player-groups",
        {"name": "Music room", "library_ids": [library["id"]],
         "path_mappings": [{"from": str(root), "to": "/media/music"}]},
    )  # fmt: skip
    api.create(
        "/api/v1/players",
        {"name": "jf", "type": "jellyfin", "url": jellyfin.url, "group_id": group["id"],
         "token": "jf-secret"},
    )  # fmt: skip
    return root


def import_body(root: Path, name: str = "lidarr_download") -> dict[str, Any]:
    """Lidarr's Download body, its track files written under ``root`` as Lidarr leaves
    them (small: their sizes in the body are set to match)."""
    body = fixture(name)
    for track in body["trackFiles"]:
        path = root / track["path"].removeprefix("/music/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * TRACK_BYTES)
        track["size"] = TRACK_BYTES
    return body


def albums() -> dict[str, tuple[str, str | None, str | None, str | None, int]]:
    with read_session() as session:
        rows = session.scalars(select(Album)).all()
        return {
            Path(row.path).name: (row.state, row.artist, row.artist_mbid, row.album_mbid,
                                  row.tracks)
            for row in rows
        }  # fmt: skip


def test_an_album_import_is_scanned_catalogued_and_told_to_the_music_players(
    api: Api, tmp_path: Path, jellyfin: FakeJellyfin
) -> None:
    root = music_setup(api, tmp_path, jellyfin)

    jobs = api.chain(api.webhook("lidarr", import_body(root)))

    assert [(j["type"], j["status"]) for j in jobs] == [
        ("webhook", "completed"),
        ("scan-album", "completed"),
        ("notify-players", "completed"),
    ]
    assert jobs[0]["summary"] == "Lidarr Download: Radiohead - OK Computer"
    assert jobs[1]["result"]["albums"] == [
        {"path": str(root / "Radiohead" / "OK Computer (1997)"), "tracks": 12}
    ]
    assert albums() == {
        "OK Computer (1997)": ("present", "Radiohead", RADIOHEAD_MBID, OK_COMPUTER_MBID, 12)
    }
    assert jellyfin.updates() == [
        {"Path": "/media/music/Radiohead/OK Computer (1997)", "UpdateType": "Created"}
    ]


def test_an_album_deleted_is_found_gone_under_its_artist_and_an_artist_deleted_too(
    api: Api, tmp_path: Path, jellyfin: FakeJellyfin
) -> None:
    root = music_setup(api, tmp_path, jellyfin)
    api.chain(api.webhook("lidarr", import_body(root)))
    api.chain(api.webhook("lidarr", import_body(root, "lidarr_download_upgrade")))
    shutil.rmtree(root / "Radiohead" / "OK Computer (1997)")

    # Lidarr names no album folder when it deletes one: its artist's folder is scanned.
    deleted = api.chain(api.webhook("lidarr", fixture("lidarr_album_delete")))
    assert deleted[1]["result"]["removed"] == [str(root / "Radiohead" / "OK Computer (1997)")]
    assert {name: row[0] for name, row in albums().items()} == {
        "OK Computer (1997)": "removed",
        "In Rainbows (2007)": "present",
    }

    shutil.rmtree(root / "Radiohead")
    gone = api.chain(api.webhook("lidarr", fixture("lidarr_artist_delete")))
    assert [(j["type"], j["status"]) for j in gone][1:] == [
        ("scan-album", "completed"),
        ("notify-players", "completed"),
    ]
    assert {row[0] for row in albums().values()} == {"removed"}
    assert jellyfin.updates()[-2:] == [
        {"Path": "/media/music/Radiohead", "UpdateType": "Modified"},
        {"Path": "/media/music/Radiohead", "UpdateType": "Deleted"},
    ]


def test_lidarrs_test_button_answers_green_and_a_retag_rescans_the_album(
    api: Api, tmp_path: Path, jellyfin: FakeJellyfin
) -> None:
    root = music_setup(api, tmp_path, jellyfin)
    api.chain(api.webhook("lidarr", import_body(root)))

    test = api.chain(api.webhook("lidarr", fixture("lidarr_test")))
    retag = api.chain(api.webhook("lidarr", fixture("lidarr_retag")))

    assert (test[0]["status"], test[0]["result"]["action"]) == ("completed", "ignored")
    assert [j["type"] for j in retag] == ["webhook", "scan-album", "notify-players"]
    assert jellyfin.updates()[-1] == {
        "Path": "/media/music/Radiohead/OK Computer (1997)",
        "UpdateType": "Modified",
    }


def test_plex_refreshes_its_music_section_holding_the_album(
    api: Api, tmp_path: Path, jellyfin: FakeJellyfin
) -> None:
    root = music_setup(api, tmp_path, jellyfin)
    group = api.get("/api/v1/player-groups")["items"][0]
    sections = [
        {"key": "4", "title": "Music", "type": "artist", "locations": ["/media/music"]},
        {"key": "1", "title": "Movies", "type": "movie", "locations": ["/media/movies"]},
    ]
    with FakePlex(token="plex-secret", sections=sections) as plex:
        api.patch(f"/api/v1/players/{_player_id(api, 'jf')}", {"enabled": False})
        api.create(
            "/api/v1/players",
            {"name": "plex", "type": "plex", "url": plex.url, "group_id": group["id"],
             "token": "plex-secret", "position": 1},
        )  # fmt: skip

        jobs = api.chain(api.webhook("lidarr", import_body(root)))

        assert jobs[-1]["status"] == "completed"
        assert plex.refreshes() == [("4", "/media/music/Radiohead/OK Computer (1997)")]


def _player_id(api: Api, name: str) -> int:
    return next(p["id"] for p in api.get("/api/v1/players")["items"] if p["name"] == name)
