"""Sweeps in the service (SPEC.md §9.1): the Redis sweep store and the chunk task.

A sweep is validated and grouped by the API (``engine.sweep.prepare_sweep``), and its groups are
split into chunks (``engine.sweep.split_groups``) so that every worker process gets one; each
chunk is one Celery task (``descent.run_sweep_chunk``) running one ``run_group`` call,
vectorised over the run axis. A sweep is never run as N single-run jobs.

Keys (all under ``descent:``, all expiring after ``job_ttl_s``):

- ``sweep:{id}`` — a hash: status, timestamps, owner, the sweep body, runs_total, tasks_total,
  runs_done (runs of finished chunks), cancel flag, summary, error.
- ``sweep_runs:{id}`` — a hash, run index → that run's result entry (JSON, no trajectory).
- ``sweep_traj:{id}`` — a hash, run index → its trajectory as raw rows (``worker.store``'s
  layout: ``step:int64, params:float64[d], loss, grad_norm, lr``).
- ``sweep_chunks_done:{id}`` — a set of finished chunk numbers: a redelivered chunk is counted
  once, and the chunk that completes the set finalises the sweep.
- ``sweep_partial:{id}`` — a hash, chunk number → runs-worth of progress (for ``fraction``).
- ``sweeps:{owner}`` — the owner's sweep ids by submit sequence, newest first.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import numpy as np
import redis

from engine import Limits, SpecErrors, dumps, loads
from engine.sweep import (
    comparison_table,
    expand_sweep,
    prepare_sweep,
    run_entry,
    sweep_summary,
)
from worker.monitor import RunMonitor
from worker.settings import Settings
from worker.store import FINISHED, PREFIX, now_iso, pack_trajectory, row_dtype

log = logging.getLogger("descent.worker")
RUN_SWEEP_CHUNK = "descent.run_sweep_chunk"

_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '0'} end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  return {'done', status}
end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
end
return {'run', redis.call('HGET', KEYS[1], 'cancel') or '0'}
"""

_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1], 'cancel', '1')
  return 'cancelled_now'
end
if status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  return 'cancelling'
end
return status
"""

# KEYS: sweep, done set, partial; ARGV: chunk number, runs in chunk, error JSON or '', ttl
_CHUNK_DONE = """
local added = redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
if added == 1 then
  redis.call('HINCRBY', KEYS[1], 'runs_done', ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[1])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
end
local total = tonumber(redis.call('HGET', KEYS[1], 'tasks_total') or '0')
if redis.call('SCARD', KEYS[2]) >= total then return 1 end
return 0
"""

# KEYS: sweep; ARGV: finished_at, summary, ttl
_FINALISE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return '' end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return status end
local final = 'succeeded'
if redis.call('HGET', KEYS[1], 'cancel') == '1' then final = 'cancelled'
elseif redis.call('HEXISTS', KEYS[1], 'error') == 1 then final = 'failed' end
redis.call('HSET', KEYS[1], 'status', final, 'finished_at', ARGV[1], 'summary', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return final
"""


class SweepNotFound(LookupError):
    """No such sweep (or not this owner's)."""


