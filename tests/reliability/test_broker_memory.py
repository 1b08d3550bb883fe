"""A broker near its memory ceiling: new work is refused with 503, the relay holds, and
both resume once there is room; the embedded Redis has a ceiling and evicts nothing.

The ceiling is set on the suite's own Redis (``CONFIG SET maxmemory``) just above what it
holds, then put back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from api import create_app
from orchestrator.delivery import relay
from orchestrator.delivery.broker_memory import broker_memory
from orchestrator.delivery.celery_app import app as celery_app
from orchestrator.jobs import dispatch
from orchestrator.jobs.models import Job
from orchestrator.runtime import current
from orchestrator.storage.db import read_session, write_session
from tests.conftest import API_KEY, REPO_ROOT, wait_until

HEADERS = {"X-Api-Key": API_KEY}
WEBHOOK = (REPO_ROOT / "tests" / "fixtures" / "radarr_download.json").read_bytes()


@pytest.fixture
def client(database: str) -> Iterator[FlaskClient]:
    with create_app({"TESTING": True}).test_client() as client:
        yield client


@contextlib.contextmanager
def _full() -> Iterator[None]:
    """The broker's Redis with a ceiling at what it holds (full, however
    its use wavers), until the block ends; then back to its own, with room."""
    redis = current().broker_redis()
    assert redis is not None
    before = redis.config_get("maxmemory")["maxmemory"]
    used = int(redis.info("memory")["used_memory"])
    redis.config_set("maxmemory", str(used))
    try:
        wait_until(lambda: broker_memory.full() is not None, timeout=5)
        yield
    finally:
        redis.config_set("maxmemory", before)
        wait_until(lambda: broker_memory.full() is None, timeout=5)


def _jobs() -> int:
    with read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


def test_the_embedded_redis_has_a_ceiling_and_evicts_nothing(database: str) -> None:
    redis = current().broker_redis()
    assert redis is not None
    config = redis.config_get("maxmemory*")
    assert config["maxmemory-policy"] == "noeviction"
    assert (
        int(config["maxmemory"]) == 256 * 1024 * 1024 == _bytes(current().settings.redis_maxmemory)
    )


def _bytes(size: str) -> int:
    assert size.endswith("mb")
    return int(size[:-2]) * 1024 * 1024


def test_new_work_is_refused_while_the_broker_is_full_and_taken_again_after(
    client: FlaskClient,
) -> None:
    before = _jobs()
    intake = [
        ("/api/webhooks/radarr", WEBHOOK),
        ("/api/v1/jobs", b'{"type": "test-echo"}'),
        ("/api/triggers/manual?dir=/media/movies/Heat%20(1995)", b""),
    ]
    with _full():
        for path, body in intake:
            response = client.post(path, data=body, headers=HEADERS)
            assert response.status_code == 503, (path, response.get_data(as_text=True))
            assert response.headers["Retry-After"] == "30"
            assert response.mimetype == "application/problem+json"
            assert "the broker is full" in response.get_json()["detail"]
            assert "maxmemory" in response.get_json()["detail"]
        assert _jobs() == before
        assert client.get("/api/v1/jobs", headers=HEADERS).status_code == 200  # reads go on

    response = client.post("/api/webhooks/radarr", data=WEBHOOK, headers=HEADERS)
    assert response.status_code == 202, response.get_data(as_text=True)


def test_the_relay_holds_while_the_broker_is_full(database: str) -> None:
    dispatch.use_relay(lambda job_id: None)  # recorded only: nothing publishes them yet
    try:
        ids = [dispatch.submit("test-echo", {"n": n}).job.id for n in range(3)]
    finally:
        dispatch.use_relay(None)
    producer = celery_app.amqp.Producer(celery_app.connection_for_write())
    try:
        with _full():
            assert relay._relay_once(relay.BATCH, 0.0, producer, ids=ids) == (0, 3)
        assert relay._relay_once(relay.BATCH, 0.0, producer, ids=ids) == (3, 3)
    finally:
        with write_session() as session:
            session.execute(delete(Job).where(Job.id.in_(ids)))
