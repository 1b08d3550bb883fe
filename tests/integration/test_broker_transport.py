"""The Redis transport keeps one client per channel, and messages still flow through it."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection, Queue
from kombu.common import ignore_errors

from orchestrator.delivery.broker_transport import Channel
from orchestrator.delivery.celery_app import app


def test_the_app_speaks_redis_through_the_projects_transport(broker: str) -> None:
    if not broker.startswith("redis"):
        pytest.skip("the transport is for Redis brokers")
    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, Channel)


def test_a_channel_reuses_its_client_until_its_pool_changes(broker: str) -> None:
    if not broker.startswith("redis"):
        pytest.skip("the transport is for Redis brokers")
    queue = Queue("transport-test")
    with Connection(broker) as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        producer = connection.Producer(channel)
        for n in range(3):
            producer.publish({"n": n}, routing_key=queue.name, declare=[queue])
        client = channel._create_client()
        assert channel._create_client() is client
        channel._pool = None  # as kombu does when it drops the channel's connections
        assert channel._create_client() is not client
        received = []
        with connection.SimpleQueue(queue) as simple:
            for _ in range(3):
                message = simple.get(timeout=5)
                received.append(message.payload["n"])
                message.ack()
    assert received == [0, 1, 2]


def test_closing_a_channel_after_its_connection_was_released_is_a_connection_error(
    broker: str,
) -> None:
    """As Celery does when the broker goes away: the connection is released, then the
    channel closed; that must be an error the worker reconnects after, not a crash."""
    if not broker.startswith("redis"):
        pytest.skip("the transport is for Redis brokers")
    with Connection(broker) as connection:
        channel = connection.default_channel
        channel._pool = None  # as kombu does when it drops the channel's connections
        channel.connection.client = None  # the released connection
        with pytest.raises(redis.ConnectionError):
            channel._create_client()
        ignore_errors(connection, channel.close)  # what Celery calls: nothing escapes
