"""A share that lags behind the import: the webhook waits until the files Radarr and
Sonarr name are here in full, then the scan and the players follow; a file that never
comes fails the chain saying where it was looked for.

A worker of this module's own runs with the wait on (the suite turns it off).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api
from tests.conftest import ApiServer, WorkerProcess, sqlite_only, wait_until
from tests.e2e.test_pipeline import MOVIES_SHARE, kodi_player, movies_path, movies_setup, tv_setup
from tests.fakes.players import FakeJellyfin, FakeKodi
from tests.pipeline import clear_catalog, fixture

MATRIX = fixture("radarr_download")["movieFile"]
IMPORT_WAIT = 20


@pytest.fixture(scope="module")
def waiting_worker(database: str) -> Iterator[WorkerProcess]:
    sqlite_only(database, "waiting for files on disk")
    process = WorkerProcess.for_module(concurrency=2, env={"ORCH_IMPORT_WAIT": str(IMPORT_WAIT)})
    yield process
    process.stop()


@pytest.fixture
def api(waiting_worker: WorkerProcess, api_server: ApiServer) -> Api:
    clear_catalog()
    return Api(api_server)


@pytest.fixture
def kodi(tmp_path: Path) -> Iterator[FakeKodi]:
    """A Kodi whose movies source is the share the group maps the library to."""
    with FakeKodi(username="kodi", password="kodi-pass") as server:
        server.add_source(MOVIES_SHARE, "movies", disk=movies_path(tmp_path))
        yield server


def sparse_file(path: Path, size: int) -> None:
    """A file of ``size`` bytes that takes no room on disk (as a copy in progress looks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as file:
        file.truncate(size)


def waiting_message(api: Api, job_id: str, saying: str) -> str:
    """The error of the webhook job once it retries saying ``saying``."""

    def says() -> str | None:
        job = api.job(job_id)
        error = (job.get("error") or {}).get("message", "")
        return error if job["status"] == "retrying" and saying in error else None

    return str(wait_until(says, timeout=15, what=f"webhook retrying with {saying!r}"))


def test_the_scan_waits_until_the_imported_file_is_here_in_full(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    library_path, _, group = movies_setup(api, tmp_path)
    kodi_player(api, group["id"], kodi)
    video = library_path / "The Matrix (1999)" / Path(MATRIX["relativePath"]).name
    video.parent.mkdir()

    root_id = api.webhook("radarr", fixture("radarr_download"))

    message = waiting_message(api, root_id, "not there yet")
    assert f"waiting for the imported file {video} (not there yet)" in message
    sparse_file(video, MATRIX["size"] // 2)  # the copy is half way
    assert "(5.5 GiB of 10.9 GiB there)" in waiting_message(api, root_id, "GiB there")
    assert kodi.scans() == []
    assert [j["type"] for j in api._chain_jobs(root_id)] == ["webhook"]

    # Radarr writes the movie's NFO with the import (Kodi adds no movie without one).
    video.with_suffix(".nfo").write_text(
        "<movie><title>The Matrix</title><year>1999</year>"
        '<uniqueid type="tmdb" default="true">603</uniqueid></movie>'
    )
    sparse_file(video, MATRIX["size"])
    jobs = api.chain(root_id)

    assert [(j["type"], j["status"]) for j in jobs] == [
        ("webhook", "completed"),
        ("scan-movie", "completed"),
        ("notify-players", "completed"),
    ]
    assert jobs[0]["retry_count"] >= 2
    assert jobs[1]["result"]["is_new"] is True
    assert kodi.scans() == [
        {"directory": "smb://nas/movies/The Matrix (1999)/", "showdialogs": False}
    ]
    assert jobs[2]["result"]["groups"][0]["verified"] is True
    assert kodi.movie_files() == [f"{MOVIES_SHARE}/The Matrix (1999)/{video.name}"]


def test_every_file_of_a_sonarr_import_complete_is_waited_for(api: Api, tmp_path: Path) -> None:
    library_path = tmp_path / "tv"
    _, group = tv_setup(api, library_path)
    body = fixture("sonarr_import_complete")
    files: list[dict[str, Any]] = body["episodeFiles"]
    for episode in files[:-1]:
        sparse_file(library_path / "Severance" / episode["relativePath"], episode["size"])
    last = library_path / "Severance" / files[-1]["relativePath"]

    with FakeJellyfin(token="t0ken") as jellyfin:
        api.create(
            "/api/v1/players",
            {"name": "jellyfin", "type": "jellyfin", "url": jellyfin.url,
             "group_id": group["id"], "token": "t0ken"},
        )  # fmt: skip
        root_id = api.webhook("sonarr", body)
        message = waiting_message(api, root_id, "not there yet")
        assert str(last) in message
        assert files[0]["relativePath"] not in message  # those are here in full
        sparse_file(last, files[-1]["size"])
        jobs = api.chain(root_id)

        assert jobs[0]["status"] == "completed"
        scanned = sorted(j["payload"]["path"] for j in jobs if j["type"] == "scan-season")
        assert scanned == [
            str(library_path / "Severance" / "Season 01"),
            str(library_path / "Severance" / "Season 02"),
        ]
        assert all(j["status"] == "completed" for j in jobs)


def test_a_file_that_never_comes_fails_the_chain_saying_where_it_looked(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    library_path, _, group = movies_setup(api, tmp_path)
    kodi_player(api, group["id"], kodi)
    (library_path / "The Matrix (1999)").mkdir()
    started = time.monotonic()

    root_id = api.webhook("radarr", fixture("radarr_download"))
    jobs = api.chain(root_id, timeout=IMPORT_WAIT + 30)

    assert [(j["type"], j["status"]) for j in jobs] == [("webhook", "failed")]
    assert time.monotonic() - started >= IMPORT_WAIT
    message = jobs[0]["error"]["message"]
    video = library_path / "The Matrix (1999)" / Path(MATRIX["relativePath"]).name
    assert "still not here in full after" in message
    assert f"{video} (not there yet)" in message
    assert "path mapping of source radarr" in message
    assert kodi.scans() == []


def test_deletes_and_renames_wait_for_nothing(api: Api, kodi: FakeKodi, tmp_path: Path) -> None:
    library_path, _, group = movies_setup(api, tmp_path)
    kodi_player(api, group["id"], kodi)

    jobs = api.chain(api.webhook("radarr", fixture("radarr_movie_delete")), timeout=10)

    assert jobs[0]["status"] == "completed"
    assert jobs[0]["retry_count"] == 0


def test_a_share_that_is_not_mounted_fails_at_once_instead_of_waiting(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    library_path, library, group = movies_setup(api, tmp_path)
    kodi_player(api, group["id"], kodi)
    (library_path / ".anchor").touch()
    api.patch(f"/api/v1/libraries/{library['id']}", {"anchors": [".anchor"]})
    (library_path / ".anchor").unlink()  # the share dropped: neither anchor nor file

    jobs = api.chain(api.webhook("radarr", fixture("radarr_download")), timeout=10)

    assert [(j["type"], j["status"], j["retry_count"]) for j in jobs] == [("webhook", "failed", 0)]
    assert "anchor file" in jobs[0]["error"]["message"]
    assert "the share may not be mounted" in jobs[0]["error"]["message"]
    assert kodi.scans() == []
