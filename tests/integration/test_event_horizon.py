"""On PostgreSQL an event can commit after one with a higher id: streams must not skip it.

Two transactions take ids in one order and may commit in the other. A stream that read
the higher id moves its cursor past the lower one, which would then never be delivered.
SQLite has one writer at a time, so only the PostgreSQL run means anything here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from orchestrator.jobs import lifecycle
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import Job, utcnow
from orchestrator.jobs.unit_of_work import UnitOfWork, unit_of_work
from orchestrator.observability.events import events_after, newest_event_id
from orchestrator.storage.db import get_engine, read_session, write_session
from tests.conftest import API_KEY


@pytest.fixture
def postgres(database: str) -> str:
    """The test database, PostgreSQL only: SQLite cannot commit out of id order."""
    if not database.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: events commit in id order")
    return database


def _new_job() -> str:
    now = utcnow()
    job_id = str(uuid.uuid4())
    job = Job(
        id=job_id, type="test-echo", priority=5, queue="default", payload={}, max_retries=0,
        attempts=0, retry_count=0, root_id=job_id, created_at=now, updated_at=now,
    )  # fmt: skip
    with unit_of_work() as uow:
        lifecycle.create(uow, job)
    return job_id


@pytest.fixture
def open_transaction(postgres: str) -> Iterator[Session]:
    """A second writer whose transaction the test commits when it chooses."""
    with Session(get_engine()) as session:
        yield session
        session.rollback()


def _write_event(session: Session, job_id: str, name: str) -> None:
    job = session.get(Job, job_id)
    assert job is not None
    UnitOfWork(session).record_event(job, name, {})


def _read(after: int, job_id: str) -> list[tuple[int, str]]:
    with read_session() as session:
        return [(row.id, row.name) for row in events_after(session, after, job_id=job_id)]


def _read_until(
    after: int, job_id: str, count: int, timeout: float = 10.0
) -> list[tuple[int, str]]:
    """``_read``, again until ``count`` events are there or ``timeout`` s have passed.

    The horizon is the server's: a transaction of another test process on the same
    PostgreSQL server (another database) holds events back while it is open.
    """
    deadline = time.monotonic() + timeout
    while len(rows := _read(after, job_id)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return rows


def test_an_event_committed_after_a_later_one_is_still_delivered(
    open_transaction: Session,
) -> None:
    job_id = _new_job()
    cursor = _read_until(0, job_id, 1)[-1][0]  # after job.created
    _write_event(open_transaction, job_id, "test.first")  # takes the lower id, commits last
    with write_session() as session:
        _write_event(session, job_id, "test.second")

    early = _read(cursor, job_id)
    if early:
        cursor = early[-1][0]
    open_transaction.commit()
    late = _read_until(cursor, job_id, 2 - len(early))

    delivered = [name for _, name in early + late]
    assert delivered == ["test.first", "test.second"]


def test_the_stream_of_everything_starts_before_an_event_still_being_committed(
    open_transaction: Session,
) -> None:
    job_id = _new_job()
    _write_event(open_transaction, job_id, "test.first")
    with write_session() as session:
        _write_event(session, job_id, "test.second")

    with read_session() as session:
        start = newest_event_id(session)
    open_transaction.commit()

    assert [name for _, name in _read_until(start, job_id, 2)] == ["test.first", "test.second"]


def _stream_events(client: FlaskClient, url: str) -> list[str]:
    response = client.get(url, headers={"X-Api-Key": API_KEY}, buffered=True)
    assert response.status_code == 200
    return [
        line[len("event: ") :]
        for line in response.get_data(as_text=True).splitlines()
        if line.startswith("event: ")
    ]


def test_a_job_stream_ends_with_the_terminal_event_while_other_writers_are_open(
    open_transaction: Session, client: FlaskClient
) -> None:
    job_id = _new_job()
    other_id = _new_job()
    # An unrelated transaction still open: its events are held back, not this job's end.
    _write_event(open_transaction, other_id, "test.pending")
    with unit_of_work() as uow:
        assert lifecycle.transition(uow, job_id, JobStatus.PROCESSING) is not None
        lifecycle.transition(uow, job_id, JobStatus.COMPLETED)

    events = _stream_events(client, f"/api/v1/jobs/{job_id}/stream")

    assert events == ["job.created", "job.started", "job.completed"]


@pytest.mark.xfail(
    strict=True,
    reason="known limit: held back by transaction age, an event whose transaction began"
    " writing before an open one that took a lower id is still delivered first",
)
def test_an_event_of_an_older_transaction_taking_a_later_id_does_not_skip_one(
    open_transaction: Session,
) -> None:
    job_id = _new_job()
    other_id = _new_job()
    cursor = _read_until(0, job_id, 1)[-1][0]
    with Session(get_engine()) as older:
        # ``older`` writes first (as a transition updates its job before its event) ...
        older.connection().execute(update(Job).where(Job.id == other_id).values(priority=4))
        # ... but takes its event's id after the open transaction took its own.
        _write_event(open_transaction, job_id, "test.first")
        _write_event(older, job_id, "test.second")
        older.commit()

    # What the stream reads while the open transaction is still open (once the other
    # test process's transactions, if any, let "test.second" through).
    early = _read_until(cursor, job_id, 1, timeout=5.0)
    if early:
        cursor = early[-1][0]
    open_transaction.commit()
    late = _read_until(cursor, job_id, 2 - len(early), timeout=3.0)

    assert [name for _, name in early + late] == ["test.first", "test.second"]
