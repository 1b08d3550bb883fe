"""The README's shell blocks run as written, so they cannot rot.

Each block runs in bash from the repository's root, as a user who followed the README
would run it, with only what a test must change: its own empty database (the ids the
blocks name start at 1), the test API's address and key file, folders under a temporary
directory, and players on loopback (fake Kodis) instead of the example's LAN addresses.
A block that cannot run here says why, and is checked another way; a new block must be
added to one list or the other.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.runtime import build, current, use
from orchestrator.storage.migrate import upgrade
from tests.conftest import API_KEY, REPO_ROOT, ApiServer, WorkerProcess, wait_for_job
from tests.fakes.players import FakeKodi
from tests.pipeline import make_movie

README = (REPO_ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)

# A block is known by its first line.
RUN = (
    "O=.venv/bin/orchestrator\n$O library add",
    'O=.venv/bin/orchestrator\n$O group add "Dry run"',
    ".venv/bin/celery -A orchestrator",
    "KEY=$(cat var/api_key)",
    "O=.venv/bin/orchestrator\nKEY=$($O key add",
)
NOT_RUN = {
    "make up": "runs the stack until Ctrl-C (tests/e2e/test_up.py runs `up`); checked by make -n",
    'echo "ORCH_API_KEY': "needs Docker; tests/unit/test_compose.py checks the Compose file",
    "orchestrator up [": "a synopsis, not a script: each command and option is checked",
}


def _block(first: str) -> str:
    [block] = [block for block in BLOCKS if block.startswith(first)]
    return block


def _bash(script: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def own_database(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A new, migrated database for this module, this process's and its children's: the
    environment the blocks run in."""
    url = f"sqlite:///{tmp_path_factory.mktemp('readme') / 'readme.db'}"
    upgrade(url)
    session_runtime = current()
    runtime = use(build(session_runtime.settings.but(database_url=url)))
    try:
        # PYTHONPATH: the tests' own job types (ORCH_JOB_MODULES=tests.jobs) load too.
        yield {**os.environ, "ORCH_DATABASE_URL": url, "PYTHONPATH": str(REPO_ROOT)}
    finally:
        use(session_runtime)
        runtime.close()


@pytest.fixture(scope="module")
def readme_worker(own_database: dict) -> Iterator[WorkerProcess]:
    process = WorkerProcess.for_module(
        concurrency=1, env={"ORCH_DATABASE_URL": own_database["ORCH_DATABASE_URL"]}
    )
    yield process
    process.stop()


def test_every_shell_block_is_run_or_says_why_not() -> None:
    firsts = [block.splitlines()[0] for block in BLOCKS]
    known = [b for b in BLOCKS if b.startswith((*RUN, *NOT_RUN))]
    assert [b.splitlines()[0] for b in BLOCKS if b not in known] == []
    assert len(firsts) == len(RUN) + len(NOT_RUN)


