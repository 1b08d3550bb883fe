"""A webhook's folder path cannot forge a line of the worker's log or colour its terminal."""

from __future__ import annotations

import httpx

from tests.conftest import ApiServer, WorkerProcess, sqlite_only, wait_for_job, wait_until
from tests.pipeline import HEADERS, fixture

FORGED = "\n[fake] ERROR forged\x1b[31m"


def test_a_hostile_folder_path_stays_on_its_log_line(
    database: str, worker: WorkerProcess, api_server: ApiServer
) -> None:
    sqlite_only(database, "the worker's log format")
    body = fixture("radarr_download")
    folder = f"/movies/Nowhere{FORGED}"
    body["movie"]["folderPath"] = folder
    body["movieFile"]["path"] = f"{folder}/Nowhere.mkv"

    response = httpx.post(f"{api_server.url}/api/webhooks/radarr", json=body, headers=HEADERS)

    assert response.status_code == 202, response.text
    job = wait_for_job(response.json()["job_id"])
    # The path reached the log (escaped), so the check below is not vacuous.
    escaped = "\\n[fake] ERROR forged\\x1b[31m"
    log = wait_until(lambda: escaped in worker.log() and worker.log(), what=f"{job.id} logged")
    assert not [line for line in log.splitlines() if line.startswith("[fake]")]
    assert "\x1b" not in log
