"""The Redis job store: job records, progress, cancellation flags and results.

Keys (all under ``descent:``):

- ``job:{id}`` — a hash, the job record: status, timestamps, the resolved spec, progress,
  summary, error, attempts, owner. Created at submit time, so an unknown id is a 404 at once.
- ``result:{id}`` — the trajectory as raw little-endian rows ``step:int64, params:float64[d],
  loss, grad_norm, lr:float64`` (8·(d+4) bytes a point), one key, overwritten (never appended)
  by each run of the job. Raw rows rather than compressed columns: float trajectories barely
  compress, and fixed-size rows let a ``max_points`` request fetch only the rows it shows with
  one server-side gather (``GETRANGE`` per row), so a thinned view of a million points costs
  milliseconds.
- ``result_json:{id}`` — a hash: each trajectory column (``step``, ``params``, ``loss``,
  ``grad_norm``, ``lr``) already written as JSON, by the worker when the job finishes. A full
  ``GET /result`` streams them as they are: writing a million-point trajectory as JSON takes
  longer (~0.4 s) than the whole request may.
- ``jobs:{owner}`` — a sorted set of the owner's job ids by submit sequence (newest first lists,
  cursor = sequence number). Ids whose record expired are dropped lazily.
- ``idempotency:{owner}:{key}`` — ``"<body hash> <job id>"`` for ``Idempotency-Key``.
- ``status_counts``, ``runtime`` — hashes behind ``/metrics``.
- ``finished:{id}`` — a pub/sub channel: the job's final status is published there when it
  ends, for ``GET /result?wait=`` (``api.waiting``: a client waits in one request instead of
  polling).
- ``workers`` — a sorted set of worker heartbeats, for ``/readyz``.

Finished jobs and results expire after ``job_ttl_s``. State transitions are Lua scripts, so the
API's cancel and the worker's claim can never both win.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from engine import dumps, loads
from engine.result import TRAJECTORY_FIELDS

PREFIX = "descent:"
FINISHED = ("succeeded", "failed", "cancelled")
STATUSES = ("queued", "running", *FINISHED)
RUNTIME_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1800.0)
ANONYMOUS = "-"
RUNNING_KEY = f"{PREFIX}running"
GATHER_LIMIT = 20_000  # above this many rows, fetch the whole result and slice it locally

_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '0'} end
if status == 'queued' or status == 'running' then
  if status == 'queued' then
    redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
    redis.call('HINCRBY', KEYS[2], 'queued', -1)
    redis.call('HINCRBY', KEYS[2], 'running', 1)
  end
  redis.call('HSET', KEYS[1], 'worker_pid', ARGV[2], 'alive_at', ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  local job = redis.call('HMGET', KEYS[1], 'spec', 'time_limit_s')
  return {'run', tostring(attempts), job[1], job[2]}
end
return {'done', status}
"""

# KEYS: job, index, counts, sequence; ARGV: ttl, job id, then the record's field/value pairs.
# Files the job under the next sequence number in one round trip.
_CREATE = """
local sequence = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], 'sequence', sequence, unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], sequence, ARGV[2])
redis.call('HINCRBY', KEYS[3], 'queued', 1)
return sequence
"""

_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1], 'cancel', '1')
  redis.call('HINCRBY', KEYS[2], 'queued', -1)
  redis.call('HINCRBY', KEYS[2], 'cancelled', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('PUBLISH', KEYS[3], 'cancelled')
  return 'cancelled_now'
end
if status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  return 'cancelling'
end
return status
"""

# The running set (a sorted set: job id -> last sign of life, epoch seconds) lets any worker
# find jobs whose worker died outright and hand them out again (``rescue_stale``).
_RESCUE = """
local alive = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not alive or tonumber(alive) > tonumber(ARGV[2]) then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: job, result, counts, runtime, running, result_json, finished channel;
# ARGV: status, finished_at, summary, error, ttl, has_result ('1'/'0'), result bytes, layout,
# run seconds, histogram bucket field, job id, final progress ('' for none), then the JSON
# columns as field/value pairs
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'progress', ARGV[12]) end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'summary', ARGV[3],
           'error', ARGV[4], 'has_result', ARGV[6], 'layout', ARGV[8])
redis.call('HINCRBY', KEYS[3], status, -1)
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('ZREM', KEYS[5], ARGV[11])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if ARGV[6] == '1' then
  redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[5])
  redis.call('HSET', KEYS[6], unpack(ARGV, 13))
  redis.call('EXPIRE', KEYS[6], ARGV[5])