class SweepStore:
    """Sweep records, per-run results and trajectories in Redis (one per process)."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self._claim = client.register_script(_CLAIM)
        self._cancel = client.register_script(_CANCEL)
        self._chunk_done = client.register_script(_CHUNK_DONE)
        self._finalise = client.register_script(_FINALISE)

    @staticmethod
    def key(sweep_id: str, kind: str = "sweep") -> str:
        return f"{PREFIX}{kind}:{sweep_id}"

    # --- API side
    def create(self, body: dict[str, Any], *, owner: str, runs_total: int, tasks_total: int,
               time_limit_s: float) -> str:
        sweep_id = uuid.uuid4().hex
        sequence = self.redis.incr(f"{PREFIX}sequence")
        record = {"id": sweep_id, "owner": owner, "status": "queued", "created_at": now_iso(),
                  "body": dumps(body), "runs_total": runs_total, "tasks_total": tasks_total,
                  "runs_done": 0, "time_limit_s": repr(float(time_limit_s)),
                  "sequence": sequence}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(sweep_id), mapping=record)
        pipe.expire(self.key(sweep_id), self.ttl_s)
        pipe.zadd(f"{PREFIX}sweeps:{owner}", {sweep_id: sequence})
        pipe.execute()
        return sweep_id

    def _raw(self, sweep_id: str, owner: str | None) -> dict[str, bytes]:
        raw = self.redis.hgetall(self.key(sweep_id))
        if not raw or (owner is not None and raw.get(b"owner", b"").decode() != owner):
            raise SweepNotFound(sweep_id)
        return {k.decode(): v for k, v in raw.items()}

    def get(self, sweep_id: str, owner: str | None = None, *, with_body: bool = False) -> dict[str, Any]:
        """The sweep document; ``SweepNotFound`` if unknown or another owner's."""
        raw = self._raw(sweep_id, owner)
        partial = self.redis.hvals(self.key(sweep_id, "sweep_partial"))
        return self._document(raw, sum(float(v) for v in partial), with_body)

    @staticmethod
    def _document(raw: dict[str, bytes], partial: float, with_body: bool) -> dict[str, Any]:
        def string(name: str) -> str | None:
            value = raw.get(name)
            return value.decode() if value else None

        def parsed(name: str) -> Any:
            value = raw.get(name)
            return loads(value) if value else None

        total = int(raw.get("runs_total", b"0"))
        done = int(raw.get("runs_done", b"0"))
        status = string("status")
        fraction = 1.0 if status == "succeeded" else min(1.0, (done + partial) / max(total, 1))
        document = {
            "id": string("id"), "status": status, "created_at": string("created_at"),
            "started_at": string("started_at"), "finished_at": string("finished_at"),
            "progress": {"runs_done": done, "runs_total": total, "fraction": fraction},
            "summary": parsed("summary"), "error": parsed("error"),
            "tasks": int(raw.get("tasks_total", b"0")),
            "cancel_requested": raw.get("cancel") == b"1",
        }
        if with_body:
            document["sweep"] = parsed("body")
        return document

    def list(self, owner: str, limit: int = 50) -> list[dict[str, Any]]:
        """The owner's sweeps, newest first (expired ones dropped)."""
        index = f"{PREFIX}sweeps:{owner}"
        ids = [member.decode() for member in self.redis.zrevrange(index, 0, limit - 1)]
        documents = []
        for sweep_id in ids:
            try:
                documents.append(self.get(sweep_id, owner))
            except SweepNotFound:
                self.redis.zrem(index, sweep_id)
        return documents

    def cancel(self, sweep_id: str, owner: str | None = None) -> str:
        """'cancelled_now' (queued: nothing runs), 'cancelling' (running chunks stop within a
        second, keeping their partial trajectories) or the finished status."""
        self._raw(sweep_id, owner)
        outcome = self._cancel(keys=[self.key(sweep_id)], args=[now_iso()])
        if outcome == b"missing":
            raise SweepNotFound(sweep_id)
        return outcome.decode()

    def run_entries(self, sweep_id: str) -> dict[int, dict[str, Any]]:
        raw = self.redis.hgetall(self.key(sweep_id, "sweep_runs"))
        return {int(k): loads(v) for k, v in raw.items()}

    def result(self, sweep_id: str, owner: str | None = None, *, trajectories: list[int] = (),  # type: ignore[assignment]
               max_points: int | None = None) -> dict[str, Any]:
        """``{"runs", "table", "summary"}``; runs that never ran (a cancelled sweep) are listed
        as cancelled with no final point. ``trajectories``: those runs' trajectories too."""
        from engine.result import shrink_trajectory

        raw = self._raw(sweep_id, owner)
        stored = self.run_entries(sweep_id)
        body = loads(raw["body"])
        if len(stored) < int(raw.get("runs_total", b"0")):
            for run in expand_sweep(body, max_runs=int(raw["runs_total"])):
                if run.index not in stored:
                    stored[run.index] = run_entry(run.index, run.overrides, None)
        entries = [stored[index] for index in sorted(stored)]
        if trajectories:
            rows = self.redis.hmget(self.key(sweep_id, "sweep_traj"), [str(i) for i in trajectories])
            for index, data in zip(trajectories, rows):
                entry = stored.get(index)
                if entry is None or data is None or entry["final"] is None:
                    continue
                dims = len(entry["final"]["params"])
                table = np.frombuffer(data, dtype=row_dtype(dims))
                columns = {name: np.ascontiguousarray(table[name])
                           for name in ("step", "params", "loss", "grad_norm", "lr")}
                entry["trajectory"] = shrink_trajectory(columns, max_points=max_points)
        table = comparison_table(entries)
        return {"runs": entries, "table": table, "summary": sweep_summary(entries, table)}

    # --- worker side
    def claim(self, sweep_id: str) -> tuple[str, str]:
        action, value = self._claim(keys=[self.key(sweep_id)], args=[now_iso()])
        return action.decode(), value.decode()

    def load(self, sweep_id: str) -> tuple[dict[str, Any], int, float]:
        body, total, limit = self.redis.hmget(self.key(sweep_id), ["body", "runs_total", "time_limit_s"])
        return loads(body), int(total), float(limit)

    def report(self, sweep_id: str, chunk: int, runs_worth: float | None) -> bool:
        """Write this chunk's progress (when given); True when the sweep is being cancelled."""
        pipe = self.redis.pipeline(transaction=False)
        if runs_worth is not None:
            pipe.hset(self.key(sweep_id, "sweep_partial"), str(chunk), repr(runs_worth))
            pipe.expire(self.key(sweep_id, "sweep_partial"), self.ttl_s)
        pipe.hget(self.key(sweep_id), "cancel")
        return pipe.execute()[-1] == b"1"

    def save_runs(self, sweep_id: str, entries: dict[int, dict[str, Any]],
                  trajectories: dict[int, bytes]) -> None:
        """Each run's entry and trajectory under its own field (overwritten on redelivery)."""
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.key(sweep_id, "sweep_runs"), mapping={str(i): dumps(e) for i, e in entries.items()})
        pipe.expire(self.key(sweep_id, "sweep_runs"), self.ttl_s)
        if trajectories:
            pipe.hset(self.key(sweep_id, "sweep_traj"), mapping={str(i): t for i, t in trajectories.items()})
            pipe.expire(self.key(sweep_id, "sweep_traj"), self.ttl_s)
        pipe.execute()

    def chunk_done(self, sweep_id: str, chunk: int, runs: int, error: dict[str, Any] | None) -> bool:
        """Count the chunk once; True when it was the last one (the caller finalises)."""
        last = self._chunk_done(
            keys=[self.key(sweep_id), self.key(sweep_id, "sweep_chunks_done"),
                  self.key(sweep_id, "sweep_partial")],
            args=[chunk, runs, dumps(error) if error else b"", self.ttl_s])
        return bool(last)

    def finalise(self, sweep_id: str) -> str:
        """Set the final status (cancelled / failed / succeeded) and the summary."""
        result = self.result(sweep_id)
        final = self._finalise(keys=[self.key(sweep_id)],
                               args=[now_iso(), dumps(result["summary"]), self.ttl_s])
        return final.decode()


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
    from engine import run_group

    action, value = store.claim(sweep_id)
    if action != "run":
        return {"id": sweep_id, "chunk": chunk, "status": value if action == "done" else "missing"}
    body, runs_total, budget_s = store.load(sweep_id)
    error: dict[str, Any] | None = None
    entries: dict[int, dict[str, Any]] = {}
    trajectories: dict[int, bytes] = {}
    started = time.perf_counter()
    if value != "1":  # not cancelled before this chunk started
        limits = Limits(max_steps=settings.max_steps, max_record_points=settings.max_record_points)
        monitor = SweepMonitor(store, sweep_id, chunk, len(indices), budget_s,
                               settings.progress_interval_s)
        try:
            prepared = prepare_sweep(body, limits=limits, load_dataset=load_dataset,
                                     max_runs=runs_total, indices=indices)
            if len(prepared.groups) != 1:
                raise RuntimeError(f"chunk {chunk} holds {len(prepared.groups)} groups, not one")
            results = run_group(prepared.runs, monitor)
            for index, overrides, result in zip(prepared.indices, prepared.overrides, results):
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
    store.save_runs(sweep_id, entries, trajectories)
    if store.chunk_done(sweep_id, chunk, len(indices), error):
        store.finalise(sweep_id)
    return {"id": sweep_id, "chunk": chunk, "runs": len(indices),
            "seconds": time.perf_counter() - started}


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
