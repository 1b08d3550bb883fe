"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

from orchestrator.settings import settings_from_env


def test_defaults_use_the_embedded_stack_under_the_data_dir() -> None:
    settings = settings_from_env({"ORCH_DATA_DIR": "/srv/orch"})

    assert settings.uses_embedded_redis
    assert settings.effective_broker_url == "redis+socket:///srv/orch/redis.sock"
    assert settings.effective_redis_url == "unix:///srv/orch/redis.sock"
    assert settings.effective_database_url == "sqlite:////srv/orch/orchestrator.db"
    assert settings.job_modules == ["orchestrator.maintenance", "tasks"]


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
    assert settings.job_modules == ["orchestrator.maintenance", "tasks", "mypkg.jobs", "other.jobs"]
    assert settings.visibility_timeout == 7200
    assert settings.data_dir == Path("var")


def test_redis_broker_doubles_as_event_bus() -> None:
    settings = settings_from_env({"ORCH_BROKER_URL": "redis://localhost:6379/0"})
    assert settings.effective_redis_url == "redis://localhost:6379/0"
