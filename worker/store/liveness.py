"""Liveness: worker heartbeats, for ``/readyz`` and ``/metrics``.

``workers`` is a sorted set, worker name -> its last heartbeat (epoch seconds). A job whose
whole worker died comes back through the broker's lease (``worker.transport``), not from here.
"""

from __future__ import annotations

import time

from worker.store.keys import WORKERS_KEY
from worker.store.scripts import StoreBase


class Liveness(StoreBase):
    def ping(self) -> bool:
        return bool(self.redis.ping())

    def beat(self, worker_name: str) -> None:
        self.redis.zadd(WORKERS_KEY, {worker_name: time.time()})

    def forget_worker(self, worker_name: str) -> None:
        self.redis.zrem(WORKERS_KEY, worker_name)

    def live_workers(self, within_s: float = 15.0) -> int:
        return int(self.redis.zcount(WORKERS_KEY, time.time() - within_s, "+inf"))
