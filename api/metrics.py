"""Prometheus metrics, read from the job store at scrape time (the workers write them there,
so every API process reports the same numbers):

- ``descent_jobs{status}`` — jobs queued and running now; jobs finished per status since the
  store began (these count up; expired records are not subtracted).
- ``descent_job_run_seconds`` — histogram of run times (claim to outcome) of finished jobs.
- ``descent_queue_depth`` — messages waiting in the Celery queue.
- ``descent_workers`` — workers that sent a heartbeat in the last 15 s.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from worker.store import RUNTIME_BUCKETS, STATUSES, JobStore


class StoreCollector:
    def __init__(self, store: JobStore, queue_name: str) -> None:
        self.store, self.queue_name = store, queue_name

    def collect(self) -> Iterable[Metric]:
        data = self.store.metrics(self.queue_name)
        jobs = GaugeMetricFamily("descent_jobs", "Jobs by status (finished: since the store "
                                 "began)", labels=["status"])
        for status in STATUSES:
            jobs.add_metric([status], max(0, data["status_counts"].get(status, 0)))
        yield jobs
        runtime = data["runtime"]
        buckets, cumulative = [], 0.0
        for bound in RUNTIME_BUCKETS:
            cumulative += runtime.get(f"le_{bound}", 0.0)
            buckets.append((str(bound), cumulative))
        buckets.append(("+Inf", runtime.get("count", 0.0)))
        yield HistogramMetricFamily("descent_job_run_seconds", "Run time of finished jobs",
                                    buckets=buckets, sum_value=runtime.get("sum", 0.0))
        yield GaugeMetricFamily("descent_queue_depth", "Jobs waiting in the queue",
                                value=data["queue_depth"])
        yield GaugeMetricFamily("descent_workers", "Workers alive (heartbeat in the last 15 s)",
                                value=self.store.live_workers())


def render_metrics(store: JobStore, queue_name: str) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, queue_name))  # type: ignore[arg-type]
    return generate_latest(registry)
