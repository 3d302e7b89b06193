"""kombu's Redis transport, with one Redis client per channel instead of one per command.

kombu builds a new ``redis.Redis`` for every message it publishes and every ack; redis-py ≥ 5
fills a table of response callbacks in each new client, ~0.4 ms of CPU, more than the rest of
a publish. A channel is used by one thread at a time (kombu pools producers), and a redis-py
client is thread-safe anyway (it takes a pooled connection per command), so one client per
channel is safe. Selected by ``worker.app.make_celery`` for ``redis://`` brokers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client is None:
            if self._shared_client is None:
                self._shared_client = self._create_client()
            client = self._shared_client
        yield client


class Transport(kombu_redis.Transport):
    Channel = Channel