def test_the_make_targets_named_exist() -> None:
    targets = re.findall(r"^make ([\w-]+)", _block("make up"), re.M)
    targets += re.findall(r"`make ([\w-]+)", README)
    done = subprocess.run(
        ["make", "-n", *sorted(set(targets))], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert {"up", "test", "test-fast"} <= set(targets)
    assert done.returncode == 0, done.stderr


def _synopsis_commands() -> list[tuple[list[str], list[str]]]:
    """(command words, long options) of each alternative of the synopsis's lines."""
    commands = []
    for line in _block("orchestrator up [").splitlines():
        words = line.split("#")[0].split()[1:]
        alternatives = " ".join(words).split(" | ")
        prefix: list[str] = []
        for index, alternative in enumerate(alternatives):
            names = []
            for word in alternative.split():
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                names.append(word)
            command = names if index == 0 else prefix + names[:1]
            prefix = command[:-1] if index == 0 else prefix
            commands.append((command, re.findall(r"--[a-z][a-z-]*", alternative)))
    return commands


def test_each_command_of_the_synopsis_takes_the_options_shown() -> None:
    commands = _synopsis_commands()
    assert len(commands) >= 15
    for words, options in commands:
        shown = CliRunner().invoke(main, [*words, "--help"])
        assert shown.exit_code == 0, (words, shown.output)
        for option in options:
            assert option in shown.output, (words, option)


def test_connecting_radarr_sonarr_and_the_players_then_a_dry_run(
    readme_worker: WorkerProcess, own_database: dict, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    for name in ("movies", "tv"):
        (data / name).mkdir(parents=True)
    living_room = FakeKodi(username="kodi", password="secret")
    bedroom = FakeKodi()
    heat = data / "movies" / "Heat (1995)"
    try:
        for kodi in (living_room, bedroom):
            kodi.add_source("smb://nas/movies", "movies", disk=data / "movies")
            kodi.add_source("smb://nas/tv", "tvshows", disk=data / "tv")
        script = (
            _block("O=.venv/bin/orchestrator\n$O library add")
            .replace("/data/", f"{data}/")
            .replace("http://192.168.1.20:8080", living_room.url)
            .replace("http://192.168.1.21:8080", bedroom.url)
        )
        done = _bash(script, own_database)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "reachable" in done.stdout
        assert "secret" not in done.stdout + done.stderr
        assert living_room.methods()[:2] == ["JSONRPC.Ping", "JSONRPC.Version"]

        # The dry run: its group and player, a scan of a movie folder, what would be sent
        # (the living room's Kodi is told too: it serves the same library).
        make_movie(data / "movies", heat.name, 949)  # as Radarr leaves it: video and NFO
        dry_block = _block('O=.venv/bin/orchestrator\n$O group add "Dry run"')
        dry_run = _bash(dry_block.replace("/data/", f"{data}/"), own_database, timeout=120)
    finally:
        living_room.stop()
        bedroom.stop()

    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr
    assert f"completed: manual-scan {heat}" in dry_run.stdout
    shown = json.loads(dry_run.stdout[dry_run.stdout.rindex('{\n  "id"') :])
    groups = {group["player"]: group for group in shown["result"]["groups"]}
    assert groups["try-it"]["verification"] == "dry run: nothing was sent to any player"
    would_send = groups["try-it"]["details"]["would_send"]
    assert would_send["kodi"][-1] == "VideoLibrary.Scan smb://nas/movies/Heat (1995)/"
    assert living_room.scans() == [
        {"directory": "smb://nas/movies/Heat (1995)/", "showdialogs": False}
    ]  # what the dry run said Kodi would be asked


def test_the_stock_celery_cli(readme_worker: WorkerProcess, own_database: dict) -> None:
    lines = _block(".venv/bin/celery -A orchestrator").splitlines()
    inspect, call, revoke, result = (line.split("#")[0].strip() for line in lines)

    assert readme_worker.hostname in _bash(inspect, own_database).stdout
    called = _bash(call, own_database)
    assert called.returncode == 0, called.stderr
    job_id = called.stdout.strip()
    job = wait_for_job(job_id)
    assert job.status == "completed" and job.result["libraries"] == len(job.result["jobs"])
    assert _bash(revoke.replace("<job id>", job_id), own_database).returncode == 0
    shown = _bash(result.replace("<job id>", job_id), own_database)
    assert ast.literal_eval(shown.stdout.strip()) == job.result


def test_submitting_and_streaming_a_job_with_curl(
    readme_worker: WorkerProcess, own_database: dict, tmp_path: Path
) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text(API_KEY)
    api = ApiServer()
    try:
        script = (
            _block("KEY=$(cat var/api_key)")
            .replace("var/api_key", str(key_file))
            .replace("http://127.0.0.1:8000", api.url)
        )
        done = _bash(script, own_database)
    finally:
        api.stop()

    assert done.returncode == 0, done.stdout + done.stderr
    events = re.findall(r"^event: (\S+)", done.stdout, re.M)
    assert events[0] == "job.created"
    assert events[-1] == "job.completed"


def test_a_webhooks_key_for_radarr(own_database: dict) -> None:
    api = ApiServer()
    try:
        script = _block("O=.venv/bin/orchestrator\nKEY=$($O key add").replace(
            "http://127.0.0.1:8000", api.url
        )
        done = _bash(script, own_database)
    finally:
        api.stop()

    assert done.returncode == 0, done.stdout + done.stderr
    queued, refused, *listed = done.stdout.splitlines()
    assert json.loads(queued)["status"] == "queued"
    assert json.loads(refused)["detail"].startswith("this key's scope is webhooks: GET")
    assert listed[1].startswith("radarr ") and " webhooks " in listed[1]
    assert listed[-1] == "revoked key radarr (scope webhooks)"
    assert "only time it is shown" in done.stderr
