"""``run_job``: the one Celery task. Thin and idempotent — claim the job record, run the engine,
write the outcome under the job's own keys (overwriting any earlier attempt's).

The engine's progress callback (``JobMonitor``, a ``worker.monitor.RunMonitor``) is the only
hook into a running job: it writes progress at most every ``progress_interval_s``, sees the
cancellation flag within one callback period (~0.1 s), and enforces the job's run-time budget
cooperatively, so a job over its budget keeps its partial trajectory and fails with a clear
reason.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from engine import SpecErrors, dumps, loads, resolve_spec, run_group, run_spec
from worker.app import app, freeze_start_up_objects
from worker.datasets import stored_dataset_loader
from worker.monitor import RunMonitor
from worker.settings import Settings, get_settings
from worker.store import JobStore, Progress

log = logging.getLogger("descent.worker")
HEARTBEAT_S = 3.0
_store: JobStore | None = None


def job_store() -> JobStore:
    """This process's store (created lazily, after the pool's fork)."""
    global _store
    if _store is None:
        settings = get_settings()
        _store = JobStore.from_url(settings.redis_url, settings.job_ttl_s)
    return _store


class JobMonitor(RunMonitor):
    """A job's monitor: progress and the cancellation flag in the job's record."""

    def __init__(self, store: JobStore, job_id: str, budget_s: float, interval_s: float) -> None:
        super().__init__(budget_s, interval_s)
        self.store, self.job_id = store, job_id

    def report(self, progress: Any | None) -> bool:
        return self.store.report_progress(self.job_id, None if progress is None else Progress(
            progress.step, progress.total_steps, progress.fraction, progress.loss))


def execute_job(store: JobStore, job_id: str, settings: Settings) -> dict[str, Any]:
    """Run one job to its outcome; safe to call again for the same job (redelivery)."""
    action, value = store.claim(job_id)
    if action != "run":
        return {"id": job_id, "status": value if action == "done" else "missing"}
    attempts, spec, budget_s = value
    if attempts > settings.max_attempts:
        store.finish(job_id, "failed", error={
            "type": "worker_lost",
            "message": f"the job's worker process stopped unexpectedly {attempts - 1} times "
            "(killed, out of memory or over the hard time limit); not trying again",
        })
        return {"id": job_id, "status": "failed"}
    started = time.perf_counter()
    limits = settings.limits
    monitor = JobMonitor(store, job_id, budget_s, settings.progress_interval_s)
    try:
        prepared = resolve_spec(spec, limits=limits,
                                load_dataset=stored_dataset_loader(store.redis))
        result = run_group([prepared], monitor)[0]
    except SpecErrors as errors:
        store.finish(job_id, "failed", error={
            "type": "invalid_spec", "message": str(errors),
            "detail": errors.to_detail(prefix=("spec",)),
        }, run_seconds=time.perf_counter() - started)
        return {"id": job_id, "status": "failed"}
    except SoftTimeLimitExceeded:
        store.finish(job_id, "failed", error={
            "type": "time_limit",
            "message": f"the job ran over its time limit of {budget_s:g} s and was stopped "
            "outside the run loop; no partial trajectory could be saved",
        }, run_seconds=time.perf_counter() - started)
        return {"id": job_id, "status": "failed"}
    except Exception as failure:  # an engine bug: fail the job clearly, keep the worker alive
        log.exception("job %s failed", job_id)
        store.finish(job_id, "failed", error={
            "type": "internal", "message": f"{type(failure).__name__}: {failure}",
        }, run_seconds=time.perf_counter() - started)
        return {"id": job_id, "status": "failed"}

    error: dict[str, Any] | None = None
    if monitor.over_budget:
        status = "failed"
        error = {
            "type": "time_limit",
            "message": f"the job ran over its time limit of {budget_s:g} s and was stopped "
            f"after {result.steps} of {spec['max_steps']} steps; the partial trajectory is kept "
            "(GET /v1/jobs/{id}/result)",
        }
    elif result.stop_reason == "cancelled":
        status = "cancelled"
    else:
        status = "succeeded"
    summary = loads(dumps(result.summary()))
    total = int(spec["max_steps"])
    final = Progress(
        step=result.steps, total_steps=total,
        fraction=1.0 if status == "succeeded" else result.steps / total,
        loss=summary["final"]["loss"],
    )
    store.finish(
        job_id, status, summary=summary, error=error, trajectory=result.trajectory,
        epoch_loss=result.epoch_loss, run_seconds=time.perf_counter() - started,
        final_progress=final,
    )
    return {"id": job_id, "status": status, "stop_reason": result.stop_reason,
            "steps": result.steps}


@app.task(name="descent.run_job", ignore_result=True)
def run_job(job_id: str) -> dict[str, Any]:
    """Run the job ``job_id`` (its record holds the spec); returns a small summary."""
    return execute_job(job_store(), job_id, get_settings())


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    """Load (or compile, the first time on this machine) the engine's kernels now, so the
    first user's job does not wait for them; then set the process's start-up objects aside
    from the garbage collector."""
    try:
        run_spec({"function": "sphere", "max_steps": 3}, lambda progress: True)
    except Exception:  # warm-up is an optimisation only
        log.warning("engine warm-up failed", exc_info=True)
    freeze_start_up_objects()


# A job or sweep chunk whose whole worker died (SIGKILL, power loss) is handed out again by
# the broker once its message's lease runs out (worker.app.LEASE_S, renewed by live workers);
# a killed pool *process* is redelivered at once by Celery itself.
_beating = threading.Event()


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """Tell the API (``/readyz``) that a worker is listening, every few seconds."""
    name = f"{getattr(sender, 'hostname', None) or socket.gethostname()}:{os.getpid()}"

    def beat() -> None:
        while not _beating.wait(HEARTBEAT_S):
            try:
                job_store().beat(name)
            except Exception:
                log.warning("heartbeat failed", exc_info=True)

    job_store().beat(name)
    threading.Thread(target=beat, name="descent-heartbeat", daemon=True).start()
    _start_heartbeat.name = name  # type: ignore[attr-defined]


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _beating.set()
    name = getattr(_start_heartbeat, "name", None)
    if name:
        try:
            job_store().forget_worker(name)
        except Exception:
            log.debug("could not remove the heartbeat", exc_info=True)


@app.task(name="descent.noop")
def noop() -> None:
    """Does nothing: ``bench.service`` times the raw Celery round trip with it."""


import worker.sweeps  # noqa: F401  (registers the sweep chunk task with this app)
