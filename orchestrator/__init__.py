"""orchestrator: SQL-tracked Celery jobs with priorities, retries and live progress.

Write a job type with :func:`job`; ``celery -A orchestrator ...`` finds the
Celery application as ``orchestrator.app``.
"""

from orchestrator.celery_app import app
from orchestrator.context import JobContext
from orchestrator.dispatch import submit
from orchestrator.errors import InvalidPayload, PermanentError, RetryableError, UnknownJobType
from orchestrator.job_task import JobTask  # noqa: F401 - makes each job type's Celery task
from orchestrator.registry import job

__all__ = [
    "InvalidPayload",
    "JobContext",
    "PermanentError",
    "RetryableError",
    "UnknownJobType",
    "app",
    "job",
    "submit",
]
