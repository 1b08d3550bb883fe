"""orchestrator: SQL-tracked Celery jobs with priorities, retries and live progress.

Write a job type with :func:`job`; ``celery -A orchestrator ...`` finds the
Celery application as ``orchestrator.app``.
"""

from orchestrator.delivery.celery_app import app
from orchestrator.errors import InvalidPayload, PermanentError, RetryableError, UnknownJobType
from orchestrator.jobs.context import JobContext
from orchestrator.jobs.dispatch import submit
from orchestrator.jobs.job_task import JobTask  # noqa: F401 - makes each job type's Celery task
from orchestrator.jobs.registry import job

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
