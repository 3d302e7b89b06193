"""Names shared by the job store's modules: the key prefix, the statuses, the Redis key of each
thing a job owns, and small helpers (timestamps, owners, channels)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, cast

import redis

PREFIX = "descent:"
FINISHED = ("succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
STATUSES = (*ACTIVE, *FINISHED)
ANONYMOUS = "-"
WORKERS_KEY = f"{PREFIX}workers"
STATUS_COUNTS_KEY = f"{PREFIX}status_counts"
RUNTIME_KEY = f"{PREFIX}runtime"
SEQUENCE_KEY = f"{PREFIX}sequence"


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


def job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def result_key(job_id: str) -> str:
    return f"{PREFIX}result:{job_id}"


def index_key(owner: str) -> str:
    return f"{PREFIX}jobs:{owner}"


def idempotency_key(owner: str, key: str) -> str:
    return f"{PREFIX}idempotency:{owner}:{key}"


def dataset_users_key(dataset_id: str) -> str:
    """The set of jobs and sweeps (their record keys) that named a dataset, so that a dataset in
    use is not deleted under them (docs/spec.md §9.4)."""
    return f"{PREFIX}dataset_users:{dataset_id}"


def as_bytes(reply: Any) -> bytes:
    """A Redis reply as the bytes it is (the clients here never decode responses; redis-py's
    types cannot know that)."""
    return cast(bytes, reply)


def out_of_memory(error: BaseException) -> bool:
    """Redis refused a write over its ``maxmemory`` (policy ``noeviction``): ``-OOM`` for a
    command, an ``ERR Error running script ... OOM ...`` for a write inside a Lua script, or
    either behind the broker's ``OperationalError`` (kombu wraps the Redis error)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, redis.exceptions.OutOfMemoryError) \
                or "OOM command not allowed" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
