"""A configured API key shorter than 16 characters is refused at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.settings import Settings
from orchestrator.storage import credentials
from tests.conftest import API_KEY, REPO_ROOT

SHORT_KEY = "k3y-0f-10c"


def test_a_key_of_15_characters_is_refused_without_being_echoed(tmp_path: Path) -> None:
    key = "a" * 10 + "Zq9xW"

    with pytest.raises(credentials.WeakApiKey) as refused:
        credentials.api_key(Settings(data_dir=tmp_path, api_key=key))

    assert "ORCH_API_KEY is shorter than 16 characters" in str(refused.value)
    assert key not in str(refused.value)


def test_keys_of_16_characters_and_more_are_taken(tmp_path: Path) -> None:
    for key in ("x" * 16, API_KEY):
        assert credentials.api_key(Settings(data_dir=tmp_path, api_key=key)) == (key, False)


def test_the_generated_key_is_long_enough(tmp_path: Path) -> None:
    key, generated = credentials.api_key(Settings(data_dir=tmp_path))

    assert generated and len(key) >= credentials.MIN_API_KEY_LENGTH


@pytest.mark.parametrize("command", [["api", "--port", "1"], ["up", "--port", "1"]])
def test_starting_the_api_with_a_short_key_exits_with_what_to_do(
    tmp_path: Path, command: list[str]
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
    env.update(ORCH_DATA_DIR=str(tmp_path / "var"), ORCH_API_KEY=SHORT_KEY)

    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", *command],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "ORCH_API_KEY is shorter than 16 characters" in output
    assert "secrets.token_urlsafe(32)" in output
    assert SHORT_KEY not in output
    assert not (tmp_path / "var" / "redis.sock").exists()  # refused before anything started
