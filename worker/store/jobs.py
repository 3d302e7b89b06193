"""``JobStore``: job records — submit, read, list, cancel, delete, and the worker's claim,
progress and finish — with results, liveness and metrics from the sibling modules.

- ``job:{id}`` — a hash, the job record: status, timestamps, the resolved spec, progress,
  summary, error, attempts, owner. Created at submit time, so an unknown id is a 404 at once.
- ``jobs:{owner}`` — a sorted set of the owner's job ids by submit sequence (newest first lists,
  cursor = sequence number). Ids whose record expired are dropped lazily.
- ``idempotency:{owner}:{key}`` — ``"<body hash> <job id>"`` for ``Idempotency-Key``.
- ``finished:{id}`` — a pub/sub channel: the job's final status is published there when it
  ends, for ``GET /result?wait=`` (``api.waiting``: a client waits in one request instead of
  polling).

Finished jobs and results expire after ``job_ttl_s``, or go at once when their owner deletes
them (docs/spec.md §9.4).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from engine import SpecError, SpecErrors, dumps, loads
from worker.store import keys
from worker.store.keys import (
    ANONYMOUS,
    PREFIX,
    RUNTIME_KEY,
    SEQUENCE_KEY,
    STATUS_COUNTS_KEY,
    IdempotencyConflict,
    JobNotFound,
    as_bytes,
    finished_channel,
    now_iso,
)
from worker.store.liveness import Liveness
from worker.store.metrics import Metrics, runtime_bucket
from worker.store.results import ResultReader, result_arguments

DEFAULT_TTL_S = 7 * 24 * 3600


@dataclass
class Progress:
    step: int
    total_steps: int
    fraction: float
    loss: float | None


@dataclass
class _CreateCall:
    """One call of the create script, and what reading its reply needs."""

    keys: list[str]
    args: list[Any]
    record: dict[str, str | bytes]
    idempotency: tuple[str, str] | None


class JobStore(ResultReader, Liveness, Metrics):
    """Job records and results in Redis; one instance per process, thread-safe."""

    def __init__(self, client: redis.Redis, ttl_s: int = DEFAULT_TTL_S) -> None:
        super().__init__(client, ttl_s)

    @classmethod
    def from_url(cls, url: str, ttl_s: int = DEFAULT_TTL_S, retries: int = 3) -> JobStore:
        """``retries`` 0 fails fast (the API answers 503 at once when Redis is down); workers
        retry through short Redis hiccups."""
        client = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=30, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        )
        return cls(client, ttl_s)

    job_key = staticmethod(keys.job_key)
    result_key = staticmethod(keys.result_key)
    index_key = staticmethod(keys.index_key)

    # --- submit side (API)
    def create(
        self,
        spec: dict[str, Any],
        *,
        owner: str = ANONYMOUS,
        time_limit_s: float,
        idempotency: tuple[str, str] | None = None,
        datasets: Collection[str] = (),
        message: Callable[[str], tuple[str, bytes]] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """File a queued job; returns ``(job document, created)``, in one atomic step. With
        ``message`` (the new job's id → a broker queue's list key and its message, when the
        broker is this Redis) the job is queued in that same step: the message is pushed only
        if the job is created, and never without its record. With
        ``idempotency=(key, body_hash)`` a key seen before returns that job (``created`` False)
        or raises ``IdempotencyConflict`` when the body differs. ``datasets``: the stored
        datasets the spec names, kept while the job is unfinished (one deleted since the spec
        was checked is a ``SpecErrors`` on ``data.dataset_id``)."""
        call = self._create_call(spec, owner, time_limit_s, idempotency, datasets, message)
        return self._created(self.scripts.create(keys=call.keys, args=call.args), call)

    async def create_async(
        self, client: redis.asyncio.Redis, spec: dict[str, Any], *, owner: str = ANONYMOUS,
        time_limit_s: float, idempotency: tuple[str, str] | None = None,
        message: Callable[[str], tuple[str, bytes]] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """``create`` (for a spec naming no stored dataset) through an asyncio client: the
        API's event loop files and queues a job with one await, no thread."""
        call = self._create_call(spec, owner, time_limit_s, idempotency, (), message)
        script = client.register_script(self.scripts.create.script)
        return self._created(await script(keys=call.keys, args=call.args), call)

    def _create_call(self, spec: dict[str, Any], owner: str, time_limit_s: float,
                     idempotency: tuple[str, str] | None, datasets: Collection[str],
                     message: Callable[[str], tuple[str, bytes]] | None) -> _CreateCall:
        job_id = uuid.uuid4().hex
        record: dict[str, str | bytes] = {
            "id": job_id, "owner": owner, "status": "queued", "created_at": now_iso(),
            "spec": dumps(spec), "attempts": "0", "time_limit_s": repr(float(time_limit_s)),
        }
        body_hash = ""
        idempotency_key = keys.job_key(job_id)  # a placeholder key when there is none
        if idempotency is not None:
            body_hash = idempotency[1]
            idempotency_key = keys.idempotency_key(owner, idempotency[0])
        dataset_keys = [key for dataset_id in datasets
                        for key in (f"{PREFIX}dataset:{dataset_id}",
                                    keys.dataset_users_key(dataset_id))]
        queue, queued = message(job_id) if message else (keys.job_key(job_id), b"")
        return _CreateCall(
            keys=[keys.job_key(job_id), keys.index_key(owner), STATUS_COUNTS_KEY, SEQUENCE_KEY,
                  idempotency_key, queue, *dataset_keys],
            args=[self.ttl_s, job_id, body_hash, keys.job_key(""), queued,
                  *(item for pair in record.items() for item in pair)],
            record=record, idempotency=idempotency)

    def _created(self, reply: Any, call: _CreateCall) -> tuple[dict[str, Any], bool]:
        outcome = as_bytes(reply[0]).decode()
        if outcome == "conflict":
            raise IdempotencyConflict(call.idempotency[0] if call.idempotency else "")
        if outcome == "existing":
            fields = [as_bytes(item) for item in reply[1]]
            return self._document(dict(zip(fields[::2], fields[1::2]))), False
        if outcome == "no_dataset":
            dataset_id = as_bytes(reply[1]).decode().rpartition(":")[2]
            raise SpecErrors([SpecError("data.dataset_id", f"no dataset {dataset_id} (it was "
                                        "deleted); upload it again with POST /v1/datasets")])
        record = {**call.record, "sequence": as_bytes(reply[1])}
        return self._document({name.encode(): value if isinstance(value, bytes)
                               else value.encode() for name, value in record.items()}), True

    def mark_unqueued(self, job_id: str) -> None:
        """The broker refused the job: fail it with the reason and free its Idempotency-Key
        (the next submission with the key files and queues a new job). When Redis is full
        (the broker's refusal is usually why), the job is removed instead, with commands a full
        Redis still takes, so that no queued record is left without a message."""
        try:
            self.redis.hset(keys.job_key(job_id), "unqueued", "1")
            self.finish(job_id, "failed", error={
                "type": "queue_unreachable", "message": "the job could not be queued"})
        except redis.RedisError as error:
            if not keys.out_of_memory(error):
                raise
            self._forget(job_id)

    def _forget(self, job_id: str) -> None:
        """Remove a job that never ran: its record, its place in the owner's list, its
        Idempotency-Key (DEL and ZREM: no command here needs memory)."""
        owner, idempotency = map(keys.as_bytes, self.redis.hmget(
            keys.job_key(job_id), ["owner", "idempotency"]))
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.job_key(job_id))
        if owner is not None:
            pipe.zrem(keys.index_key(owner.decode()), job_id)
        if idempotency:
            pipe.delete(idempotency.decode())
        pipe.execute()

    def get(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        """The job document (docs/spec.md §9); ``JobNotFound`` if unknown or another owner's."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(keys.job_key(job_id)))
        if not raw or (owner is not None and raw.get(b"owner", b"").decode() != owner):
            raise JobNotFound(job_id)
        return self._document(raw)

    def get_many(self, job_ids: list[str]) -> list[dict[str, Any] | None]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(keys.job_key(job_id))
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
        index = keys.index_key(owner)
        upper: str = "+inf" if cursor is None else f"({cursor}"
        page: list[dict[str, Any]] = []
        last_score = 0
        batch = max(limit + 1, 100) if status else limit + 1
        while True:
            entries = cast(list[tuple[bytes, float]], self.redis.zrevrangebyscore(
                index, upper, "-inf", start=0, num=batch, withscores=True
            ))
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
        outcome = self.scripts.cancel(
            keys=[keys.job_key(job_id), STATUS_COUNTS_KEY, finished_channel(job_id)],
            args=[now_iso(), self.ttl_s],
        )
        if outcome == b"missing":
            raise JobNotFound(job_id)
        return as_bytes(outcome).decode()

    def delete(self, job_id: str, owner: str | None = None) -> str:
        """Remove a finished job, its result, its place in the owner's list and its
        Idempotency-Key, for good: 'deleted'. An unfinished job is left as it is and its status
        ('queued' or 'running') is the answer. ``JobNotFound`` if unknown or another owner's."""
        outcome = as_bytes(self.scripts.delete(
            keys=[keys.job_key(job_id), keys.result_key(job_id)],
            args=[owner or "", keys.index_key("")],
        )).decode()
        if outcome == "missing":
            raise JobNotFound(job_id)
        return outcome

    # --- worker side
    def claim(self, job_id: str) -> tuple[str, Any]:
        """Mark the job running for this process, in one round trip: ('run', (attempt number,
        spec, time limit in seconds)), ('done', status) or ('missing', '0')."""
        reply = self.scripts.claim(
            keys=[keys.job_key(job_id), STATUS_COUNTS_KEY],
            args=[now_iso(), os.getpid()],
        )
        action = reply[0].decode()
        if action != "run":
            return action, reply[1].decode()
        return action, (int(reply[1]), loads(reply[2]), float(reply[3]))

    def report_progress(self, job_id: str, progress: Progress | None) -> bool:
        """Write progress (when given) and read the cancellation flag in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        if progress is not None:
            pipe.hset(keys.job_key(job_id), mapping={
                "progress": dumps(progress.__dict__), "alive_at": now_iso()
            })
        pipe.hget(keys.job_key(job_id), "cancel")
        return bool(pipe.execute()[-1] == b"1")

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
        data, layout = result_arguments(trajectory, epoch_loss)
        done = self.scripts.finish(
            keys=[keys.job_key(job_id), keys.result_key(job_id), STATUS_COUNTS_KEY,
                  RUNTIME_KEY, finished_channel(job_id)],
            args=[status, now_iso(), dumps(summary) if summary is not None else b"",
                  dumps(error) if error is not None else b"", self.ttl_s,
                  "1" if trajectory is not None else "0", data, layout,
                  repr(float(run_seconds)), runtime_bucket(run_seconds), job_id,
                  dumps(final_progress.__dict__) if final_progress is not None else b""],
        )
        return bool(done)
