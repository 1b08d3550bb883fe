"""Settings: defaults, overridden by ``ORCH_*`` environment variables.

Every process (API, worker, beat, CLI) builds its settings the same way, so a
command run beside ``orchestrator up`` with the same ``ORCH_DATA_DIR`` finds the
same embedded broker and database.
"""

from __future__ import annotations

import os
from functools import cached_property, lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

EMBEDDED_REDIS_SOCKET = "redis.sock"
SQLITE_FILE = "orchestrator.db"
BUILTIN_JOB_MODULES = ("orchestrator.maintenance", "tasks")


class Settings(BaseModel):
    """The orchestrator's configuration (see ``.env.example`` for each variable)."""

    data_dir: Path = Path("var")
    broker_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    api_key: str | None = None
    job_modules: list[str] = Field(default_factory=lambda: list(BUILTIN_JOB_MODULES))
    # Packages whose ``migrations/versions`` folder holds their own Alembic branch.
    migration_packages: list[str] = Field(default_factory=lambda: ["services"])
    flower_user: str | None = None
    flower_password: str | None = None
    # Redis re-delivers an unacknowledged message after this many seconds, so it
    # must exceed the longest job plus the longest retry delay (docs/design.md §3.7).
    visibility_timeout: int = 3600
    retry_backoff_cap: float = 600.0
    sweep_interval: float = 30.0
    # A row left unpublished for this long is re-published by the sweep.
    sweep_grace: float = 10.0
    sse_keepalive: float = 15.0
    retention_days: float = 30.0
    # A job "processing" that no live worker holds for this long is given back to the queue.
    reaper_timeout: float = 600.0
    reaper_interval: float = 10.0
    # A worker that has not answered the reaper for this long is dead: its jobs go back.
    worker_timeout: float = 25.0
    log_format: str = "text"
    # How long a SQLite writer waits for the write lock before giving up (503).
    sqlite_busy_timeout: float = 30.0
    max_request_bytes: int = 1024 * 1024
    # Seconds one run of a job may take unless its type says otherwise (``@job``).
    job_time_limit: float = 900.0
    log_level: str = "INFO"
    # Event streams each API process serves at once (each holds a thread); more get 503.
    max_streams: int = 128

    @property
    def embedded_redis_socket(self) -> Path:
        """Where the embedded Redis listens when no broker is configured."""
        return self.data_dir.resolve() / EMBEDDED_REDIS_SOCKET

    @property
    def uses_embedded_redis(self) -> bool:
        """True when no broker URL is configured and the embedded Redis is used."""
        return not self.broker_url

    @property
    def effective_broker_url(self) -> str:
        """The Celery broker URL: the configured one or the embedded Redis socket."""
        if self.broker_url:
            return self.broker_url
        return f"redis+socket://{self.embedded_redis_socket}"

    @property
    def effective_redis_url(self) -> str | None:
        """A Redis URL (redis-py form) for live events and locks, if one is available."""
        if self.redis_url:
            return self.redis_url
        broker = self.effective_broker_url
        if broker.startswith("redis+socket://"):
            return "unix://" + broker.removeprefix("redis+socket://")
        if broker.startswith(("redis://", "rediss://")):
            return broker
        return None

    @cached_property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one (psycopg for PostgreSQL) or SQLite."""
        # Cached: every transaction asks, and resolving the data dir is a system call.
        url = self.database_url or f"sqlite:///{self.data_dir.resolve() / SQLITE_FILE}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


_ENV_FIELDS = {
    "ORCH_DATA_DIR": "data_dir",
    "ORCH_BROKER_URL": "broker_url",
    "ORCH_DATABASE_URL": "database_url",
    "ORCH_REDIS_URL": "redis_url",
    "ORCH_API_KEY": "api_key",
    "ORCH_FLOWER_USER": "flower_user",
    "ORCH_FLOWER_PASSWORD": "flower_password",
    "ORCH_VISIBILITY_TIMEOUT": "visibility_timeout",
    "ORCH_RETRY_BACKOFF_CAP": "retry_backoff_cap",
    "ORCH_SWEEP_INTERVAL": "sweep_interval",
    "ORCH_SWEEP_GRACE": "sweep_grace",
    "ORCH_SSE_KEEPALIVE": "sse_keepalive",
    "ORCH_MAX_REQUEST_BYTES": "max_request_bytes",
    "ORCH_LOG_LEVEL": "log_level",
    "ORCH_LOG_FORMAT": "log_format",
    "ORCH_SQLITE_BUSY_TIMEOUT": "sqlite_busy_timeout",
    "ORCH_RETENTION_DAYS": "retention_days",
    "ORCH_REAPER_TIMEOUT": "reaper_timeout",
    "ORCH_REAPER_INTERVAL": "reaper_interval",
    "ORCH_WORKER_TIMEOUT": "worker_timeout",
    "ORCH_JOB_TIME_LIMIT": "job_time_limit",
    "ORCH_MAX_STREAMS": "max_streams",
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        field: env[name] for name, field in _ENV_FIELDS.items() if env.get(name)
    }
    # Built-in job types always load; ORCH_JOB_MODULES adds the user's own.
    values["job_modules"] = [*BUILTIN_JOB_MODULES, *_split(env.get("ORCH_JOB_MODULES", ""))]
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return settings_from_env()


def reset_settings() -> None:
    """Forget cached settings so the next call re-reads the environment (tests)."""
    get_settings.cache_clear()
