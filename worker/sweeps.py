"""Sweeps in the service (docs/spec.md §9.1): the chunk task. The records live in
``worker.sweep_store``.

A sweep is validated and grouped by the API (``engine.sweep.prepare_sweep``), and its groups are
split into chunks (``engine.sweep.split_groups``) so that every worker process gets one; each
chunk is one Celery task (``descent.run_sweep_chunk``) running one ``run_group`` call,
vectorised over the run axis. A sweep is never run as N single-run jobs. A halving sweep's chunk
is a whole ``best_by`` group (``engine.sweep.sweep_chunks``), its loops pruned together at each
rung by ``engine.sweep.run_sweep``.

A chunk is acked late like a job, so one whose worker process dies is delivered again; its
deliveries are counted, and past ``max_attempts`` the chunk is failed (the sweep ends failed)
instead of being requeued forever. Whatever goes wrong in a chunk's own bookkeeping fails the
sweep with the reason: a sweep never stays ``running`` because of it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from engine import SpecErrors, dumps, loads
from engine.sweep import prepare_sweep, run_entry, run_sweep
from worker.monitor import RunMonitor
from worker.settings import Settings
from worker.store import FINISHED, pack_trajectory
from worker.sweep_store import SweepNotFound, SweepStore

log = logging.getLogger("descent.worker")
RUN_SWEEP_CHUNK = "descent.run_sweep_chunk"


class SweepMonitor(RunMonitor):
    """A chunk's monitor: the chunk's share of the sweep's progress, its cancellation flag."""

    def __init__(self, store: SweepStore, sweep_id: str, chunk: int, runs: int, budget_s: float,
                 interval_s: float) -> None:
        super().__init__(budget_s, interval_s)
        self.store, self.sweep_id, self.chunk, self.runs = store, sweep_id, chunk, runs

    def report(self, progress: Any | None) -> bool:
        worth = None if progress is None else progress.fraction * self.runs
        return self.store.report(self.sweep_id, self.chunk, worth)


def execute_chunk(store: SweepStore, sweep_id: str, chunk: int, indices: list[int],
                  settings: Settings, load_dataset: Any = None) -> dict[str, Any]:
    """Run one chunk of a sweep (one vectorised group call) and record its runs; idempotent."""
    action, cancelled, attempts = store.claim(sweep_id, chunk)
    if action != "run":
        return {"id": sweep_id, "chunk": chunk,
                "status": cancelled if action == "done" else "missing"}
    started = time.perf_counter()
    try:
        if attempts > settings.max_attempts:
            error: dict[str, Any] | None = {
                "type": "worker_lost",
                "message": f"chunk {chunk} of the sweep ({len(indices)} runs) stopped its "
                f"worker process {attempts - 1} times (killed, out of memory or over the hard "
                "time limit); not trying again"}
            record_chunk(store, sweep_id, chunk, len(indices), {}, {}, error)
        elif cancelled == "1":  # cancelled before this chunk started: nothing runs
            record_chunk(store, sweep_id, chunk, len(indices), {}, {}, None)
        else:
            run_chunk(store, sweep_id, chunk, indices, settings, load_dataset)
    except Exception as failure:  # the bookkeeping itself broke: end the sweep, say why
        log.exception("sweep %s chunk %s: bookkeeping failed", sweep_id, chunk)
        store.fail(sweep_id, {"type": "internal", "message": f"recording chunk {chunk} of the "
                              f"sweep failed: {type(failure).__name__}: {failure}"})
    return {"id": sweep_id, "chunk": chunk, "runs": len(indices),
            "seconds": time.perf_counter() - started}


def run_chunk(store: SweepStore, sweep_id: str, chunk: int, indices: list[int],
              settings: Settings, load_dataset: Any) -> None:
    """Run the chunk's runs and record them; a failure of the runs themselves (a bad spec, an
    engine bug) fails the chunk with the reason, keeping the worker."""
    from engine import run_group

    body, runs_total, budget_s = store.load(sweep_id)
    error: dict[str, Any] | None = None
    entries: dict[int, dict[str, Any]] = {}
    trajectories: dict[int, bytes] = {}
    limits = settings.limits
    monitor = SweepMonitor(store, sweep_id, chunk, len(indices), budget_s,
                           settings.progress_interval_s)
    try:
        prepared = prepare_sweep(body, limits=limits, load_dataset=load_dataset,
                                 max_runs=runs_total, indices=indices)
        if prepared.search is not None:  # one best_by group, its loops pruned together
            results = run_sweep(prepared, monitor)
        elif len(prepared.groups) != 1:
            raise RuntimeError(f"chunk {chunk} holds {len(prepared.groups)} groups, not one")
        else:
            results = list(run_group(prepared.runs, monitor))
        for index, overrides, result in zip(prepared.indices, prepared.overrides, results):
            assert result is not None  # a chunk's runs all run (cancelled ones stop, kept)
            entries[index] = loads(dumps(run_entry(index, overrides, result.summary())))
            trajectories[index] = pack_trajectory(result.trajectory)[0]
        if monitor.over_budget:
            error = {"type": "time_limit", "message": f"a chunk of the sweep ran over its "
                     f"time limit of {budget_s:g} s and was stopped; its partial "
                     "trajectories are kept"}
    except SpecErrors as problems:  # e.g. a dataset that expired after submit
        error = {"type": "invalid_spec", "message": str(problems),
                 "detail": problems.to_detail(prefix=("sweep",))}
    except Exception as failure:  # an engine bug: fail the sweep clearly, keep the worker
        log.exception("sweep %s chunk %s failed", sweep_id, chunk)
        error = {"type": "internal", "message": f"{type(failure).__name__}: {failure}"}
    record_chunk(store, sweep_id, chunk, len(indices), entries, trajectories, error)


def record_chunk(store: SweepStore, sweep_id: str, chunk: int, runs: int,
                 entries: dict[int, dict[str, Any]], trajectories: dict[int, bytes],
                 error: dict[str, Any] | None) -> None:
    """Store the chunk's runs, count the chunk once, and finalise the sweep after its last."""
    store.save_runs(sweep_id, entries, trajectories)
    if store.chunk_done(sweep_id, chunk, runs, error):
        store.finalise(sweep_id)


def _register_task() -> None:
    from worker.app import app
    from worker.datasets import stored_dataset_loader
    from worker.settings import get_settings

    @app.task(name=RUN_SWEEP_CHUNK, ignore_result=True)
    def run_sweep_chunk(sweep_id: str, chunk: int, indices: list[int]) -> dict[str, Any]:
        """Run chunk ``chunk`` (the runs ``indices``) of sweep ``sweep_id``."""
        from worker.tasks import job_store

        settings = get_settings()
        store = SweepStore(job_store().redis, settings.job_ttl_s)
        return execute_chunk(store, sweep_id, chunk, indices, settings,
                             stored_dataset_loader(job_store().redis))


_register_task()

__all__ = ["FINISHED", "RUN_SWEEP_CHUNK", "SweepMonitor", "SweepNotFound", "SweepStore",
           "execute_chunk"]
