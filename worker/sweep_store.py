"""The Redis sweep store (docs/spec.md §9.1): sweep records, per-run results and trajectories,
chunk bookkeeping. ``worker.sweeps`` runs the chunks.

Keys (all under ``descent:``, all expiring after ``job_ttl_s``):

- ``sweep:{id}`` — a hash: status, timestamps, owner, the sweep body, runs_total, tasks_total,
  runs_done (runs of finished chunks), cancel flag, summary, error.
- ``sweep_runs:{id}`` — a hash, run index → that run's result entry (JSON, no trajectory).
- ``sweep_traj:{id}`` — a hash, run index → its trajectory as raw rows (``worker.store``'s
  layout: ``step:int64, params:float64[d], loss, grad_norm, lr``).
- ``sweep_chunks_done:{id}`` — a set of finished chunk numbers: a redelivered chunk is counted
  once, and the chunk that completes the set finalises the sweep.
- ``sweep_partial:{id}`` — a hash, chunk number → runs-worth of progress (for ``fraction``).
- ``sweep_attempts:{id}`` — a hash, chunk number → deliveries claimed (and ``{chunk}:pid`` →
  the worker process running it): a chunk that kills its worker every time is failed after
  ``max_attempts``, as a job is, instead of being requeued forever.
- ``sweeps:{owner}`` — the owner's sweep ids by submit sequence, newest first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Sequence
from typing import Any, cast

import numpy as np
import redis
from redis.typing import EncodableT, FieldT

from engine import SpecError, SpecErrors, dumps, loads
from engine.sweep import expand_sweep, run_entry, sweep_result
from worker.store import PIECE_BYTES, PREFIX, dataset_users_key, now_iso, row_dtype
from worker.store.keys import SEQUENCE_KEY, as_bytes

# The parts of a sweep besides its record, deleted with it.
PARTS = ("sweep_runs", "sweep_traj", "sweep_chunks_done", "sweep_partial", "sweep_attempts")

# KEYS: sweep, owner index, sequence, then (dataset, dataset users) pairs;
# ARGV: ttl, sweep id, then the record's field/value pairs
_CREATE = """
for i = 4, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {'no_dataset', KEYS[i]} end
end
local sequence = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'sequence', sequence, unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], sequence, ARGV[2])
for i = 5, #KEYS, 2 do
  redis.call('SADD', KEYS[i], KEYS[1])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return {'created', tostring(sequence)}
"""

# KEYS: sweep, chunks done, attempts; ARGV: now, chunk, worker pid, ttl
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '0', '0'} end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  return {'done', status, '0'}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return {'done', 'chunk_done', '0'} end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
end
local attempts = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2] .. ':pid', ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {'run', redis.call('HGET', KEYS[1], 'cancel') or '0', tostring(attempts)}
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

# KEYS: sweep; ARGV: finished_at, error JSON, ttl. Fails an unfinished sweep outright.
_FAIL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return '' end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return status end
redis.call('HSET', KEYS[1], 'status', 'failed', 'finished_at', ARGV[1], 'error', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 'failed'
"""

# KEYS: sweep, then its parts; ARGV: owner ('' for any), the owner index prefix.
# Removes a finished sweep and everything it stored; an unfinished one is left (its status).
_DELETE = """
local record = redis.call('HMGET', KEYS[1], 'status', 'owner', 'id')
local status, owner, id = record[1], record[2], record[3]
if not status or (ARGV[1] ~= '' and owner ~= ARGV[1]) then return 'missing' end
if status == 'queued' or status == 'running' then return status end
redis.call('DEL', unpack(KEYS))
redis.call('ZREM', ARGV[2] .. owner, id)
return 'deleted'
"""


class SweepNotFound(LookupError):
    """No such sweep (or not this owner's)."""


