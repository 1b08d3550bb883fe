"""Group commit: writes that threads ask for together share a transaction, and each
caller still gets its own outcome (on both databases)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from orchestrator.delivery.group_commit import group_commit
from orchestrator.jobs import dispatch
from orchestrator.jobs.models import Job, JobEvent
from orchestrator.jobs.unit_of_work import UnitOfWork
from orchestrator.storage.db import read_session, write_session


@pytest.fixture
def unpublished(database: str) -> Iterator[list[str]]:
    """Jobs submitted here are recorded but not published (a relay that does nothing),
    and deleted afterwards."""
    ids: list[str] = []
    dispatch.use_relay(lambda job_id: None)
    yield ids
    dispatch.use_relay(None)
    with write_session() as session:
        session.execute(delete(Job).where(Job.id.in_(ids)))


@pytest.fixture
def commits() -> Iterator[list[int]]:
    """Counts the commits made while the test runs."""
    counted: list[int] = []

    def count(_session: Session) -> None:
        counted.append(1)

    event.listen(Session, "after_commit", count)
    yield counted
    event.remove(Session, "after_commit", count)


def test_concurrent_submissions_share_commits_and_each_gets_its_own_job(
    unpublished: list[str], commits: list[int]
) -> None:
    results: dict[int, str] = {}

    def submit(n: int) -> None:
        results[n] = dispatch.submit("test-echo", {"n": n}).job.id

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(48)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    unpublished.extend(results.values())

    assert len(set(results.values())) == 48
    with read_session() as session:
        rows = session.execute(select(Job.id, Job.payload).where(Job.id.in_(unpublished))).all()
        created = session.scalar(
            select(func.count())
            .select_from(JobEvent)
            .where(JobEvent.job_id.in_(unpublished), JobEvent.name == "job.created")
        )
    assert {job_id: payload["n"] for job_id, payload in rows} == {
        job_id: n for n, job_id in results.items()
    }
    assert created == 48
    assert len(commits) < 48  # some submissions shared a transaction


def _in_one_group(works: list[Callable[[UnitOfWork], Any]]) -> list[Any]:
    """Run ``works`` through the group commit so that they form one group: a first write
    holds the transaction open until they are all queued behind it. Returns each one's
    result or exception."""
    holding, release = threading.Event(), threading.Event()
    outcomes: list[Any] = [None] * len(works)

    def hold(_uow: UnitOfWork) -> None:
        holding.set()
        release.wait(10)

    def run(index: int) -> None:
        try:
            outcomes[index] = group_commit.write(works[index])
        except Exception as exc:
            outcomes[index] = exc

    first = threading.Thread(target=group_commit.write, args=(hold,))
    first.start()
    holding.wait(10)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    while len(group_commit._queued) < len(works):  # every write queued behind the first
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    return outcomes


def _insert(job_id: str) -> Callable[[UnitOfWork], str]:
    def work(uow: UnitOfWork) -> str:
        dispatch.insert_job(uow, dispatch.build_job("test-echo", job_id=job_id))
        return job_id

    return work


def _stored(ids: list[str]) -> set[str]:
    with read_session() as session:
        return set(session.scalars(select(Job.id).where(Job.id.in_(ids))))


def test_a_write_that_raises_fails_alone(unpublished: list[str]) -> None:
    ids = [dispatch.new_job_id() for _ in range(4)]
    unpublished.extend(ids)

    def broken(_uow: UnitOfWork) -> None:
        raise ValueError("this write is wrong")

    outcomes = _in_one_group([_insert(ids[0]), broken, *map(_insert, ids[1:])])

    assert isinstance(outcomes[1], ValueError)
    assert [outcomes[0], *outcomes[2:]] == ids
    assert _stored(ids) == set(ids)


def test_a_database_failure_reaches_every_write_of_the_group(unpublished: list[str]) -> None:
    ids = [dispatch.new_job_id() for _ in range(3)]
    unpublished.extend(ids)

    def database_fails(_uow: UnitOfWork) -> None:
        raise OperationalError("COMMIT", {}, Exception("the database went away"))

    outcomes = _in_one_group([*map(_insert, ids), database_fails])

    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert _stored(ids) == set()
