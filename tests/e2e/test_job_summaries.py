"""Each media job type says what it is about: its summary, as the list and ``q=`` show it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.api_client import Api
from tests.conftest import ApiServer, WorkerProcess
from tests.pipeline import clear_catalog, fixture, make_movie


@pytest.fixture(autouse=True)
def empty_catalog(database: str) -> None:
    """Each test configures its own libraries and mappings."""
    clear_catalog()


@pytest.fixture
def api(worker: WorkerProcess, api_server: ApiServer) -> Api:
    """The live API, with a worker running."""
    return Api(api_server)


def library(api: Api, path: Path, kind: str, manager: str, manager_root: str) -> int:
    """A library of ``kind`` at ``path``, the manager's root mapped to it; its id."""
    path.mkdir(parents=True, exist_ok=True)
    row = api.create("/api/v1/libraries", {"name": kind.title(), "path": str(path), "kind": kind})
    api.create("/api/v1/path-mappings", {"source": manager, "from": manager_root, "to": str(path)})
    return int(row["id"])


def summaries(api: Api, root_id: str) -> list[tuple[str, str | None]]:
    """(type, summary) of every job of the chain once final, oldest first."""
    return [(job["type"], job["summary"]) for job in api.chain(root_id)]


def test_a_radarr_import_chain_says_which_movie(api: Api, tmp_path: Path) -> None:
    movies = tmp_path / "data" / "movies"
    library(api, movies, "movies", "radarr", "/movies")
    make_movie(movies, "The Matrix (1999)", 603)

    root_id = api.webhook("radarr", fixture("radarr_download"))

    assert summaries(api, root_id) == [
        ("webhook", "Radarr Download: The Matrix (1999)"),
        ("scan-movie", "The Matrix (1999) · Created"),
        ("notify-players", "The Matrix (1999) · Created"),
    ]
    found = api.get(f"/api/v1/jobs?q={quote('radarr download: the MATRIX')}&limit=500")["items"]
    assert root_id in {job["id"] for job in found}


def test_a_sonarr_import_chain_says_which_series_and_season(api: Api, tmp_path: Path) -> None:
    tv = tmp_path / "data" / "tv"
    season = tv / "Severance" / "Season 02"
    season.mkdir(parents=True)
    (season / "Severance - S02E01 - Hello, Ms. Cobel WEBDL-2160p.mkv").write_bytes(b"\0" * 2048)
    library(api, tv, "tv", "sonarr", "/tv")

    root_id = api.webhook("sonarr", fixture("sonarr_download"))

    assert summaries(api, root_id) == [
        ("webhook", "Sonarr Download: Severance (2022) S02"),
        ("scan-season", "Severance/Season 02 · Created"),
        ("notify-players", "Severance/Season 02 · Created"),
    ]


def test_an_ignored_event_says_what_it_was(api: Api) -> None:
    root_id = api.webhook("radarr", fixture("radarr_test"))

    # What it was, and that it needed nothing: the list and the page mark it apart.
    assert summaries(api, root_id) == [("webhook", "Radarr Test: Test Title (1970) (ignored)")]


def test_a_manual_scan_names_its_folders_and_a_library_scan_its_library(
    api: Api, tmp_path: Path
) -> None:
    movies = tmp_path / "films"
    library_id = library(api, movies, "movies", "radarr", "/unused")
    make_movie(movies, "Alien (1979)", None)

    response = api.post("/api/triggers/manual", {}, params={"dir": [str(movies)]})
    assert response.status_code == 202, response.text
    jobs = summaries(api, response.json()["job_id"])

    # library-scan is "library <id>" until it runs, then the library's name.
    assert jobs[:2] == [("manual-scan", str(movies)), ("library-scan", "library Movies")]
    assert ("notify-players", "Alien (1979) · Created") in jobs
    queued = api.post(f"/api/v1/libraries/{library_id}/scan", {})
    assert queued.status_code == 202, queued.text
    waiting = api.job(queued.json()["job_id"])
    assert waiting["summary"] in {f"library {library_id}", "library Movies"}
