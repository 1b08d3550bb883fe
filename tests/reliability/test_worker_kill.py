"""200 webhook pipelines while worker processes are SIGKILLed again and again.

Every pipeline must complete, none may stay ``processing``, and Kodi must get one
scan per movie and end up holding every movie. Pool processes are killed every second
(the worker replaces them and the broker gives their messages back); once, the whole
worker is killed and another one started, as after a crash of the machine's worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from orchestrator import submit
from orchestrator.delivery.celery_app import app
from orchestrator.jobs.models import Job
from orchestrator.storage.db import read_session
from tests.conftest import (
    REPO_ROOT,
    ApiServer,
    WorkerProcess,
    sqlite_only,
    wait_for_job,
)
from tests.fakes.players import FakeKodi
from tests.pipeline import HEADERS, clear_catalog, make_movie

PIPELINES = 200
BODY = json.loads((REPO_ROOT / "tests" / "fixtures" / "radarr_download.json").read_text())


def _kill_pool(worker: WorkerProcess) -> int:
    out = subprocess.run(
        ["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True
    ).stdout
    killed = 0
    for pid in map(int, out.split()):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def _configure(url: str, library: Path, kodi: FakeKodi) -> None:
    clear_catalog()

    def create(path: str, body: dict) -> dict:
        response = httpx.post(f"{url}/api/v1/{path}", json=body, headers=HEADERS)
        assert response.status_code == 201, response.text
        return dict(response.json())

    lib = create("libraries", {"name": "Movies", "path": str(library)})
    create("path-mappings", {"source": "radarr", "from": "/movies", "to": str(library)})
    group = create(
        "player-groups",
        {"name": "Kodi", "library_ids": [lib["id"]],
         "path_mappings": [{"from": str(library), "to": "smb://nas/movies"}]},
    )  # fmt: skip
    create("players", {"name": "kodi", "type": "kodi", "url": kodi.url, "group_id": group["id"]})


def _open_jobs(roots: list[str]) -> int:
    with read_session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.root_id.in_(roots), Job.status.not_in(["completed", "failed"]))
            )
            or 0
        )


@pytest.mark.timeout(400)
def test_pipelines_survive_repeated_sigkills(database: str, tmp_path: Path) -> None:
    sqlite_only(database)
    library = tmp_path / "movies"
    folders = [f"Movie {n:03d} (2001)" for n in range(PIPELINES)]
    for n, folder in enumerate(folders):
        make_movie(library, folder, 100000 + n)  # with its NFO, which Kodi needs
    server = ApiServer()
    kodi = FakeKodi()
    kodi.add_source("smb://nas/movies", "movies", disk=library)
    worker = WorkerProcess(concurrency=2)
    try:
        _configure(server.url, library, kodi)
        roots, kills = [], 0
        with httpx.Client(timeout=10) as client:
            for n, folder in enumerate(folders):
                body = {**BODY, "movie": {**BODY["movie"], "folderPath": f"/movies/{folder}",
                                          "tmdbId": 100000 + n}}  # fmt: skip
                body["movieFile"] = {**BODY["movieFile"], "path": f"/movies/{folder}/{folder}.mkv"}
                response = client.post(f"{server.url}/api/webhooks/radarr", json=body,
                                       headers=HEADERS)  # fmt: skip
                assert response.status_code == 202
                roots.append(response.json()["job_id"])
                if n % 20 == 10:
                    kills += _kill_pool(worker)
        # Once, the whole worker dies with its pool; another takes its place.
        kills += _kill_pool(worker)
        worker.process.send_signal(signal.SIGKILL)
        worker.stop()
        worker = WorkerProcess(concurrency=2)
        deadline = time.monotonic() + 180
        while _open_jobs(roots) and time.monotonic() < deadline:
            time.sleep(4)  # ORCH_REAPER_TIMEOUT is 3 s in the tests
            # What beat does: re-publish rows never published (a process killed between
            # a commit and its publish), and reap the jobs of dead workers.
            app.send_task("orchestrator.redispatch", queue="critical")
            wait_for_job(submit("reaper").job.id)

        with read_session() as session:
            still_open = session.execute(
                select(Job.type, Job.status, Job.dispatched_at).where(
                    Job.root_id.in_(roots), Job.status.not_in(["completed", "failed"])
                )
            ).all()
        assert still_open == []
        with read_session() as session:
            statuses = Counter(
                session.scalars(select(Job.status).where(Job.root_id.in_(roots))).all()
            )
            retried = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.root_id.in_(roots), Job.retry_count > 0)
            )
        assert statuses == {"completed": 3 * PIPELINES}, statuses
        scans = Counter(scan["directory"] for scan in kodi.scans())
        assert set(scans) == {f"smb://nas/movies/{folder}/" for folder in folders}
        duplicates = sum(count - 1 for count in scans.values())
        # A kill after Kodi accepted a scan but before the job recorded it repeats that
        # scan (at least once); the checkpoint keeps that window to one HTTP answer.
        assert duplicates <= kills
        assert kodi.movie_files() == [f"smb://nas/movies/{f}/{f}.mkv" for f in folders]
        print(
            f"\n{PIPELINES} pipelines, {kills} processes killed, {retried} jobs retried,"
            f" {duplicates} duplicate Kodi scans"
        )
    finally:
        worker.stop()
        kodi.stop()
        server.stop()
