"""Liveness: worker heartbeats (``/readyz``) and the running set, from which a job whose whole
worker died (SIGKILL, power loss) is rescued in seconds instead of after the broker's
visibility timeout.

- ``workers`` — a sorted set, worker name -> its last heartbeat (epoch seconds).
- ``running`` — a sorted set, running job id -> its last sign of life (epoch seconds): set by
  the claim, refreshed by every progress write, removed by the finish.
"""

from __future__ import annotations

import time

from worker.store.keys import RUNNING_KEY, WORKERS_KEY, as_bytes, job_key
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

    def rescue_stale(self, stale_s: float) -> list[str]:
        """Running jobs with no sign of life for ``stale_s`` (their whole worker died): each is
        claimed for a new delivery by exactly one caller, which must enqueue it again."""
        now = time.time()
        candidates = self.redis.zrangebyscore(RUNNING_KEY, "-inf", now - stale_s)
        rescued = []
        for raw in candidates:
            job_id = as_bytes(raw).decode()
            if self.scripts.rescue(keys=[job_key(job_id), RUNNING_KEY],
                                   args=[job_id, now - stale_s, now]):
                rescued.append(job_id)
        return rescued
