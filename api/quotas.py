"""Fairness between callers (SPEC.md §9.4): a request rate limit and a cap on active work.

Both are counted per *identity*: the caller's key (its hash, as the job store's owner) when the
server sets ``DESCENT_API_KEYS``, else the client address. Both checks happen in Redis, so they
hold across every API process of a deployment.

- **Rate** (``DESCENT_RATE_LIMIT``, e.g. ``100/second``): a moving window (the ``limits``
  library's Redis Lua script: each request's timestamp in a list, admitted only when the
  window holds fewer than the limit; exact, no burst at window edges). Reads (GET, HEAD) and
  writes (POST, DELETE) have separate windows, each with the whole limit, so a caller whose
  submissions are throttled can still read its own jobs and results.
- **Active cap** (``DESCENT_MAX_ACTIVE``): a Redis set per identity holds the ids of its jobs
  and sweeps that may still be queued or running. A submission first reserves a place with a
  Lua script (count and add in one step), then swaps the reservation for the new job's id.
  Finished members leave lazily: the statuses are read only when the set is full (at most
  once a second per identity, so a caller hammering a full cap costs Redis little).

Over either limit is a 429 with ``Retry-After``. With neither configured nothing here touches
Redis (``Quotas.rate`` is ``None`` and the slots are ``NO_CAP``, which hold nothing).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.commands.core import Script

from api.errors import ApiError
from worker.settings import Settings
from worker.store import FINISHED, PREFIX, JobStore
from worker.sweeps import SweepStore

READ_METHODS = frozenset({"GET", "HEAD"})
PENDING_TTL_S = 60  # a reservation whose API process died before swapping it is dropped after
PRUNE_INTERVAL_S = 1  # the least time between two status sweeps of one identity's full set
ACTIVE_RETRY_AFTER_S = PRUNE_INTERVAL_S

# KEYS: active set; ARGV: cap, reservation, set ttl. 1 when reserved, 0 when the set is full.
_RESERVE = """
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RateLimiter:
    """``DESCENT_RATE_LIMIT`` requests per identity and window, reads and writes apart."""

    def __init__(self, redis_url: str, limit: str) -> None:
        self.limit_text = limit
        self.item: RateLimitItem = parse(limit)
        storage = RedisStorage(f"async+{redis_url}", implementation="redispy",
                               key_prefix=f"{PREFIX}rate", socket_connect_timeout=2)
        self.limiter = MovingWindowRateLimiter(storage)

    async def hit(self, identity: str, method: str) -> None:
        """Count one request; 429 with ``Retry-After`` when the window is already full."""
        bucket = "read" if method.upper() in READ_METHODS else "write"
        if await self.limiter.hit(self.item, identity, bucket):
            return
        stats = await self.limiter.get_window_stats(self.item, identity, bucket)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        kind = "reads (GET)" if bucket == "read" else "writes (POST, DELETE)"
        raise ApiError(429, f"too many requests: this server allows {self.limit_text} {kind} "
                       f"per caller (DESCENT_RATE_LIMIT); retry in {retry_after} s",
                       {"Retry-After": str(retry_after)})


class ActiveSlots:
    """A caller's room for queued-or-running jobs and sweeps; this base has no cap.

    Use ``with slots.reserve() as slot: ...create...; slot.hold("job", job_id)``."""

    @contextmanager
    def reserve(self) -> Iterator[ActiveSlot]:
        yield ActiveSlot(None, "", "")


class CappedSlots(ActiveSlots):
    """At most ``cap`` queued-or-running jobs and sweeps for ``identity``: the place is taken
    before the job exists (so two processes cannot both take the last one) and given back if
    the creation fails."""

    def __init__(self, client: redis.Redis, reserve_script: Script, identity: str, cap: int,
                 ttl_s: int) -> None:
        self.client, self.reserve_script = client, reserve_script
        self.identity, self.cap, self.ttl_s = identity, cap, ttl_s
        self.key = f"{PREFIX}active:{identity}"

    @contextmanager
    def reserve(self) -> Iterator[ActiveSlot]:
        reservation = f"pending:{time.time():.0f}:{uuid.uuid4().hex}"
        if not self._try_reserve(reservation):
            raise ApiError(
                429, f"too many active jobs and sweeps: this caller already has {self.cap} "
                f"queued or running, the most this server allows (DESCENT_MAX_ACTIVE="
                f"{self.cap}); retry in {ACTIVE_RETRY_AFTER_S} s or once one finishes",
                {"Retry-After": str(ACTIVE_RETRY_AFTER_S)})
        slot = ActiveSlot(self.client, self.key, reservation)
        try:
            yield slot
        finally:
            slot.release()

    def _try_reserve(self, reservation: str) -> bool:
        arguments: list[str | int] = [self.cap, reservation, self.ttl_s]
        if self.reserve_script(keys=[self.key], args=arguments):
            return True
        if not self.client.set(f"{self.key}:pruned", 1, nx=True, ex=PRUNE_INTERVAL_S):
            return False  # pruned less than a second ago: nothing can have changed much
        if not self.prune():
            return False
        return bool(self.reserve_script(keys=[self.key], args=arguments))

    def prune(self) -> int:
        """Drop the members that are no longer queued or running (finished, expired or
        deleted jobs and sweeps; reservations older than a minute). Returns how many."""
        members = [m.decode() for m in self.client.smembers(self.key)]  # type: ignore[union-attr]
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            kind, _, name = member.partition(":")
            record = JobStore.job_key(name) if kind == "job" else SweepStore.key(name)
            pipe.hget(record, "status")
        statuses = pipe.execute()
        now = time.time()
        gone = []
        for member, status in zip(members, statuses, strict=True):
            if member.startswith("pending:"):
                if now - float(member.split(":")[1]) > PENDING_TTL_S:
                    gone.append(member)
            elif status is None or status.decode() in FINISHED:
                gone.append(member)
        if gone:
            self.client.srem(self.key, *gone)
        return len(gone)


class ActiveSlot:
    """A reserved place: ``hold`` puts the job or sweep in it; unheld, it is given back."""

    def __init__(self, client: redis.Redis | None, key: str, reservation: str) -> None:
        self.client, self.key, self.reservation = client, key, reservation

    def hold(self, kind: str, item_id: str) -> None:
        """Count job or sweep ``item_id`` (``kind`` "job" or "sweep") against the cap."""
        if self.client is None:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(self.key, f"{kind}:{item_id}")
        pipe.srem(self.key, self.reservation)
        pipe.execute()
        self.client = None

    def release(self) -> None:
        if self.client is not None:
            self.client.srem(self.key, self.reservation)
            self.client = None


class Quotas:
    """The limits in force for one API process (see the module docstring)."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self.keyed = bool(settings.api_key_list)
        limit = settings.effective_rate_limit
        self.rate = RateLimiter(settings.redis_url, limit) if limit else None
        self.max_active = settings.effective_max_active
        self.client, self.ttl_s = client, settings.job_ttl_s
        self.reserve_script = client.register_script(_RESERVE)

    def identity(self, owner: str, client_address: str | None) -> str:
        """Who a request counts against: the key's owner, or the client address without
        keys (behind a proxy, run uvicorn with ``--proxy-headers`` so this is the client's)."""
        return f"key:{owner}" if self.keyed else f"address:{client_address or 'unknown'}"

    def active_slots(self, identity: str) -> ActiveSlots:
        if self.max_active is None:
            return NO_CAP
        return CappedSlots(self.client, self.reserve_script, identity, self.max_active,
                           self.ttl_s)


NO_CAP = ActiveSlots()
