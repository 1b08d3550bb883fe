"""Logging helpers: every record about a job carries its id, type, root id and attempt."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Protocol

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JobLike(Protocol):
    """What the job logger needs to know about a job."""

    id: str
    type: str
    root_id: str
    attempts: int


class JobLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each message with the job's context and adds it as record attributes."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        ctx = self.extra or {}
        kwargs["extra"] = {**ctx, **kwargs.get("extra", {})}
        prefix = (
            f"[{ctx['job_type']} {ctx['job_id']} attempt={ctx['attempt']} root={ctx['root_id']}]"
        )
        return f"{prefix} {msg}", kwargs


def job_logger(logger: logging.Logger, job: JobLike) -> JobLoggerAdapter:
    """A logger adapter bound to ``job``."""
    return JobLoggerAdapter(
        logger,
        {
            "job_id": job.id,
            "job_type": job.type,
            "root_id": job.root_id,
            "attempt": job.attempts,
        },
    )


def configure_logging(level: str = "INFO") -> None:
    """Readable one-line logs on stderr for the API and the CLI."""
    logging.basicConfig(level=level.upper(), format=DEFAULT_FORMAT)
