"""Settings from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import ConfigurationError
from orchestrator.settings import (
    InvalidSettings,
    Settings,
    load_settings,
    nearest_data_dir,
    settings_from_env,
)
from tasks.settings import MediaSettings, media_settings
from tests.conftest import REPO_ROOT


def test_defaults_use_the_embedded_stack_under_the_data_dir() -> None:
    settings = settings_from_env({"ORCH_DATA_DIR": "/srv/orch"})

    assert settings.uses_embedded_redis
    assert settings.effective_broker_url == "redis+socket:///srv/orch/redis.sock"
    assert settings.effective_redis_url == "unix:///srv/orch/redis.sock"
    assert settings.effective_database_url == "sqlite:////srv/orch/orchestrator.db"
    assert settings.job_modules == ["orchestrator.jobs.maintenance", "tasks"]


def test_configured_services_and_job_modules() -> None:
    settings = settings_from_env(
        {
            "ORCH_BROKER_URL": "amqp://guest:guest@localhost//",
            "ORCH_DATABASE_URL": "postgresql://u:p@db/orch",
            "ORCH_JOB_MODULES": "mypkg.jobs, other.jobs ,",
            "ORCH_VISIBILITY_TIMEOUT": "7200",
        }
    )

    assert not settings.uses_embedded_redis
    assert settings.effective_redis_url is None
    assert settings.effective_database_url == "postgresql+psycopg://u:p@db/orch"
    assert settings.job_modules == [
        "orchestrator.jobs.maintenance",
        "tasks",
        "mypkg.jobs",
        "other.jobs",
    ]
    assert settings.visibility_timeout == 7200
    assert settings.data_dir == Path("var")


def test_redis_broker_doubles_as_event_bus() -> None:
    settings = settings_from_env({"ORCH_BROKER_URL": "redis://localhost:6379/0"})
    assert settings.effective_redis_url == "redis://localhost:6379/0"


def test_an_empty_value_counts_as_unset() -> None:
    settings = settings_from_env(
        {"ORCH_API_KEY": "", "ORCH_FLOWER_USER": "", "ORCH_MAX_STREAMS": ""}
    )

    assert (settings.api_key, settings.flower_user, settings.max_streams) == (None, "admin", 128)


def test_settings_built_directly_take_only_the_values_given() -> None:
    # The test process has ORCH_API_KEY and ORCH_JOB_MODULES set (tests/conftest.py).
    settings = Settings(data_dir=Path("/srv/orch"))

    assert settings.api_key is None
    assert settings.job_modules == ["orchestrator.jobs.maintenance", "tasks"]


def test_a_bad_value_is_refused_naming_its_variable() -> None:
    with pytest.raises(InvalidSettings) as refused:
        settings_from_env({"ORCH_VISIBILITY_TIMEOUT": "an hour", "ORCH_SWEEP_GRACE": "1"})

    assert str(refused.value) == (
        "ORCH_VISIBILITY_TIMEOUT='an hour': input should be a valid integer,"
        " unable to parse string as an integer"
    )
    assert isinstance(refused.value, ConfigurationError)  # the operator must fix it


def test_the_media_settings_are_read_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(MediaSettings, {}) == MediaSettings()
    assert MediaSettings().import_wait == 600.0
    monkeypatch.setenv("ORCH_IMPORT_WAIT", "30")
    media_settings.cache_clear()
    try:
        assert media_settings().import_wait == 30.0
        monkeypatch.setenv("ORCH_IMPORT_WAIT", "60")
        assert media_settings().import_wait == 30.0  # once per process
    finally:
        media_settings.cache_clear()


@pytest.mark.parametrize("variable", ["ORCH_RETENTION_DAYS", "ORCH_SCAN_DELAY"])
def test_the_cli_refuses_a_bad_value_in_one_line(tmp_path: Path, variable: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
    env.update(ORCH_DATA_DIR=str(tmp_path / "var"), **{variable: "a week"})

    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "jobs", "list"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"invalid configuration: {variable}='a week': input should be a valid number,"
        " unable to parse string as a number"
    )


def test_the_data_dir_is_the_nearest_var_a_deployment_made(tmp_path: Path) -> None:
    deployment, inner = tmp_path / "home", tmp_path / "home" / "media" / "new"
    inner.mkdir(parents=True)
    assert nearest_data_dir(inner) == Path("var")  # none yet: ./var, where up makes one
    (deployment / "var").mkdir()
    assert nearest_data_dir(inner) == Path("var")  # an empty var/ is no deployment's
    (deployment / "var" / "api_key").write_text("k" * 32)
    assert nearest_data_dir(inner) == deployment / "var"
    assert nearest_data_dir(deployment) == Path("var")  # its own: as before, relative


def test_a_command_outside_a_deployment_says_where_it_looked_and_makes_nothing(
    tmp_path: Path,
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
    env["PYTHONPATH"] = str(REPO_ROOT)

    def orchestrator(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator", *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    (tmp_path / "elsewhere").mkdir()
    outside = orchestrator("jobs", "list", cwd=tmp_path / "elsewhere")
    assert outside.returncode == 1
    assert outside.stderr.startswith(f"Error: no orchestrator database in {tmp_path}/elsewhere/var")
    assert "ORCH_DATA_DIR" in outside.stderr and outside.stderr.count("\n") == 1
    assert list((tmp_path / "elsewhere").iterdir()) == []  # nothing made
    assert orchestrator("jobs", "list", "--help", cwd=tmp_path / "elsewhere").returncode == 0

    deployment = tmp_path / "home"
    (deployment / "media" / "new").mkdir(parents=True)
    assert orchestrator("db", "upgrade", cwd=deployment).returncode == 0
    inside = orchestrator("jobs", "list", cwd=deployment / "media" / "new")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.startswith("ID ")
    assert list((deployment / "media" / "new").iterdir()) == []
