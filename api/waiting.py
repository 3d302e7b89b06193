"""Waiting for jobs to end without polling: ``GET /v1/jobs/{id}/result?wait=S``.

A job's end is published on its channel (``worker.store.finished_channel``). Each API process
keeps one pattern subscription to all of them, opened on the first wait, and wakes the requests
waiting for that job; a waiting request holds no thread and no connection of its own.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

import redis.asyncio

from worker.store import finished_channel


class JobEndWatcher:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.pattern = finished_channel("*")
        self.waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self.listener: asyncio.Task[None] | None = None
        self.subscribed: asyncio.Future[None] | None = None

    async def wait(self, job_id: str, timeout_s: float,
                   ended: Callable[[], Awaitable[bool]]) -> None:
        """Return when the job has ended, or after ``timeout_s`` whatever Redis does. Listens
        before it asks ``ended`` (the caller's read of the job: True when it has ended, or
        there is nothing to wait for), so no end is missed; what ``ended`` raises, this
        raises."""
        event = asyncio.get_running_loop().create_future()
        self.waiters[job_id].add(event)
        try:
            async with asyncio.timeout(timeout_s):
                await self._listening()
                if not await ended():
                    await event
        except TimeoutError:
            pass
        finally:
            self.waiters[job_id].discard(event)
            if not self.waiters[job_id]:
                del self.waiters[job_id]

    async def _listening(self) -> None:
        if self.listener is None or self.listener.done():
            self.subscribed = asyncio.get_running_loop().create_future()
            self.listener = asyncio.create_task(self._listen(self.subscribed))
        assert self.subscribed is not None
        await asyncio.shield(self.subscribed)  # raises when Redis could not be reached

    async def _listen(self, subscribed: asyncio.Future[None]) -> None:
        try:
            async with self.client.pubsub() as pubsub:
                await pubsub.psubscribe(self.pattern)
                subscribed.set_result(None)
                async for message in pubsub.listen():
                    if message["type"] == "pmessage":
                        self._wake(message["channel"].decode().rpartition(":")[2])
        except Exception as error:  # noqa: BLE001 - Redis gone: waiters answer with what they have
            if not subscribed.done():
                subscribed.set_exception(error)
        finally:
            for job_id in list(self.waiters):
                self._wake(job_id)

    def _wake(self, job_id: str) -> None:
        for ended in self.waiters.get(job_id, ()):
            if not ended.done():
                ended.set_result(None)