end
redis.call('PUBLISH', KEYS[7], ARGV[1])
redis.call('HINCRBYFLOAT', KEYS[4], 'sum', ARGV[9])
redis.call('HINCRBY', KEYS[4], 'count', 1)
redis.call('HINCRBY', KEYS[4], ARGV[10], 1)
return 1
"""

_GATHER = """
local size = tonumber(ARGV[1])
local rows = {}
for i = 2, #ARGV do
  local offset = tonumber(ARGV[i]) * size
  rows[#rows + 1] = redis.call('GETRANGE', KEYS[1], offset, offset + size - 1)
end
return table.concat(rows)
"""


class JobNotFound(LookupError):
    """No such job (or not this owner's)."""


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with another body."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def owner_of(api_key: str | None) -> str:
    """Jobs are filed under a hash of the key that made them, never the key itself."""
    return ANONYMOUS if not api_key else hashlib.sha256(api_key.encode()).hexdigest()[:24]


def finished_channel(job_id: str) -> str:
    """The pub/sub channel on which a job's end (its final status) is announced."""
    return f"{PREFIX}finished:{job_id}"


def row_dtype(dims: int) -> np.dtype:
    return np.dtype(
        [("step", "<i8"), ("params", "<f8", (dims,)), ("loss", "<f8"), ("grad_norm", "<f8"),
         ("lr", "<f8")]
    )


def pack_trajectory(trajectory: dict[str, np.ndarray]) -> tuple[bytes, dict[str, int]]:
    """The trajectory columns as raw rows, and the layout needed to read them back."""
    params = np.asarray(trajectory["params"], dtype=float)
    n, dims = params.shape
    rows = np.empty(n, dtype=row_dtype(dims))
    for name in ("step", "loss", "grad_norm", "lr"):
        rows[name] = trajectory[name]
    rows["params"] = params
    return rows.tobytes(), {"points": n, "dims": dims}


@dataclass
class Progress:
    step: int
    total_steps: int
    fraction: float
    loss: float | None


class JobStore:
    """Job records and results in Redis; one instance per process, thread-safe."""

    def __init__(self, client: redis.Redis, ttl_s: int = 7 * 24 * 3600) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self._claim = client.register_script(_CLAIM)
        self._create = client.register_script(_CREATE)
        self._rescue = client.register_script(_RESCUE)
        self._cancel = client.register_script(_CANCEL)
        self._finish = client.register_script(_FINISH)
        self._gather = client.register_script(_GATHER)

    @classmethod
    def from_url(cls, url: str, ttl_s: int = 7 * 24 * 3600, retries: int = 3) -> JobStore:
        """``retries`` 0 fails fast (the API answers 503 at once when Redis is down); workers
        retry through short Redis hiccups."""
        client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=30, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        )
        return cls(client, ttl_s)

    # --- keys
    @staticmethod
    def job_key(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    @staticmethod
    def result_key(job_id: str) -> str:
        return f"{PREFIX}result:{job_id}"

    @staticmethod
    def result_json_key(job_id: str) -> str:
        return f"{PREFIX}result_json:{job_id}"

    @staticmethod
    def index_key(owner: str) -> str:
        return f"{PREFIX}jobs:{owner}"

    # --- submit side (API)
    def create(
        self,
        spec: dict[str, Any],
        *,
        owner: str = ANONYMOUS,
        time_limit_s: float,
        idempotency: tuple[str, str] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """File a queued job; returns ``(job document, created)``. With
        ``idempotency=(key, body_hash)`` a key seen before returns that job (``created`` False)
        or raises ``IdempotencyConflict`` when the body differs."""
        job_id = uuid.uuid4().hex
        record = {
            "id": job_id, "owner": owner, "status": "queued", "created_at": now_iso(),
            "spec": dumps(spec), "attempts": 0, "time_limit_s": repr(float(time_limit_s)),
        }
        if idempotency is not None:
            key, body_hash = idempotency
            idem_key = f"{PREFIX}idempotency:{owner}:{key}"
            if not self.redis.set(idem_key, f"{body_hash} {job_id}", nx=True, ex=self.ttl_s):
                stored = (self.redis.get(idem_key) or b" ").decode()
                stored_hash, _, stored_id = stored.partition(" ")
                if stored_hash != body_hash:
                    raise IdempotencyConflict(key)
                return self.get(stored_id), False
        self._create(
            keys=[self.job_key(job_id), self.index_key(owner), f"{PREFIX}status_counts",
                  f"{PREFIX}sequence"],
            args=[self.ttl_s, job_id, *(item for pair in record.items() for item in pair)],
        )
        return self._document({name.encode(): value if isinstance(value, bytes)
                               else str(value).encode() for name, value in record.items()}), True

    def get(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        """The job document (SPEC.md §9); ``JobNotFound`` if unknown or another owner's."""
        raw = self.redis.hgetall(self.job_key(job_id))
        if not raw or (owner is not None and raw.get(b"owner", b"").decode() != owner):
            raise JobNotFound(job_id)
        return self._document(raw)

    def get_many(self, job_ids: list[str]) -> list[dict[str, Any] | None]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.job_key(job_id))
        return [self._document(raw, with_spec=False) if raw else None for raw in pipe.execute()]

    @staticmethod
    def _document(raw: dict[bytes, bytes], with_spec: bool = True) -> dict[str, Any]:
        text = {k.decode(): v for k, v in raw.items()}

        def string(name: str) -> str | None:
            value = text.get(name)
            return value.decode() if value else None

        def parsed(name: str) -> Any:
            value = text.get(name)
            return loads(value) if value else None

        spec = parsed("spec") or {}
        progress = parsed("progress") or {
            "step": 0, "total_steps": spec.get("max_steps"), "fraction": 0.0, "loss": None
        }
        document: dict[str, Any] = {
            "id": string("id"),
            "status": string("status"),
            "created_at": string("created_at"),
            "started_at": string("started_at"),
            "finished_at": string("finished_at"),
            "progress": progress,
            "summary": parsed("summary"),
            "error": parsed("error"),
            "attempts": int(text.get("attempts", b"0")),
            "cancel_requested": text.get("cancel") == b"1",
        }
        if with_spec:
            document["spec"] = spec
        return document

    def list(
        self,
        owner: str,
        *,
        status: str | None = None,
        limit: int = 50,
        cursor: int | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; returns the page and the cursor of the next page (None at the end)."""
        index = self.index_key(owner)
        upper: str = "+inf" if cursor is None else f"({cursor}"
        page: list[dict[str, Any]] = []
        last_score = 0
        batch = max(limit + 1, 100) if status else limit + 1
        while True:
            entries = self.redis.zrevrangebyscore(
                index, upper, "-inf", start=0, num=batch, withscores=True
            )
            if not entries:
                return page, None
            ids = [member.decode() for member, _ in entries]
            documents = self.get_many(ids)
            gone = [job_id for job_id, doc in zip(ids, documents) if doc is None]
            if gone:
                self.redis.zrem(index, *gone)
            for (_, score), document in zip(entries, documents):
                if document is not None and (not status or document["status"] == status):
                    if len(page) == limit:
                        return page, last_score
                    page.append(document)
                    last_score = int(score)
                upper = f"({int(score)}"
            if len(entries) < batch:
                return page, None

    def cancel(self, job_id: str, owner: str | None = None) -> str:
        """'cancelled_now' (was queued: it will never run), 'cancelling' (running: the run
        stops at its next progress check) or the finished status (nothing to cancel)."""
        self.get(job_id, owner)  # 404 first, for unknown ids and other owners
        outcome = self._cancel(
            keys=[self.job_key(job_id), f"{PREFIX}status_counts", finished_channel(job_id)],
            args=[now_iso(), self.ttl_s],
        )
        if outcome == b"missing":
            raise JobNotFound(job_id)
        return outcome.decode()

    # --- worker side
    def claim(self, job_id: str) -> tuple[str, Any]:
        """Mark the job running for this process, in one round trip: ('run', (attempt number,
        spec, time limit in seconds)), ('done', status) or ('missing', '0')."""
        reply = self._claim(
            keys=[self.job_key(job_id), f"{PREFIX}status_counts", RUNNING_KEY],
            args=[now_iso(), os.getpid(), time.time(), job_id],
        )
        action = reply[0].decode()
        if action != "run":
            return action, reply[1].decode()
        return action, (int(reply[1]), loads(reply[2]), float(reply[3]))

    def report_progress(self, job_id: str, progress: Progress | None) -> bool:
        """Write progress (when given) and read the cancellation flag in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        if progress is not None:
            pipe.hset(self.job_key(job_id), mapping={
                "progress": dumps(progress.__dict__), "alive_at": now_iso()
            })
            pipe.zadd(RUNNING_KEY, {job_id: time.time()}, xx=True)
        pipe.hget(self.job_key(job_id), "cancel")
        return pipe.execute()[-1] == b"1"

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        summary: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        trajectory: dict[str, np.ndarray] | None = None,
        epoch_loss: np.ndarray | None = None,
        run_seconds: float = 0.0,
        final_progress: Progress | None = None,
    ) -> bool:
        """Record the outcome (and the result, overwriting any earlier run's) atomically."""
        data, layout, columns = b"", {}, []
        if trajectory is not None:
            data, layout = pack_trajectory(trajectory)
            layout["epoch_loss"] = epoch_loss  # type: ignore[assignment]
            columns = [item for name in ("step", *TRAJECTORY_FIELDS)
                       for item in (name, dumps(trajectory[name]))]
        bucket = next((f"le_{b}" for b in RUNTIME_BUCKETS if run_seconds <= b), "le_inf")
        done = self._finish(
            keys=[self.job_key(job_id), self.result_key(job_id), f"{PREFIX}status_counts",
                  f"{PREFIX}runtime", RUNNING_KEY, self.result_json_key(job_id),
                  finished_channel(job_id)],
            args=[status, now_iso(), dumps(summary) if summary is not None else b"",
                  dumps(error) if error is not None else b"", self.ttl_s,
                  "1" if trajectory is not None else "0", data, dumps(layout),
                  repr(float(run_seconds)), bucket, job_id,
                  dumps(final_progress.__dict__) if final_progress is not None else b"",
                  *columns],
        )
        return bool(done)

    # --- results
    def result_record(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        """What ``GET /result`` needs of the job record, in one round trip: ``status``,
        ``summary`` and ``error`` (parsed) and ``layout`` (None when there is no result)."""
        raw = self.redis.hmget(self.job_key(job_id),
                               ["owner", "status", "summary", "error", "has_result", "layout"])
        stored_owner, status, summary, error, has_result, layout = raw
        if stored_owner is None or (owner is not None and stored_owner.decode() != owner):
            raise JobNotFound(job_id)
        return {
            "status": status.decode(),
            "summary": loads(summary) if summary else None,
            "error": loads(error) if error else None,
            "layout": loads(layout) if has_result == b"1" else None,
        }

    def written_columns(self, job_id: str, names: tuple[str, ...]) -> Iterator[bytes] | None:
        """The whole columns ``names`` as the JSON the worker wrote, each fetched as the caller
        iterates (a million-point trajectory is ~100 MB: the answer can start going out while the
        rest is read); None for a result stored before these columns existed."""
        key = self.result_json_key(job_id)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hstrlen(key, name)
        if not all(pipe.execute()):
            return None
        return (self._written_column(job_id, key, name) for name in names)

    def _written_column(self, job_id: str, key: str, name: str) -> bytes:
        column = self.redis.hget(key, name)
        if column is None:  # expired mid-answer: fail it rather than answer a wrong document
            raise JobNotFound(job_id)
        return column

    def read_trajectory(
        self, job_id: str, layout: dict[str, Any], indices: np.ndarray | None,
        fields: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        """The columns ``step`` and ``fields`` of the stored trajectory at ``indices`` (all when
        None), from its rows."""
        dtype = row_dtype(int(layout["dims"]))
        key = self.result_key(job_id)
        if indices is not None and len(indices) <= GATHER_LIMIT:
            rows = np.frombuffer(self._gather(keys=[key], args=[dtype.itemsize, *indices.tolist()]),
                                 dtype=dtype)
        else:
            data = self.redis.get(key)
            if data is None:
                raise JobNotFound(job_id)
            rows = np.frombuffer(data, dtype=dtype)
            if indices is not None:
                rows = rows[indices]
        return {name: np.ascontiguousarray(rows[name]) for name in ("step", *fields)}

    # --- health and metrics
    def rescue_stale(self, stale_s: float) -> list[str]:
        """Running jobs with no sign of life for ``stale_s`` (their whole worker died): each is
        claimed for a new delivery by exactly one caller, which must enqueue it again."""
        now = time.time()
        candidates = self.redis.zrangebyscore(RUNNING_KEY, "-inf", now - stale_s)
        rescued = []
        for raw in candidates:
            job_id = raw.decode()
            if self._rescue(keys=[self.job_key(job_id), RUNNING_KEY],
                            args=[job_id, now - stale_s, now]):
                rescued.append(job_id)
        return rescued

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def beat(self, worker_name: str) -> None:
        self.redis.zadd(f"{PREFIX}workers", {worker_name: time.time()})

    def forget_worker(self, worker_name: str) -> None:
        self.redis.zrem(f"{PREFIX}workers", worker_name)

    def live_workers(self, within_s: float = 15.0) -> int:
        return int(self.redis.zcount(f"{PREFIX}workers", time.time() - within_s, "+inf"))

    def metrics(self, queue_name: str) -> dict[str, Any]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(f"{PREFIX}status_counts")
        pipe.hgetall(f"{PREFIX}runtime")
        pipe.llen(queue_name)
        counts, runtime, depth = pipe.execute()
        return {
            "status_counts": {k.decode(): int(v) for k, v in counts.items()},
            "runtime": {k.decode(): float(v) for k, v in runtime.items()},
            "queue_depth": int(depth),
        }
