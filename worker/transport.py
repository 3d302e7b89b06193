"""kombu's Redis transport, with one Redis client per channel instead of one per command.

kombu builds a new ``redis.Redis`` for every message it publishes and every ack; redis-py ≥ 5
fills a table of response callbacks in each new client, ~0.4 ms of CPU, more than the rest of
a publish. A channel is used by one thread at a time (kombu pools producers), and a redis-py
client is thread-safe anyway (it takes a pooled connection per command), so one client per
channel is safe. Selected by ``worker.app.make_celery`` for ``redis://`` brokers.

Its acknowledgement emulation also holds each unacked message on a lease: kombu hands a
message to another worker once it has been unacked for ``visibility_timeout``; a live worker
renews its own messages every time it checks for such messages (every second), so only the
messages of a worker that died outright (SIGKILL, power loss) come back, a lease after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class LeasedQoS(kombu_redis.QoS):
    """kombu's Redis QoS, able to renew the lease of the messages its channel holds."""

    def renew_leases(self) -> None:
        """Move this channel's unacked messages' timestamps to now (XX: an acked message,
        already out of the index, is not put back)."""
        tags: list[str] = list(self._delivered or ())
        if not tags:
            return
        now = time.time()
        with self.channel.conn_or_acquire() as client:
            client.zadd(self.unacked_index_key, dict.fromkeys(tags, now), xx=True)


class Channel(kombu_redis.Channel):
    QoS = LeasedQoS
    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client is None:
            if self._shared_client is None:
                self._shared_client = self._create_client()
            client = self._shared_client
        yield client


class LeasingPoller(kombu_redis.MultiChannelPoller):
    """kombu's poller, renewing every channel's leases before it looks for expired ones."""

    def maybe_restore_messages(self) -> Any:
        for channel in self._channels:
            try:
                channel.qos.renew_leases()
            except channel.connection_errors:
                pass  # Redis is away: the poller reconnects; the next tick renews
        return super().maybe_restore_messages()


class Transport(kombu_redis.Transport):
    Channel = Channel
    cycle: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cycle.poller.close()
        self.cycle = LeasingPoller()
