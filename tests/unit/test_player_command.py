"""The ``command`` player: real executables (bash scripts written here), run with no shell."""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import pytest

from services.players import PlayerError, PlayerSettings, PlayerUnavailable, client_for
from services.players.base import ScanTarget
from services.players.command import OUTPUT_GRACE_SECONDS, CommandClient

# Names a shell would expand or split: the command must get them as they are.
FOLDER = "/mnt/movies/Don't $(touch pwned) `x` & Co (1999)"
TARGET = ScanTarget(FOLDER, "Modified", "movies", library="Films; rm -rf ~")


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "notify.sh"
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)
    return path


def client(command: Path | str, time_limit: int | None = None) -> CommandClient:
    settings = PlayerSettings(type="command", url="", command=str(command), time_limit=time_limit)
    made = client_for(settings)
    assert isinstance(made, CommandClient)
    return made


def test_the_arguments_reach_it_as_they_are_and_the_environment_holds_only_what_it_needs(
    tmp_path: Path,
) -> None:
    out = shlex.quote(str(tmp_path / "argv"))
    notify = script(tmp_path, f"printf '%s\\n' \"$@\" > {out}\nenv")

    details = client(notify).notify(TARGET)

    assert (tmp_path / "argv").read_text().splitlines() == [FOLDER, "Modified", "Films; rm -rf ~"]
    assert not (tmp_path / "pwned").exists()
    env = dict(line.split("=", 1) for line in details["stdout"].splitlines() if "=" in line)
    assert env["ORCH_FOLDER"] == FOLDER and env["ORCH_CONTENT"] == "movies"
    # The worker's own settings (its API key, its database) are not handed on.
    assert os.environ.get("ORCH_API_KEY") and "ORCH_API_KEY" not in env
    assert "ORCH_DATABASE_URL" not in env
    assert env["PATH"]
    assert (details["exit_code"], details["verified"]) == (0, False)


def test_the_test_runs_nothing_and_names_what_is_wrong(tmp_path: Path) -> None:
    notify = script(tmp_path, f"touch {shlex.quote(str(tmp_path / 'ran'))}")

    assert client(notify).ping() == {"version": "executable"}
    assert not (tmp_path / "ran").exists()
    notify.chmod(0o644)
    with pytest.raises(PlayerError, match="not executable"):
        client(notify).ping()
    with pytest.raises(PlayerError, match="does not exist"):
        client(tmp_path / "gone.sh").ping()
    with pytest.raises(PlayerError, match="no command is set"):
        client("").ping()


@pytest.mark.parametrize(
    ("code", "error"), [(75, PlayerUnavailable), (1, PlayerError), (2, PlayerError)]
)
def test_exit_75_is_retryable_and_any_other_failure_is_not(
    tmp_path: Path, code: int, error: type[PlayerError]
) -> None:
    notify = script(tmp_path, f"echo one >&2; echo 'the last words' >&2; echo >&2; exit {code}")

    with pytest.raises(PlayerError) as caught:
        client(notify).notify(TARGET)

    assert type(caught.value) is error
    assert str(caught.value).endswith(f"exit {code}: the last words") or code == 75
    assert "the last words" in str(caught.value) and "one" not in str(caught.value)


def test_a_command_killed_by_a_signal_says_which(tmp_path: Path) -> None:
    with pytest.raises(PlayerError, match="killed by SIGTERM") as caught:
        client(script(tmp_path, "kill -TERM $$")).notify(TARGET)
    assert not isinstance(caught.value, PlayerUnavailable)


def test_a_file_that_cannot_be_run_is_a_permanent_error(tmp_path: Path) -> None:
    no_interpreter = tmp_path / "no-shebang"
    no_interpreter.write_bytes(b"\x00\x01 not a program")
    no_interpreter.chmod(0o755)

    with pytest.raises(PlayerError, match="cannot run it") as caught:
        client(no_interpreter).notify(TARGET)
    assert not isinstance(caught.value, PlayerUnavailable)


def test_a_process_left_in_the_background_does_not_hold_the_notification(
    tmp_path: Path,
) -> None:
    pid_file = shlex.quote(str(tmp_path / "pid"))
    notify = script(tmp_path, f"sleep 30 & echo $! > {pid_file}\necho started")
    started = time.monotonic()

    details = client(notify, time_limit=20).notify(TARGET)

    assert time.monotonic() - started < OUTPUT_GRACE_SECONDS + 3
    assert (details["exit_code"], details["stdout"]) == (0, "started\n")
    os.kill(int((tmp_path / "pid").read_text()), 9)  # what the household's script left


def test_a_command_that_closes_its_output_is_still_stopped_at_its_limit(tmp_path: Path) -> None:
    notify = script(tmp_path, "exec >/dev/null 2>&1\nsleep 30")
    started = time.monotonic()

    with pytest.raises(PlayerUnavailable, match="time limit of 1 s"):
        client(notify, time_limit=1).notify(TARGET)

    assert time.monotonic() - started < 4


def test_an_empty_folder_is_refused_before_anything_runs(tmp_path: Path) -> None:
    notify = script(tmp_path, f"touch {shlex.quote(str(tmp_path / 'ran'))}")
    with pytest.raises(ValueError, match="directory"):
        client(notify).notify(ScanTarget("  "))
    assert not (tmp_path / "ran").exists()
