"""Sonarr's series ids reach the catalog: a Download stores them on the series row, a later
webhook without them keeps them, a SeriesDelete marks the series removed, a new import
brings it back; real HTTP, a real worker, a fake Jellyfin (docs/design.md §4, §7.1)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api
from tests.conftest import ApiServer, WorkerProcess
from tests.e2e.test_pipeline import tv_setup
from tests.fakes.players import FakeJellyfin
from tests.pipeline import clear_catalog, fixture

EPISODE = "Severance - S02E01 - Hello, Ms. Cobel WEBDL-2160p.mkv"
SONARR_IDS = {"tvdb_id": 371980, "tmdb_id": 95396, "imdb_id": "tt11280740"}


@pytest.fixture
def api(worker: WorkerProcess, api_server: ApiServer) -> Api:
    """The live API over an empty catalog, with a worker running."""
    clear_catalog()
    return Api(api_server)


@pytest.fixture
def jellyfin() -> Iterator[FakeJellyfin]:
    with FakeJellyfin(token="jf-secret") as server:
        yield server


def tv_with_jellyfin(api: Api, tmp_path: Path, jellyfin: FakeJellyfin) -> tuple[Path, int]:
    """A TV library (Sonarr's /tv) whose players are the fake Jellyfin; its folder and id."""
    library_path = tmp_path / "data" / "tv"
    library_path.mkdir(parents=True)
    library, group = tv_setup(api, library_path)
    api.create(
        "/api/v1/players",
        {"name": "jf", "type": "jellyfin", "url": jellyfin.url, "group_id": group["id"],
         "token": "jf-secret"},
    )  # fmt: skip
    return library_path, library["id"]


def import_episode(library_path: Path) -> None:
    season = library_path / "Severance" / "Season 02"
    season.mkdir(parents=True, exist_ok=True)
    (season / EPISODE).write_bytes(b"\0" * 2048)


def run(api: Api, body: dict[str, Any]) -> list[tuple[str, str]]:
    """Send a Sonarr webhook and wait for its chain; ``(type, status)`` of its jobs."""
    jobs = api.chain(api.webhook("sonarr", body))
    return [(j["type"], j["status"]) for j in jobs]


def series(api: Api, query: str) -> list[dict[str, Any]]:
    return list(api.get(f"/api/v1/series?{query}")["items"])


def summary(api: Api, query: str) -> list[tuple[Any, ...]]:
    """``(title, year, tvdb, tmdb, imdb, state)`` of the series the query finds."""
    return [
        (s["title"], s["year"], s["tvdb_id"], s["tmdb_id"], s["imdb_id"], s["state"])
        for s in series(api, query)
    ]


CHAIN = [
    ("webhook", "completed"),
    ("scan-season", "completed"),
    ("notify-players", "completed"),
]
SEVERANCE = ("Severance", 2022, 371980, 95396, "tt11280740")


def test_sonarrs_ids_are_kept_through_a_webhook_without_them_and_a_series_delete(
    api: Api, tmp_path: Path, jellyfin: FakeJellyfin
) -> None:
    library_path, library_id = tv_with_jellyfin(api, tmp_path, jellyfin)
    import_episode(library_path)

    assert run(api, fixture("sonarr_download")) == CHAIN

    found = series(api, "tvdb_id=371980")
    assert [(s["path"], s["library_id"]) for s in found] == [
        (str(library_path / "Severance"), library_id)
    ]
    assert summary(api, "tvdb_id=371980") == [(*SEVERANCE, "present")]
    assert {key: found[0][key] for key in SONARR_IDS} == SONARR_IDS

    # A webhook that names no ids (and no title): the row keeps Sonarr's.
    body = fixture("sonarr_download")
    for key in ("tvdbId", "tmdbId", "imdbId", "title", "year"):
        body["series"].pop(key)
    body["isUpgrade"] = True
    assert run(api, body) == CHAIN
    assert summary(api, "tvdb_id=371980") == [(*SEVERANCE, "present")]

    # Sonarr deletes the series and its files.
    shutil.rmtree(library_path / "Severance")
    assert run(api, fixture("sonarr_series_delete")) == CHAIN
    assert summary(api, "tvdb_id=371980") == [(*SEVERANCE, "removed")]

    # Imported again: present again, still one row.
    import_episode(library_path)
    assert run(api, fixture("sonarr_download")) == CHAIN
    assert summary(api, f"library_id={library_id}") == [(*SEVERANCE, "present")]
    assert jellyfin.updates() == [
        {"Path": "/media/tv/Severance/Season 02", "UpdateType": "Created"},
        {"Path": "/media/tv/Severance/Season 02", "UpdateType": "Modified"},
        {"Path": "/media/tv/Severance", "UpdateType": "Deleted"},
        {"Path": "/media/tv/Severance/Season 02", "UpdateType": "Created"},
    ]


def test_malformed_series_ids_are_left_out_and_the_scan_goes_on(
    api: Api, tmp_path: Path, jellyfin: FakeJellyfin
) -> None:
    library_path, library_id = tv_with_jellyfin(api, tmp_path, jellyfin)
    import_episode(library_path)
    body = fixture("sonarr_download")
    body["series"].update(
        {"tvdbId": 2**40, "tmdbId": "95396", "imdbId": "tt" + "1" * 500, "year": 99999}
    )

    assert run(api, body) == CHAIN

    assert summary(api, f"library_id={library_id}") == [
        ("Severance", None, None, None, None, "present")
    ]


def test_a_library_scan_lists_every_series_by_its_folder_name(
    api: Api, tmp_path: Path, jellyfin: FakeJellyfin
) -> None:
    library_path, library_id = tv_with_jellyfin(api, tmp_path, jellyfin)
    import_episode(library_path)
    flat = library_path / "Pluribus (2025)"  # a series without season folders
    flat.mkdir()
    (flat / "Pluribus - S01E01.mkv").write_bytes(b"\0" * 2048)

    scan = api.post(f"/api/v1/libraries/{library_id}/scan", {})
    assert scan.status_code == 202, scan.text
    assert [j["status"] for j in api.chain(scan.json()["job_id"])][0] == "completed"

    assert summary(api, f"library_id={library_id}") == [  # in the order of their folders
        ("Pluribus", 2025, None, None, None, "present"),
        ("Severance", None, None, None, None, "present"),
    ]
    assert summary(api, "title=plur") == [("Pluribus", 2025, None, None, None, "present")]
    first = api.get(f"/api/v1/series?library_id={library_id}&limit=1")
    assert len(first["items"]) == 1 and first["next_cursor"] is not None
    rest = series(api, f"library_id={library_id}&cursor={first['next_cursor']}")
    assert [s["title"] for s in first["items"] + rest] == ["Pluribus", "Severance"]

    # Sonarr's first webhook adds its ids to the row the scan made.
    assert run(api, fixture("sonarr_download")) == CHAIN
    assert summary(api, "tvdb_id=371980") == [(*SEVERANCE, "present")]
