"""Messages to people through Apprise, end to end: a real worker sends them to a local
HTTP server through Apprise's ``json://`` scheme, as it would to Discord or ntfy."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api
from tests.conftest import REPO_ROOT, ApiServer, WorkerProcess
from tests.pipeline import clear_catalog, fixture, make_movie

PASSWORD = "s3cret-pass"  # in the URL's credentials: never shown
HEADER_TOKEN = "hdr-t0ken"  # in a header the URL sets: never shown either
PAGE = "http://media.home:8000"


class Receiver:
    """A local HTTP server that keeps each JSON body posted to it; answers 500 to the
    next ``fail_first`` posts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                failing = receiver.fail_first > 0
                receiver.fail_first -= 1
                if not failing:
                    receiver.bodies.append(json.loads(body))
                    receiver.headers.append(dict(self.headers))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        """An Apprise URL posting JSON here, with a password and a header."""
        return f"json://people:{PASSWORD}@127.0.0.1:{self.port}/{path}?+X-Token={HEADER_TOKEN}"

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """The bodies, once there are ``count``."""
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.bodies) >= count, self.bodies
        return self.bodies


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    """Two services (the second fails as a test asks)."""
    steady, flaky = Receiver(), Receiver()
    yield steady, flaky
    steady.server.shutdown()
    flaky.server.shutdown()


@pytest.fixture(scope="module")
def worker(database: str, receivers: tuple[Receiver, Receiver]) -> Iterator[WorkerProcess]:
    """A worker telling both services of failures and of imports every player took."""
    steady, flaky = receivers
    env = {
        "ORCH_NOTIFY_URLS": f"{steady.url('steady')}, {flaky.url('flaky')}",
        "ORCH_NOTIFY_ON": "failed,completed",
        "ORCH_PUBLIC_URL": PAGE,
    }
    process = WorkerProcess.for_module(concurrency=2, env=env)
    yield process
    process.stop()


@pytest.fixture
def api(worker: WorkerProcess, api_server: ApiServer) -> Api:
    """The live API, with the worker running."""
    clear_catalog()
    return Api(api_server, worker)


def _people_job(api: Api, about_job: str, timeout: float = 30) -> dict[str, Any]:
    """The notify-people job telling of ``about_job``, once it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in api.get("/api/v1/jobs?type=notify-people&limit=100")["items"]:
            job = api.job(item["id"])
            if job["payload"]["job_id"] == about_job and job["status"] in ("completed", "failed"):
                return job
        time.sleep(0.1)
    raise api.stuck(f"no finished notify-people job for {about_job}")


def test_a_failure_reaches_every_service_once_with_a_retry_for_the_one_that_failed(
    api: Api, receivers: tuple[Receiver, Receiver]
) -> None:
    steady, flaky = receivers
    flaky.fail_first = 1
    before = len(steady.bodies), len(flaky.bodies)
    failed = api.post("/api/v1/jobs", {"type": "test-permanent", "payload": {}}).json()

    told = _people_job(api, failed["id"])

    # The flaky service refused the first attempt; the retry sent to it alone.
    assert (told["status"], told["attempts"]) == ("completed", 2), told
    assert (len(steady.bodies), len(flaky.bodies)) == (before[0] + 1, before[1] + 1)
    message = steady.bodies[-1]
    assert message["type"] == "failure"
    assert message["title"] == "Failed: test-permanent"
    assert "Error: " in message["message"]
    assert f"{PAGE}/#job={failed['id']}" in message["message"]
    assert flaky.bodies[-1]["message"] == message["message"]
    assert steady.headers[-1]["X-Token"] == HEADER_TOKEN  # the URL's header was sent
    # The chain it tells of is as it was: failed, with no child.
    assert api.job(failed["id"])["status"] == "failed"
    assert api.job(failed["id"])["children"] == []


def test_an_import_every_player_took_is_told_with_the_players(
    api: Api, receivers: tuple[Receiver, Receiver], tmp_path: Path
) -> None:
    steady, _ = receivers
    library_path = tmp_path / "movies"
    library_path.mkdir()
    library = api.create(
        "/api/v1/libraries", {"name": "Movies", "path": str(library_path), "kind": "movies"}
    )
    api.create("/api/v1/path-mappings", {"source": "radarr", "from": "/movies",
                                         "to": str(library_path)})  # fmt: skip
    group = api.create("/api/v1/player-groups", {"name": "Living room",
                                                 "library_ids": [library["id"]]})  # fmt: skip
    api.create("/api/v1/players", {"name": "try-it", "type": "log", "group_id": group["id"]})
    make_movie(library_path, "The Matrix (1999)", 603)

    jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))
    told = _people_job(api, jobs[-1]["id"])

    assert jobs[-1]["type"] == "notify-players" and jobs[-1]["status"] == "completed"
    assert told["status"] == "completed"
    message = next(b for b in reversed(steady.bodies) if jobs[-1]["id"] in b["message"])
    assert message["type"] == "success"
    assert message["title"].startswith("Imported: notify-players")
    assert "Living room: told try-it" in message["message"]


def test_no_secret_of_a_url_is_shown_in_the_job_or_the_log(
    api: Api, worker: WorkerProcess, receivers: tuple[Receiver, Receiver]
) -> None:
    failed = api.post("/api/v1/jobs", {"type": "test-permanent", "payload": {}}).json()
    told = _people_job(api, failed["id"])
    shown = json.dumps(told) + worker.log()

    assert told["result"]["sent_to"][0] == f"json://127.0.0.1:{receivers[0].port}"
    for secret in (PASSWORD, HEADER_TOKEN, "people:"):
        assert secret not in shown


def test_a_url_apprise_cannot_use_stops_a_command_in_one_line_without_echoing_it(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "ORCH_DATA_DIR": str(tmp_path),
        "ORCH_NOTIFY_URLS": f"json://127.0.0.1/ok, nosuchservice://user:{PASSWORD}@host/x",
    }
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "jobs", "list"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode != 0
    assert "URL 2 (nosuchservice://…) is not one Apprise can send to" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
