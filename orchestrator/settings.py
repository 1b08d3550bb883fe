"""Settings: defaults, overridden by ``ORCH_*`` environment variables.

Every process (API, worker, beat, CLI) builds its settings the same way, so a
command run beside ``orchestrator up`` with the same ``ORCH_DATA_DIR`` finds the
same embedded broker and database. Each field ``name`` of a settings class is read
from ``ORCH_NAME``; ``.env.example`` and the README's configuration table document
each one with its default (``tests/unit/test_settings_documented.py`` checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError
from pydantic_settings.sources.utils import parse_env_vars

from orchestrator.errors import ConfigurationError

EMBEDDED_REDIS_SOCKET = "redis.sock"
SQLITE_FILE = "orchestrator.db"
BUILTIN_JOB_MODULES = ("orchestrator.jobs.maintenance", "tasks")
ENV_PREFIX = "ORCH_"


# What marks a var/ as a deployment's data dir: its database or its generated API key.
DATA_DIR_MARKS = (SQLITE_FILE, "api_key")


def nearest_data_dir(here: Path) -> Path:
    """The data dir when ``ORCH_DATA_DIR`` is unset: the ``var/`` of ``here`` or of the
    nearest folder above it that holds a deployment's files (as git finds its repository),
    so that a command run from a sub-folder finds the deployment ``up`` made; else
    ``./var``, where ``up`` makes one."""
    for folder in (here, *here.parents):
        if any((folder / "var" / mark).exists() for mark in DATA_DIR_MARKS):
            return Path("var") if folder == here else folder / "var"
    return Path("var")


class InvalidSettings(ConfigurationError):
    """A variable's value does not fit its setting; the message names the variable."""


# Every settings class defined, the platform's and the services' (EnvSettings adds each).
_settings_classes: list[type[EnvSettings]] = []


class EnvSettings(BaseSettings):
    """Settings read from ``ORCH_<FIELD>`` variables by :func:`load_settings`; an empty
    value counts as unset. Built directly, they take the values given and the defaults."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: object) -> None:
        """Remember each settings class: :func:`read_environment` checks them all."""
        super().__pydantic_init_subclass__(**kwargs)
        _settings_classes.append(cls)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: load_settings reads the environment, the process's or
        another one (a child process's), in one way."""
        return (init_settings,)

    def but(self, **changes: object) -> Self:
        """These settings with ``changes``, validated as when they were read."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each environment variable of this class, with the field it sets."""
        return {f"{ENV_PREFIX}{name.upper()}": name for name in cls.model_fields}


class Settings(EnvSettings):
    """The platform's configuration (see ``.env.example`` for each variable)."""

    # ORCH_DATA_DIR, else the nearest var/ a deployment made here or above (see below).
    data_dir: Path = Field(default_factory=lambda: nearest_data_dir(Path.cwd()))
    broker_url: str | None = None
    database_url: str | None = None
    redis_url: str | None = None
    api_key: str | None = None
    # Built-in job types always load; ORCH_JOB_MODULES (comma-separated) adds the user's own.
    job_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(BUILTIN_JOB_MODULES)
    )
    flower_user: str = "admin"
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
    # A database or broker that stays silent this long (a dead host, a cut cable: packets
    # dropped, not refused) is given up: the call fails instead of hanging (seconds).
    network_timeout: float = 10.0
    # Beat's schedule belongs to one beat of the deployment for this long unless renewed
    # (every 5 s): a dead beat's schedule passes on to another within it (seconds).
    beat_lease: float = 30.0
    log_format: str = "text"
    # How long a SQLite writer waits for the write lock before giving up (503).
    sqlite_busy_timeout: float = 30.0
    max_request_bytes: int = 1024 * 1024
    # Seconds one run of a job may take unless its type says otherwise (``@job``).
    job_time_limit: float = 900.0
    log_level: str = "INFO"
    # Event streams each API process serves at once (each holds a thread); more get 503.
    max_streams: int = 128
    # The embedded Redis's memory ceiling (its maxmemory, with no eviction): queued
    # messages past it are refused, and the API answers new work with 503 as it nears it.
    redis_maxmemory: str = "256mb"

    @field_validator("job_modules", mode="before")
    @classmethod
    def _builtin_and_listed_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return [*BUILTIN_JOB_MODULES, *_split(value)]
        return value

    @property
    def migration_packages(self) -> list[str]:
        """Packages whose ``migrations/versions`` folder holds their own Alembic branch."""
        return ["services"]

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
        return self.redis_url or self.broker_redis_url

    @property
    def broker_redis_url(self) -> str | None:
        """The broker's URL in redis-py's form when the broker is a Redis, else None."""
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


class _Environ(EnvSettingsSource):
    """The ``ORCH_*`` variables of a given mapping, read as those of the process are."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


S = TypeVar("S", bound=EnvSettings)


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """``cls`` read from ``environ`` (``os.environ`` by default); raises
    :class:`InvalidSettings` naming each variable whose value does not fit."""
    try:
        return cls(**_Environ(cls, os.environ if environ is None else environ)())
    except SourceError as exc:
        raise InvalidSettings(str(exc)) from None
    except ValidationError as exc:
        names = {field: name for name, field in cls.variables().items()}
        # A secret's value is never repeated: the message goes to terminals and logs.
        secrets = {name for name, field in cls.model_fields.items() if _is_secret(field.annotation)}
        problems = [
            f"{names.get(str(error['loc'][0]), error['loc'][0])}"
            f"{'' if error['loc'][0] in secrets else '=' + repr(error['input'])}:"
            f" {error['msg'][0].lower()}{error['msg'][1:]}"
            for error in exc.errors()
        ]
        raise InvalidSettings("; ".join(problems)) from None


def _is_secret(annotation: Any) -> bool:
    return SecretStr in (annotation, *get_args(annotation))


def read_settings(cls: type[S]) -> S:
    """``cls`` read from this process's environment; a bad value ends the process with
    one line naming its variable."""
    try:
        return load_settings(cls)
    except InvalidSettings as exc:
        # Every process reads its settings while it starts (celeryconfig, at import, and
        # the job modules): a traceback there would bury the one line that matters.
        raise SystemExit(f"invalid configuration: {exc}") from None


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default)."""
    return load_settings(Settings, environ)


def read_environment() -> Settings:
    """The platform's settings from this process's environment, once every settings
    class defined so far (the media's too) has been checked: a bad value of any ends
    the process with one line naming its variable, before it does anything."""
    for cls in _settings_classes:
        read_settings(cls)
    return read_settings(Settings)
