"""The lifecycle table and the transition function, on an in-memory database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from orchestrator.errors import InvalidTransition
from orchestrator.jobs import lifecycle
from orchestrator.jobs.lifecycle import JobStatus as S
from orchestrator.jobs.models import Job, JobEvent, utcnow
from orchestrator.jobs.unit_of_work import UnitOfWork
from orchestrator.storage.db import Base

ALLOWED = {
    (S.PENDING, S.PROCESSING),
    (S.PENDING, S.CANCELLED),
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.FAILED),
    (S.PROCESSING, S.RETRYING),
    (S.PROCESSING, S.CANCELLED),
    (S.RETRYING, S.PROCESSING),
    (S.RETRYING, S.CANCELLED),
    (S.FAILED, S.PENDING),
    (S.CANCELLED, S.PENDING),
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(source: S, target: S) -> None:
    assert lifecycle.can_transition(source, target) == ((source, target) in ALLOWED)


def test_terminal_statuses_lead_only_to_a_manual_retry() -> None:
    assert {S.COMPLETED, S.FAILED, S.CANCELLED} == lifecycle.TERMINAL
    for status in lifecycle.TERMINAL:
        assert lifecycle.TRANSITIONS[status] <= {S.PENDING}


@pytest.fixture
def uow() -> Iterator[UnitOfWork]:
    """A unit of work on a database of its own (its batched rows and after-commit steps
    are not needed: these writes are immediate)."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield UnitOfWork(session)


def _new_job(uow: UnitOfWork) -> Job:
    now = utcnow()
    job = Job(
        id="job-1", type="demo", priority=5, queue="default", payload={}, max_retries=3,
        attempts=0, retry_count=0, root_id="job-1", created_at=now, updated_at=now,
    )  # fmt: skip
    return lifecycle.create(uow, job)


def test_transition_updates_records_an_event_and_counts_attempts(uow: UnitOfWork) -> None:
    _new_job(uow)

    job = lifecycle.transition(uow, "job-1", S.PROCESSING, increment_attempts=True, worker="w1")

    assert job is not None
    assert (job.status, job.attempts, job.worker) == ("processing", 1, "w1")
    events = uow.session.scalars(select(JobEvent).order_by(JobEvent.id)).all()
    assert [(e.name, e.status, e.attempt) for e in events] == [
        ("job.created", "pending", 0),
        ("job.started", "processing", 1),
    ]


def test_transition_from_an_unexpected_status_changes_nothing(uow: UnitOfWork) -> None:
    _new_job(uow)

    assert lifecycle.transition(uow, "job-1", S.COMPLETED) is None
    assert lifecycle.transition(uow, "missing", S.PROCESSING) is None
    assert uow.session.get(Job, "job-1").status == "pending"  # type: ignore[union-attr]
    assert len(uow.session.scalars(select(JobEvent)).all()) == 1


def test_a_disallowed_expected_source_is_a_programming_error(uow: UnitOfWork) -> None:
    _new_job(uow)

    with pytest.raises(InvalidTransition):
        lifecycle.transition(uow, "job-1", S.COMPLETED, expected=frozenset({S.PENDING}))