class SweepStore:
    """Sweep records, per-run results and trajectories in Redis (one per process)."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._cancel = client.register_script(_CANCEL)
        self._chunk_done = client.register_script(_CHUNK_DONE)
        self._finalise = client.register_script(_FINALISE)
        self._fail = client.register_script(_FAIL)
        self._delete = client.register_script(_DELETE)

    @staticmethod
    def key(sweep_id: str, kind: str = "sweep") -> str:
        return f"{PREFIX}{kind}:{sweep_id}"

    @staticmethod
    def index_key(owner: str) -> str:
        return f"{PREFIX}sweeps:{owner}"

    # --- API side
    def create(self, body: dict[str, Any], *, owner: str, runs_total: int, tasks_total: int,
               time_limit_s: float, datasets: Collection[str] = ()) -> str:
        """File a queued sweep; ``datasets`` (the stored datasets its runs name) are kept while
        it is unfinished (one deleted since the runs were checked is a ``SpecErrors``)."""
        sweep_id = uuid.uuid4().hex
        record: dict[str, EncodableT] = {
            "id": sweep_id, "owner": owner, "status": "queued", "created_at": now_iso(),
            "body": dumps(body), "runs_total": runs_total, "tasks_total": tasks_total,
            "runs_done": 0, "time_limit_s": repr(float(time_limit_s))}
        dataset_keys = [key for dataset_id in datasets
                        for key in (f"{PREFIX}dataset:{dataset_id}",
                                    dataset_users_key(dataset_id))]
        reply = self._create(
            keys=[self.key(sweep_id), self.index_key(owner), SEQUENCE_KEY, *dataset_keys],
            args=[self.ttl_s, sweep_id, *(item for pair in record.items() for item in pair)])
        if as_bytes(reply[0]) == b"no_dataset":
            dataset_id = as_bytes(reply[1]).decode().rpartition(":")[2]
            raise SpecErrors([SpecError("base.data.dataset_id", f"no dataset {dataset_id} (it "
                                        "was deleted); upload it again with POST /v1/datasets")])
        return sweep_id

    def _raw(self, sweep_id: str, owner: str | None) -> dict[str, bytes]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key(sweep_id)))
        if not raw or (owner is not None and raw.get(b"owner", b"").decode() != owner):
            raise SweepNotFound(sweep_id)
        return {k.decode(): v for k, v in raw.items()}

    def get(self, sweep_id: str, owner: str | None = None, *,
            with_body: bool = False) -> dict[str, Any]:
        """The sweep document; ``SweepNotFound`` if unknown or another owner's."""
        raw = self._raw(sweep_id, owner)
        partial = cast(list[bytes], self.redis.hvals(self.key(sweep_id, "sweep_partial")))
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
        index = self.index_key(owner)
        members = cast(list[bytes], self.redis.zrevrange(index, 0, limit - 1))
        documents = []
        for sweep_id in (member.decode() for member in members):
            try:
                documents.append(self.get(sweep_id, owner))
            except SweepNotFound:
                self.redis.zrem(index, sweep_id)
        return documents

    def cancel(self, sweep_id: str, owner: str | None = None) -> str:
        """'cancelled_now' (queued: nothing runs), 'cancelling' (running chunks stop within a
        second, keeping their partial trajectories) or the finished status."""
        self._raw(sweep_id, owner)
        outcome = as_bytes(self._cancel(keys=[self.key(sweep_id)], args=[now_iso()]))
        if outcome == b"missing":
            raise SweepNotFound(sweep_id)
        return outcome.decode()

    def delete(self, sweep_id: str, owner: str | None = None) -> str:
        """Remove a finished sweep, its runs' results and trajectories and its place in the
        owner's list, for good: 'deleted'. An unfinished sweep is left as it is and its status
        is the answer. ``SweepNotFound`` if unknown or another owner's."""
        outcome = as_bytes(self._delete(
            keys=[self.key(sweep_id), *(self.key(sweep_id, part) for part in PARTS)],
            args=[owner or "", self.index_key("")])).decode()
        if outcome == "missing":
            raise SweepNotFound(sweep_id)
        return outcome

    def run_entries(self, sweep_id: str) -> dict[int, dict[str, Any]]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.key(sweep_id, "sweep_runs")))
        return {int(k): loads(v) for k, v in raw.items()}

    def result(self, sweep_id: str, owner: str | None = None, *,
               trajectories: Sequence[int] = (), max_points: int | None = None) -> dict[str, Any]:
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
            rows = cast(list[bytes | None], self.redis.hmget(
                self.key(sweep_id, "sweep_traj"), [str(i) for i in trajectories]))
            for index, data in zip(trajectories, rows):
                entry = stored.get(index)
                if entry is None or data is None or entry["final"] is None:
                    continue
                dims = len(entry["final"]["params"])
                table = np.frombuffer(data, dtype=row_dtype(dims))
                columns = {name: np.ascontiguousarray(table[name])
                           for name in ("step", "params", "loss", "grad_norm", "lr")}
                entry["trajectory"] = shrink_trajectory(columns, max_points=max_points)
        return sweep_result(body, entries)

    # --- worker side
    def claim(self, sweep_id: str, chunk: int) -> tuple[str, str, int]:
        """Claim a delivery of chunk ``chunk``: ('run', cancel flag, attempt number),
        ('done', the sweep's final status or 'chunk_done', 0) or ('missing', '0', 0)."""
        action, value, attempts = (as_bytes(item).decode() for item in self._claim(
            keys=[self.key(sweep_id), self.key(sweep_id, "sweep_chunks_done"),
                  self.key(sweep_id, "sweep_attempts")],
            args=[now_iso(), chunk, os.getpid(), self.ttl_s]))
        return action, value, int(attempts)

    def load(self, sweep_id: str) -> tuple[dict[str, Any], int, float]:
        body, total, limit = map(as_bytes, self.redis.hmget(
            self.key(sweep_id), ["body", "runs_total", "time_limit_s"]))
        if body is None:
            raise SweepNotFound(sweep_id)
        return loads(body), int(total), float(limit)

    def report(self, sweep_id: str, chunk: int, runs_worth: float | None) -> bool:
        """Write this chunk's progress (when given); True when the sweep is being cancelled."""
        pipe = self.redis.pipeline(transaction=False)
        if runs_worth is not None:
            pipe.hset(self.key(sweep_id, "sweep_partial"), str(chunk), repr(runs_worth))
            pipe.expire(self.key(sweep_id, "sweep_partial"), self.ttl_s)
        pipe.hget(self.key(sweep_id), "cancel")
        return bool(pipe.execute()[-1] == b"1")

    def save_runs(self, sweep_id: str, entries: dict[int, dict[str, Any]],
                  trajectories: dict[int, bytes]) -> None:
        """Each run's entry and trajectory under its own field (overwritten on redelivery); the
        trajectories in commands of about ``PIECE_BYTES`` each (one command of a chunk's
        24 MB costs several times more to pack and to append to Redis's file)."""
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=False)
        runs: dict[FieldT, EncodableT] = {str(i): dumps(e) for i, e in entries.items()}
        pipe.hset(self.key(sweep_id, "sweep_runs"), mapping=runs)
        pipe.expire(self.key(sweep_id, "sweep_runs"), self.ttl_s)
        piece: dict[FieldT, EncodableT] = {}
        size = 0
        for index, rows in trajectories.items():
            piece[str(index)] = rows
            size += len(rows)
            if size >= PIECE_BYTES:
                pipe.hset(self.key(sweep_id, "sweep_traj"), mapping=piece)
                piece, size = {}, 0
        if piece:
            pipe.hset(self.key(sweep_id, "sweep_traj"), mapping=piece)
        if trajectories:
            pipe.expire(self.key(sweep_id, "sweep_traj"), self.ttl_s)
        pipe.execute()

    def chunk_done(self, sweep_id: str, chunk: int, runs: int,
                   error: dict[str, Any] | None) -> bool:
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
        return as_bytes(final).decode()

    def fail(self, sweep_id: str, error: dict[str, Any]) -> str:
        """Fail an unfinished sweep outright with ``error`` (its bookkeeping broke); the final
        status is the answer."""
        final = self._fail(keys=[self.key(sweep_id)], args=[now_iso(), dumps(error), self.ttl_s])
        return as_bytes(final).decode()


__all__ = ["PARTS", "SweepNotFound", "SweepStore"]
