"""kombu's Redis transport, keeping one Redis client per channel, and putting the
messages of handed-back jobs at the head of their list.

kombu makes a new ``redis.Redis`` client for every command it sends on a channel
(each publish, each acknowledgement), and building one (its table of response
callbacks) cost a fifth of a publish. A client is only a handle on the channel's
connection pool and safe to share between threads, so each channel keeps one, made
again if the channel's pool is replaced.

A message whose headers carry :data:`FIRST_HEADER` (``orchestrator.jobs.dispatch.publish``
with ``first``) is pushed where the workers take from (kombu publishes at the other
end), so that a job whose attempt was lost runs before those queued behind it.

Registered for ``redis://``, ``rediss://`` and ``redis+socket://`` URLs by
``orchestrator.delivery.celery_app``.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

REDIS_TRANSPORT = "orchestrator.delivery.broker_transport:Transport"
FIRST_HEADER = "orchestrator_first"


class Channel(kombu_redis.Channel):
    """A Redis channel that reuses its synchronous client."""

    _shared_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()
        return client

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        if not (message.get("headers") or {}).get(FIRST_HEADER):
            super()._put(queue, message, **kwargs)
            return
        # Workers take with BRPOP, from the right; kombu publishes with LPUSH.
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        batch = kwargs.get("_publish_batch")
        if batch is not None:
            batch.add("rpush", key, dumps(message))
            return
        with self.conn_or_acquire() as client:
            client.rpush(key, dumps(message))

    def _connparams(self, asynchronous: bool = False) -> Any:
        # When the broker goes away, Celery releases the connection and then closes its
        # channels; closing one restores its unacknowledged messages, which needs a new
        # pool, built from a connection that is gone. kombu then raised AttributeError,
        # which is no connection error, so the worker died instead of reconnecting. A
        # connection error lets it reconnect; the messages it could not restore (the
        # broker is away) stay in Redis's unacknowledged set until the visibility timeout
        # gives them back, as for any worker that loses its broker.
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel
