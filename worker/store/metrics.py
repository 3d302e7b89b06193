"""The numbers behind ``/metrics`` (``api.metrics`` renders them), kept in Redis so that every
API process reports the same:

- ``status_counts`` — a hash, status -> jobs: queued and running now, finished per status since
  the store began (moved by the create, claim, cancel and finish scripts).
- ``runtime`` — a hash: ``sum`` and ``count`` of run seconds and one ``le_<bound>`` count per
  histogram bucket (written by the finish script).
"""

from __future__ import annotations

from typing import Any

from worker.store.keys import RUNTIME_KEY, STATUS_COUNTS_KEY, as_bytes
from worker.store.scripts import StoreBase

RUNTIME_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1800.0)


def runtime_bucket(run_seconds: float) -> str:
    """The histogram field that counts a run of ``run_seconds``."""
    return next((f"le_{bound}" for bound in RUNTIME_BUCKETS if run_seconds <= bound), "le_inf")


class Metrics(StoreBase):
    def metrics(self, queue_name: str) -> dict[str, Any]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(STATUS_COUNTS_KEY)
        pipe.hgetall(RUNTIME_KEY)
        pipe.llen(queue_name)
        counts, runtime, depth = pipe.execute()
        return {
            "status_counts": {as_bytes(k).decode(): int(v) for k, v in counts.items()},
            "runtime": {as_bytes(k).decode(): float(v) for k, v in runtime.items()},
            "queue_depth": int(depth),
        }
