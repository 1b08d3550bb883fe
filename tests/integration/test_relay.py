"""The relay publishes the jobs that the processes it serves only record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from orchestrator.delivery import relay
from orchestrator.delivery.relay import Relay
from orchestrator.jobs import dispatch
from orchestrator.jobs.models import Job
from orchestrator.storage.db import read_session, write_session
from tests.conftest import WorkerProcess, wait_for_job


@pytest.fixture
def running_relay(database: str) -> Iterator[Relay]:
    """A relay thread in this process, publishing what this process submits."""
    running = Relay()
    running.start()
    dispatch.use_relay(running.ring)
    yield running
    dispatch.use_relay(None)
    running.stop()


def test_submitted_jobs_are_published_by_the_relay_and_run(
    worker: WorkerProcess, running_relay: Relay
) -> None:
    ids = [dispatch.submit("test-echo", {"n": n}).job.id for n in range(20)]

    done = [wait_for_job(job_id) for job_id in ids]

    assert [job.status for job in done] == ["completed"] * 20
    assert all(job.dispatched_at is not None for job in done)


def test_the_relay_publishes_the_most_urgent_first_and_stamps_each_once(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch.use_relay(lambda job_id: None)  # recorded only: nothing publishes them yet
    try:
        low = [dispatch.submit("test-echo", priority="low").job.id for _ in range(3)]
        critical = dispatch.submit("test-echo", priority="critical").job.id
    finally:
        dispatch.use_relay(None)
    ours, sent = {*low, critical}, []
    # Only this test's jobs: other tests may leave unpublished jobs in the database.
    unpublished = relay._unpublished
    monkeypatch.setattr(
        relay,
        "_unpublished",
        lambda *a, **k: [(j, p) for j, p in unpublished(*a, **k) if j.id in ours],
    )

    def record(job: Job, **_: object) -> bool:
        sent.append(job.id)
        return True

    monkeypatch.setattr(relay, "publish", record)
    try:
        first = relay.publish_unpublished()
        again = relay.publish_unpublished()
        with read_session() as session:
            stamped = session.scalars(
                select(Job.id).where(Job.id.in_(sent), Job.dispatched_at.is_not(None))
            ).all()
    finally:
        with write_session() as session:
            session.execute(delete(Job).where(Job.id.in_([*low, critical])))

    assert sent[0] == critical and set(sent) == ours
    assert (first, again) == (4, 0)  # stamped: not published a second time
    assert set(stamped) == set(sent)


def _recorded_only(count: int) -> list[str]:
    dispatch.use_relay(lambda job_id: None)  # recorded only: nothing publishes them yet
    try:
        return [dispatch.submit("test-echo", {"n": n}).job.id for n in range(count)]
    finally:
        dispatch.use_relay(None)


def _stamped(ids: list[str]) -> int:
    with read_session() as session:
        return len(
            session.scalars(
                select(Job.id).where(Job.id.in_(ids), Job.dispatched_at.is_not(None))
            ).all()
        )


@pytest.mark.parametrize("fault", ["broker away", "batch lost on its way"])
def test_a_batch_that_fails_is_not_stamped_and_the_next_try_sends_it(
    database: str, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    from kombu.transport import redis as kombu_redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    from orchestrator.delivery.celery_app import app

    ids = _recorded_only(5)
    try:
        if fault == "broker away":
            producer = app.amqp.Producer(app.connection_for_write("redis://127.0.0.1:9/0"))
        else:  # the pipeline's one round trip fails after every message was buffered
            producer = app.amqp.Producer(app.connection_for_write())

            def lost(self: object) -> None:
                raise RedisConnectionError("connection reset by peer")

            monkeypatch.setattr(kombu_redis.PublishBatch, "flush", lost)
        if not producer.supports_batch_publish and fault != "broker away":
            pytest.skip("the broker's transport publishes one message at a time")

        assert relay._relay_once(relay.BATCH, 0.0, producer, ids=ids) == (0, 5)
        assert _stamped(ids) == 0

        monkeypatch.undo()
        good = app.amqp.Producer(app.connection_for_write())
        assert relay._relay_once(relay.BATCH, 0.0, good, ids=ids) == (5, 5)
        assert _stamped(ids) == 5
    finally:
        with write_session() as session:
            session.execute(delete(Job).where(Job.id.in_(ids)))


def test_a_large_payload_travels_in_its_row_and_its_message_stays_small(
    worker: WorkerProcess, running_relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.delivery.celery_app import app

    sent: dict[str, int] = {}
    send_task = app.send_task

    def measured(name: str, **options: Any) -> Any:
        sent[options["task_id"]] = len(json.dumps(options["kwargs"]))
        return send_task(name, **options)

    monkeypatch.setattr(app, "send_task", measured)
    large = {"blob": "x" * (1024 * 1024 - 100)}
    small = {"blob": "x" * (dispatch.MESSAGE_PAYLOAD_BYTES - 20)}
    large_id = dispatch.submit("test-echo", large).job.id
    small_id = dispatch.submit("test-echo", small).job.id

    assert wait_for_job(large_id).result["echo"] == large
    assert wait_for_job(small_id).result["echo"] == small
    assert sent[large_id] == len("{}")  # the worker read it from the row
    assert sent[small_id] == len(json.dumps(small))
