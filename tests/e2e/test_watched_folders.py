"""Watched folders end to end: a real `orchestrator watch` (inotify), real files written
slowly, a real worker scanning and telling a player, the mount guard and the fallback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services import folder_watch
from tasks.watcher import FolderWatcher, Watched
from tests.api_client import Api
from tests.conftest import REPO_ROOT, ApiServer, WorkerProcess, sqlite_only, wait_until
from tests.pipeline import clear_catalog

QUIET = 1.0  # ORCH_WATCH_QUIET for these tests: a changed folder waits this long, twice


class Watcher:
    """`orchestrator watch` as a child process, reading its libraries every second."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ORCH_WATCH_QUIET": str(QUIET)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "watch", "--reload-every", "1"],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float = 20) -> None:
        wait_until(lambda: text in self.log(), timeout, what=f"{text!r} in\n{self.log()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def on_sqlite(database: str) -> None:
    """Before the worker starts: the watcher's work is the same over either database (its
    lease, which is not, is tested on both)."""
    sqlite_only(database, "what the watcher submits does not depend on the database")


@pytest.fixture
def api(on_sqlite: None, worker: WorkerProcess, api_server: ApiServer) -> Api:
    clear_catalog()
    return Api(api_server, worker)


@pytest.fixture
def watcher(api: Api, tmp_path: Path) -> Iterator[Watcher]:
    process = Watcher(tmp_path / "watcher.log")
    yield process
    process.stop()


def _library(api: Api, path: Path, anchors: list[str] | None = None) -> dict[str, Any]:
    """A watched movies library told to a dry-run player."""
    path.mkdir(parents=True, exist_ok=True)
    for anchor in anchors or []:
        (path / anchor).touch()
    library = api.create(
        "/api/v1/libraries",
        {"name": "Home videos", "path": str(path), "kind": "movies", "watch": True,
         "anchors": anchors or []},
    )  # fmt: skip
    group = api.create("/api/v1/player-groups", {"name": "Dry run",
                                                 "library_ids": [library["id"]]})  # fmt: skip
    api.create("/api/v1/players", {"name": "try-it", "type": "log", "group_id": group["id"]})
    return library


def _watched_scans(api: Api, library: Path) -> list[dict[str, Any]]:
    """The watcher's scans of folders of ``library``, newest first."""
    items = api.get("/api/v1/jobs?type=manual-scan&limit=100")["items"]
    return [job for job in items if (job["summary"] or "").startswith(f"watched: {library}/")]


def _library_scans(api: Api, library_id: int, since: float) -> int:
    """How many library-scan jobs of ``library_id`` were made since ``since`` (epoch s)."""
    items = api.get("/api/v1/jobs?type=library-scan&limit=100")["items"]
    recent = [j for j in items if datetime.fromisoformat(j["created_at"]).timestamp() >= since]
    return sum(api.job(j["id"])["payload"]["library_id"] == library_id for j in recent)


def _write_slowly(path: Path, chunks: int, pause: float) -> float:
    """Write ``path`` in ``chunks`` pieces ``pause`` seconds apart (a copy over the LAN);
    returns when the last byte was written (epoch seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for _ in range(chunks):
            handle.write(b"\0" * 65536)
            handle.flush()
            time.sleep(pause)
    return time.time()


def test_a_folder_copied_slowly_is_scanned_once_when_whole_and_a_deletion_too(
    api: Api, watcher: Watcher, tmp_path: Path
) -> None:
    library_path = tmp_path / "home"
    _library(api, library_path)
    watcher.wait_for_line("watching library Home videos")

    finished = _write_slowly(library_path / "Birthday (2026)" / "Birthday.mp4", 8, 0.4)
    (scan,) = wait_until(
        lambda: _watched_scans(api, library_path), 30, what="a scan of the new folder"
    )
    jobs = api.chain(scan["id"])

    created = datetime.fromisoformat(scan["created_at"]).timestamp()
    # Submitted after the copy ended (3 s of writes, each one an event), once.
    assert finished <= created < finished + 10 * QUIET, (finished, created)
    assert scan["summary"] == f"watched: {library_path / 'Birthday (2026)'}"
    assert [(j["type"], j["status"]) for j in jobs] == [
        ("manual-scan", "completed"),
        ("scan-movie", "completed"),
        ("notify-players", "completed"),
    ]
    time.sleep(3 * QUIET)
    assert len(_watched_scans(api, library_path)) == 1  # nothing more was submitted for it

    for file in (library_path / "Birthday (2026)").iterdir():
        file.unlink()
    (library_path / "Birthday (2026)").rmdir()
    scans = wait_until(
        lambda: len(_watched_scans(api, library_path)) == 2 and _watched_scans(api, library_path),
        30,
    )
    gone = api.chain(scans[0]["id"])
    assert gone[1]["type"] == "scan-movie" and gone[1]["status"] == "completed"
    movies = api.get(f"/api/v1/movies?title=Birthday&library_id={gone[1]['payload']['library_id']}")
    assert [m["state"] for m in movies["items"]] == ["removed"]


def test_while_an_anchor_is_missing_nothing_is_scanned_and_its_return_scans_the_library(
    api: Api, watcher: Watcher, tmp_path: Path
) -> None:
    started = time.time()
    library_path = tmp_path / "share"
    library = _library(api, library_path, anchors=[".mounted"])
    (library_path / "Keep (2020)").mkdir()
    (library_path / "Keep (2020)" / "Keep.mkv").write_bytes(b"\0" * 4096)
    watcher.wait_for_line("watching library Home videos")

    (library_path / ".mounted").unlink()  # the share dropped
    watcher.wait_for_line("anchor file")
    (library_path / "Keep (2020)" / "Keep.mkv").unlink()  # what an empty mount point shows
    time.sleep(4 * QUIET)
    assert _watched_scans(api, library_path) == []
    (library_path / ".mounted").touch()  # mounted again
    watcher.wait_for_line("is mounted again")
    assert _library_scans(api, library["id"], since=started) == 1


def test_a_library_beyond_the_inotify_watches_is_scanned_on_a_schedule_with_a_warning(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.time()
    library_path = tmp_path / "big"
    for index in range(50):
        (library_path / f"Movie {index}").mkdir(parents=True)
    row = _library(api, library_path)
    limit = tmp_path / "max_user_watches"
    limit.write_text(str(folder_watch.WATCH_HEADROOM + 10))
    monkeypatch.setattr(folder_watch, "MAX_USER_WATCHES", limit)
    watcher = FolderWatcher(QUIET, fallback_every=3600)
    library = Watched(row["id"], row["name"], str(library_path), "movies")

    with caplog.at_level(logging.WARNING, logger="tasks.watcher"):
        watcher.observer.start()
        try:
            watcher.sync([library])
            watcher.scan_fallbacks()
            watcher.scan_fallbacks()  # not due again for an hour
        finally:
            watcher.observer.stop()
            watcher.observer.join()

    assert watcher.watched == {} and list(watcher.fallback) == [row["id"]]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "library Home videos is not watched" in warning
    assert "sysctl -w fs.inotify.max_user_watches=" in warning
    assert "scanned every 60 min instead" in warning
    assert _library_scans(api, row["id"], since=started) == 1


def test_one_watcher_per_deployment(database: str, tmp_path: Path) -> None:
    first = Watcher(tmp_path / "first.log")
    second: Watcher | None = None
    try:
        first.wait_for_line("this watcher watches")
        second = Watcher(tmp_path / "second.log")
        second.wait_for_line("standing by")
        first.stop()
        second.wait_for_line("this watcher watches")  # released on a clean stop: at once
    finally:
        for process in (first, second):
            if process is not None and process.process.poll() is None:
                process.stop()
