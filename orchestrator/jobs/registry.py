"""Job types: the ``@job`` decorator, the registry, and loading job modules by configuration.

Plain data: the Celery task of each type is made in one place, ``orchestrator.jobs.job_task``.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from orchestrator.errors import UnknownJobType
from orchestrator.jobs.priorities import parse_priority
from orchestrator.observability.logs import routine
from orchestrator.runtime import current

log = logging.getLogger(__name__)

# A handler takes (payload, ctx: JobContext). The context is not named here: it submits
# children through dispatch, which reads this registry, and the registry stays below both.
Handler = Callable[[Any, Any], Any]
F = TypeVar("F", bound=Handler)

# Letters, digits, ``-``, ``_``, ``.`` and ``:`` as Celery task names use them; no
# spaces or control characters (the name is a queue-visible label, a log field and a URL
# parameter), and no more than the database column holds.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


@dataclass(frozen=True)
class JobType:
    """A registered kind of job: its handler and its defaults."""

    name: str
    handler: Handler
    priority: int
    max_retries: int
    retry_base: float
    retry_cap: float | None
    payload_model: type[BaseModel] | None
    # Seconds between beat's runs, or a function that reads them from the settings
    # when beat's schedule is made (a declaration reads no setting at import).
    schedule: float | Callable[[], float] | None = None
    # Seconds a run may take: at the soft limit the handler is interrupted (and the job
    # retried or failed, saying so); at the hard limit its process is killed. None: the
    # worker's default, ORCH_JOB_TIME_LIMIT (celeryconfig's task_soft_time_limit).
    time_limit: float | None = None
    keep_idle: bool = True
    # The platform's own maintenance (the reaper, retention): run by beat, never submitted
    # over the API, where 200 of them would hold the critical lane.
    internal: bool = False
    # The job's summary from its payload (orchestrator/jobs/summaries.py); None: the default.
    summarize: Callable[[dict[str, Any]], str | None] | None = None

    def interval(self) -> float | None:
        """Seconds between beat's runs, or None if beat does not run this type."""
        return self.schedule() if callable(self.schedule) else self.schedule


def hard_time_limit(soft: float) -> float:
    """When the process running a job is killed: its soft limit plus a grace."""
    return soft + min(30.0, soft)


_registry: dict[str, JobType] = {}
# Told of each new job type (``orchestrator.jobs.job_task`` makes its Celery task).
_listeners: list[Callable[[JobType], None]] = []
_loaded_modules: set[str] = set()


def job(
    name: str,
    *,
    priority: int | str = "normal",
    max_retries: int = 3,
    retry_base: float = 2.0,
    retry_cap: float | None = None,
    payload_model: type[BaseModel] | None = None,
    schedule: float | Callable[[], float] | None = None,
    time_limit: float | None = None,
    keep_idle: bool = True,
    summarize: Callable[[dict[str, Any]], str | None] | None = None,
    internal: bool = False,
) -> Callable[[F], F]:
    """Register the decorated function as the handler of job type ``name``.

    The handler receives the payload (a dict, or a ``payload_model`` instance when
    one is given) and a :class:`JobContext`; what it returns is the job's result.
    ``retry_base`` is the first backoff in seconds; ``retry_cap`` bounds it
    (default ``ORCH_RETRY_BACKOFF_CAP``). With ``schedule`` (seconds), beat submits the
    job with an empty payload at that interval. ``time_limit`` (seconds, default
    ``ORCH_JOB_TIME_LIMIT``) bounds one run: past it the run is interrupted and the job
    retried, or failed once its retries are spent. With ``keep_idle=False`` a scheduled run
    (sent by beat) that found nothing to do (no children, and a result without any
    non-empty value) leaves no row behind. ``summarize`` turns a payload into the job's
    summary, one short line for people (default: the payload's ``path``, ``folder`` or
    ``dirs``); it must be cheap, and it sees the payload before validation. An
    ``internal`` type (the platform's own maintenance) cannot be submitted over the API.
    """

    def decorate(handler: F) -> F:
        register(
            JobType(
                name=name,
                handler=handler,
                priority=parse_priority(priority),
                max_retries=max_retries,
                retry_base=retry_base,
                retry_cap=retry_cap,
                payload_model=payload_model,
                schedule=schedule,
                time_limit=time_limit,
                keep_idle=keep_idle,
                summarize=summarize,
                internal=internal,
            )
        )
        return handler

    return decorate


def register(job_type: JobType) -> None:
    """Add a job type; its Celery task (named by the type) is made by the listeners."""
    if not isinstance(job_type.name, str) or not NAME_PATTERN.fullmatch(job_type.name):
        raise ValueError(
            f"job type name {job_type.name!r} is not valid: use 1 to 100 letters, digits,"
            " '-', '_', '.' or ':', starting with a letter or digit"
        )
    if job_type.time_limit is not None and job_type.time_limit <= 0:
        raise ValueError(f"time_limit of {job_type.name!r} must be a positive number of seconds")
    existing = _registry.get(job_type.name)
    if existing is not None and existing.handler is not job_type.handler:
        raise ValueError(f"job type {job_type.name!r} is already registered")
    _registry[job_type.name] = job_type
    if job_type.internal and not job_type.keep_idle:
        routine(job_type.name)  # maintenance whose idle runs leave no row: no line either
    for listener in _listeners:
        listener(job_type)


def on_register(callback: Callable[[JobType], None]) -> None:
    """Call ``callback`` with every job type registered so far and from now on."""
    _listeners.append(callback)
    for job_type in list(_registry.values()):
        callback(job_type)


def load_job_modules(modules: list[str] | None = None) -> None:
    """Import the configured job modules (``tasks`` and ``ORCH_JOB_MODULES``) once."""
    for module in modules if modules is not None else current().settings.job_modules:
        if module not in _loaded_modules:
            importlib.import_module(module)
            _loaded_modules.add(module)


def find_job_type(name: str) -> JobType | None:
    """The job type called ``name``, or None; loads the configured modules first."""
    load_job_modules()
    return _registry.get(name)


def get_job_type(name: str) -> JobType:
    """The job type called ``name``; raises :class:`UnknownJobType` with the known names."""
    job_type = find_job_type(name)
    if job_type is None:
        raise UnknownJobType(name, job_type_names())
    return job_type


def scheduled_job_types() -> list[JobType]:
    """Job types that beat submits periodically."""
    load_job_modules()
    return [kind for _, kind in sorted(_registry.items()) if kind.schedule is not None]


def maintenance_type_names() -> list[str]:
    """The platform's own maintenance types (``internal``), which lists hide by default."""
    load_job_modules()
    return sorted(name for name, kind in _registry.items() if kind.internal)


def job_type_names() -> list[str]:
    """Names of every registered job type, sorted."""
    load_job_modules()
    return sorted(_registry)
