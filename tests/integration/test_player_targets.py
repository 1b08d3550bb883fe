"""The ``command`` and ``webhook`` player types, end to end: a Radarr webhook through the live
API and a real worker to a real executable (a bash script written here) or a web server on
127.0.0.1; and their configuration through the API (what is refused, what is never shown).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from orchestrator.storage import api_keys
from services.players.command import DEFAULT_TIME_LIMIT, MAX_TIME_LIMIT, OUTPUT_TAIL_BYTES
from tests.api_client import Api
from tests.conftest import API_KEY, ApiServer, WorkerProcess, sqlite_only, wait_until
from tests.fakes.players import FakeWebhook
from tests.integration.conftest import assert_problem
from tests.pipeline import clear_catalog, fixture, make_movie, unique

AUTH = {"X-Api-Key": API_KEY}
V1 = "/api/v1"
# Where the group's players see the library (the worker's folder is under tmp_path).
SHARE = "/mnt/media/movies"
MOVIE = "The Matrix (1999)"
SECRET = "Bearer hdr-s3cret-5c1e"


@pytest.fixture(autouse=True)
def empty_catalog(database: str) -> None:
    """Each test configures its own library, group and player."""
    clear_catalog()


@pytest.fixture
def on_sqlite(database: str) -> None:
    """Before the worker starts: what a target does with a change is the same over either
    database, and the SQLite run covers it."""
    sqlite_only(database, "what a target does with a change does not depend on the database")


@pytest.fixture
def api(on_sqlite: None, worker: WorkerProcess, api_server: ApiServer) -> Api:
    """The live API, with a worker running."""
    return Api(api_server, worker)


def movies_group(api: Api, tmp_path: Path) -> dict[str, Any]:
    """A movies library with The Matrix in it (Radarr's /movies), and a group seeing it at
    ``SHARE``; returns the group."""
    library_path = tmp_path / "data" / "movies"
    library_path.mkdir(parents=True)
    make_movie(library_path, MOVIE, 603)
    library = api.create(
        f"{V1}/libraries", {"name": "Films", "path": str(library_path), "kind": "movies"}
    )
    api.create(
        f"{V1}/path-mappings", {"source": "radarr", "from": "/movies", "to": str(library_path)}
    )
    return api.create(
        f"{V1}/player-groups",
        {"name": "scripts", "library_ids": [library["id"]],
         "path_mappings": [{"from": str(library_path), "to": SHARE}]},
    )  # fmt: skip


def script(tmp_path: Path, body: str, name: str = "notify.sh") -> Path:
    """An executable bash script holding ``body``."""
    path = tmp_path / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)
    return path


def first_run_then(tmp_path: Path, first: str, later: str = "exit 0") -> str:
    """Script lines doing ``first`` on its first run and ``later`` on the next ones."""
    marker = shlex.quote(str(tmp_path / "ran-once"))
    return f"if [ ! -e {marker} ]; then touch {marker}; {first}; fi\n{later}"


def command_player(api: Api, group: dict[str, Any], command: Path, **extra: Any) -> None:
    api.create(
        f"{V1}/players",
        {"name": "script", "type": "command", "command": str(command),
         "group_id": group["id"], **extra},
    )  # fmt: skip


def radarr_chain(api: Api) -> list[dict[str, Any]]:
    """Post Radarr's download of The Matrix; the chain's jobs once all are final."""
    return api.chain(api.webhook("radarr", fixture("radarr_download")))


def notify_of(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    (notify,) = [j for j in jobs if j["type"] == "notify-players"]
    return notify


# --- command ---------------------------------------------------------------------------


def test_a_command_gets_the_folder_event_and_library_and_its_output_is_kept(
    api: Api, tmp_path: Path
) -> None:
    argv, env_file = tmp_path / "argv.txt", tmp_path / "env.txt"
    notify = script(
        tmp_path,
        f"printf '%s\\n' \"$@\" > {shlex.quote(str(argv))}\n"
        f"env > {shlex.quote(str(env_file))}\n"
        'echo "told: $1"\nfor i in $(seq 2000); do echo "noise $i" >&2; done\necho "done" >&2',
    )
    command_player(api, movies_group(api, tmp_path), notify)

    job = notify_of(radarr_chain(api))

    assert job["status"] == "completed", job
    folder = f"{SHARE}/{MOVIE}"
    assert argv.read_text().splitlines() == [folder, "Created", "Films"]
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert {k: env[k] for k in env if k.startswith("ORCH_")} == {
        "ORCH_FOLDER": folder,
        "ORCH_EVENT": "Created",
        "ORCH_LIBRARY": "Films",
        "ORCH_CONTENT": "movies",
    }  # and none of the worker's own settings (its database, its API key)
    assert "PATH" in env
    outcome = job["result"]["groups"][0]
    assert (outcome["status"], outcome["player"], outcome["verified"]) == (
        "notified",
        "script",
        False,
    )
    details = outcome["details"]
    assert details["exit_code"] == 0
    assert details["stdout"] == f"told: {folder}\n"
    # The end of a long output is kept, a few KB of it.
    assert details["stderr"].endswith("noise 2000\ndone\n")
    assert len(details["stderr"]) == OUTPUT_TAIL_BYTES


def test_a_command_past_its_time_limit_is_killed_with_its_children_and_retried(
    api: Api, tmp_path: Path
) -> None:
    child = tmp_path / "child.pid"
    slow = f"sleep 60 & echo $! > {shlex.quote(str(child))}; wait"
    command_player(
        api, movies_group(api, tmp_path), script(tmp_path, first_run_then(tmp_path, slow)),
        time_limit=1,
    )  # fmt: skip

    root_id = api.webhook("radarr", fixture("radarr_download"))
    job_id = api.notify_job(root_id)
    retrying = wait_until(
        lambda: (job := api.job(job_id))["status"] == "retrying" and job,
        timeout=20,
        what="notify-players retrying",
    )

    assert "time limit of 1 s" in retrying["error"]["message"]
    # Killed with its group before the error was written; gone within moments (not 60 s).
    pid = int(child.read_text())
    wait_until(lambda: not alive(pid), timeout=2, what="the command's child killed")
    job = notify_of(api.chain(root_id))
    assert (job["status"], job["retry_count"]) == ("completed", 1)  # the second run was quick


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is dead, only not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_exit_75_is_retried(api: Api, tmp_path: Path) -> None:
    failing = 'echo "Tdarr is busy" >&2; exit 75'
    command_player(
        api, movies_group(api, tmp_path), script(tmp_path, first_run_then(tmp_path, failing))
    )

    job = notify_of(radarr_chain(api))

    assert (job["status"], job["retry_count"]) == ("completed", 1)
    assert job["result"]["groups"][0]["details"]["exit_code"] == 0


def test_any_other_exit_fails_for_good_naming_the_code_and_the_last_error_line(
    api: Api, tmp_path: Path
) -> None:
    failing = 'echo "first line" >&2; echo "no such library: Films" >&2; exit 3'
    command_player(api, movies_group(api, tmp_path), script(tmp_path, failing))

    job = notify_of(radarr_chain(api))

    assert (job["status"], job["retry_count"]) == ("failed", 0)
    message = job["error"]["message"]
    assert "exit 3: no such library: Films" in message
    assert "first line" not in message


# --- webhook ----------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[FakeWebhook]:
    with FakeWebhook() as server:
        yield server


def webhook_player(api: Api, group: dict[str, Any], receiver: FakeWebhook) -> dict[str, Any]:
    return api.create(
        f"{V1}/players",
        {"name": "hook", "type": "webhook", "url": f"{receiver.url}/hooks/media",
         "group_id": group["id"], "header_name": "Authorization", "header_value": SECRET},
    )  # fmt: skip


def test_a_webhook_gets_the_change_as_json_with_its_header(
    api: Api, tmp_path: Path, receiver: FakeWebhook, worker: WorkerProcess
) -> None:
    player = webhook_player(api, movies_group(api, tmp_path), receiver)

    job = notify_of(radarr_chain(api))

    assert job["status"] == "completed", job
    (request,) = receiver.requests
    assert request["path"] == "/hooks/media"
    assert request["headers"]["authorization"] == SECRET
    assert request["headers"]["content-type"] == "application/json"
    body = request["body"]
    assert body.pop("sent_at").startswith("20")
    assert body == {
        "event": "Created",
        "folder": f"{SHARE}/{MOVIE}",
        "library": "Films",
        "content": "movies",
        "files": [f"{MOVIE}.mkv"],
    }
    assert job["result"]["groups"][0]["details"]["status"] == 200
    # The header's value is write-only: in no answer of the API, no record, no log line.
    shown = api.text(f"{V1}/players").text + api.text(f"{V1}/players/{player['id']}").text
    assert '"has_header_value":true' in shown.replace(" ", "")
    assert '"header_name":"Authorization"' in shown.replace(" ", "")
    record = api.text(f"{V1}/jobs/{job['id']}").text
    for text in (shown, record, worker.log()):
        assert "hdr-s3cret" not in text


def test_a_webhook_answering_500_is_retried(
    api: Api, tmp_path: Path, receiver: FakeWebhook, worker: WorkerProcess
) -> None:
    receiver.statuses = [500]
    webhook_player(api, movies_group(api, tmp_path), receiver)

    job = notify_of(radarr_chain(api))

    assert (job["status"], job["retry_count"]) == ("completed", 1)
    first, second = receiver.requests
    assert first["body"]["folder"] == second["body"]["folder"] == f"{SHARE}/{MOVIE}"
    assert "hdr-s3cret" not in worker.log()


# --- the player test ----------------------------------------------------------------------


def test_the_test_of_a_webhook_posts_a_test_event_and_of_a_command_runs_nothing(
    api: Api, tmp_path: Path, receiver: FakeWebhook
) -> None:
    group = movies_group(api, tmp_path)
    hook = webhook_player(api, group, receiver)
    ran = tmp_path / "ran"
    notify = script(tmp_path, f"touch {shlex.quote(str(ran))}")
    command_player(api, group, notify)
    (command,) = [p for p in api.get(f"{V1}/players")["items"] if p["type"] == "command"]

    tested = api.post(f"{V1}/players/{hook['id']}/test", {}).json()
    assert (tested["ok"], tested["status"]) == (True, "reachable")
    (request,) = receiver.requests
    assert request["body"]["event"] == "Test"
    assert request["headers"]["authorization"] == SECRET

    assert api.post(f"{V1}/players/{command['id']}/test", {}).json()["ok"] is True
    assert not ran.exists()
    notify.chmod(0o644)
    failed = api.post(f"{V1}/players/{command['id']}/test", {}).json()
    assert (failed["ok"], failed["status"]) == (False, "failed")


# --- who may configure one ------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["read", "webhooks"])
def test_only_an_admin_key_may_add_a_command_player(
    api_server: ApiServer, tmp_path: Path, scope: str
) -> None:
    _, key = api_keys.add(unique(f"{scope}-key"), scope)
    body = {"name": "script", "type": "command", "command": str(script(tmp_path, "exit 0")),
            "group_id": 1}  # fmt: skip

    response = httpx.post(
        f"{api_server.url}{V1}/players", json=body, headers={"X-Api-Key": key}, timeout=10
    )

    assert response.status_code == 403, response.text


# --- validation ----------------------------------------------------------------------------


@pytest.fixture
def group_id(client: FlaskClient) -> int:
    body = {"name": unique("group"), "library_ids": [], "path_mappings": []}
    response = client.post(f"{V1}/player-groups", json=body, headers=AUTH)
    assert response.status_code == 201, response.get_data(as_text=True)
    return int(response.get_json()["id"])


def create(client: FlaskClient, group_id: int, **body: Any) -> Any:
    return client.post(
        f"{V1}/players", json={"name": unique("p"), "group_id": group_id, **body}, headers=AUTH
    )


def test_a_command_player_needs_no_url_and_shows_its_command(
    client: FlaskClient, group_id: int, tmp_path: Path
) -> None:
    notify = script(tmp_path, "exit 0")
    response = create(client, group_id, type="command", command=f" {notify} ")

    assert response.status_code == 201, response.get_data(as_text=True)
    player = response.get_json()
    assert (player["url"], player["command"], player["time_limit"]) == ("", str(notify), None)
    assert DEFAULT_TIME_LIMIT == 60


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: None, ["command", "required", "absolute path of an executable"]),
        (lambda tmp: "notify.sh", ["command", "absolute path"]),
        (lambda tmp: str(tmp / "missing.sh"), ["command", "does not exist"]),
        (lambda tmp: str(tmp), ["command", "not a file"]),
        (lambda tmp: not_executable(tmp), ["command", "not executable", "chmod +x"]),
    ],
)  # fmt: skip
def test_a_command_must_be_an_executable_file_here(
    client: FlaskClient, group_id: int, tmp_path: Path, make: Any, words: list[str]
) -> None:
    command = make(tmp_path)
    body = {"type": "command", **({"command": command} if command is not None else {})}

    problem = assert_problem(create(client, group_id, **body), 422, *words)

    assert {e["field"] for e in problem["errors"]} == {"command"}


def not_executable(tmp_path: Path) -> str:
    path = script(tmp_path, "exit 0", "plain.sh")
    path.chmod(0o644)
    return str(path)


@pytest.mark.parametrize("limit", [0, MAX_TIME_LIMIT + 1, 1.5, "a minute"])
def test_a_time_limit_is_whole_seconds_up_to_an_hour(
    client: FlaskClient, group_id: int, tmp_path: Path, limit: Any
) -> None:
    notify = str(script(tmp_path, "exit 0"))
    response = create(client, group_id, type="command", command=notify, time_limit=limit)
    problem = assert_problem(response, 422, "time_limit")
    assert {e["field"] for e in problem["errors"]} == {"time_limit"}
    made = create(client, group_id, type="command", command=notify, time_limit=MAX_TIME_LIMIT)
    assert made.status_code == 201


def test_a_patch_may_not_leave_a_command_player_without_its_command(
    client: FlaskClient, group_id: int
) -> None:
    made = create(client, group_id, type="kodi", url="http://kodi.local:8080")
    player = made.get_json()["id"]

    patched = client.patch(f"{V1}/players/{player}", json={"type": "command"}, headers=AUTH)

    problem = assert_problem(patched, 422, "command", "required")
    assert problem["field"] == "command"
    assert client.get(f"{V1}/players/{player}", headers=AUTH).get_json()["type"] == "kodi"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "url", ["required"]),
        ({"url": "http://hook.local", "header_value": SECRET}, "header_value", ["both"]),
        ({"url": "http://hook.local", "header_name": "X-Key"}, "header_value", ["both"]),
        ({"url": "http://hook.local", "header_name": "Bad Name", "header_value": SECRET},
         "header_name", ["header name"]),
        ({"url": "http://hook.local", "header_name": "Content-Type", "header_value": "x"},
         "header_name", ["set by the orchestrator"]),
        ({"url": "http://hook.local", "header_name": "X-Key", "header_value": f"{SECRET}\r\nX: y"},
         "header_value", ["printable ASCII"]),
    ],
)  # fmt: skip
def test_a_webhook_needs_a_url_and_a_whole_header_whose_value_is_never_echoed(
    client: FlaskClient, group_id: int, body: dict[str, Any], field: str, words: list[str]
) -> None:
    response = create(client, group_id, type="webhook", **body)

    problem = assert_problem(response, 422, field, *words)
    assert field in {e["field"] for e in problem["errors"]}
    assert "hdr-s3cret" not in response.get_data(as_text=True)


def test_a_webhook_header_is_kept_until_cleared_and_never_shown(
    client: FlaskClient, group_id: int
) -> None:
    made = create(
        client, group_id, type="webhook", url="http://hook.local",
        header_name="Authorization", header_value=SECRET,
    )  # fmt: skip
    assert made.status_code == 201, made.get_data(as_text=True)
    player = made.get_json()
    assert (player["header_name"], player["has_header_value"]) == ("Authorization", True)
    assert "header_value" not in player
    url = f"{V1}/players/{player['id']}"

    # Half a header is refused; both cleared, none is sent.
    half = client.patch(url, json={"header_name": None}, headers=AUTH)
    assert_problem(half, 422, "header_name and header_value")
    cleared = client.patch(url, json={"header_name": None, "header_value": None}, headers=AUTH)
    assert cleared.status_code == 200, cleared.get_data(as_text=True)
    assert (cleared.get_json()["header_name"], cleared.get_json()["has_header_value"]) == (
        None,
        False,
    )
    for response in (made, half, cleared, client.get(f"{V1}/players", headers=AUTH)):
        assert "hdr-s3cret" not in response.get_data(as_text=True)
