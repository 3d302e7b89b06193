"""Waiting for jobs to end without polling: ``GET /v1/jobs/{id}/result?wait=S``.

A job's end is published on its channel (``worker.store.finished_channel``). Each API process
keeps one pattern subscription to all of them, opened on the first wait, and wakes the requests
waiting for that job; a waiting request holds no thread and no connection of its own.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import cast

import redis.asyncio

from worker.store import FINISHED, JobStore, finished_channel


class JobEndWatcher:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.pattern = finished_channel("*")
        self.waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self.listener: asyncio.Task[None] | None = None
        self.subscribed: asyncio.Future[None] | None = None

    async def wait(self, job_id: str, owner: str | None, timeout_s: float) -> None:
        """Return when the job has ended, or after ``timeout_s`` whatever Redis does; at once
        for an ended, unknown or other owner's job. Listens before it reads the status, so no
        end is missed."""
        ended = asyncio.get_running_loop().create_future()
        self.waiters[job_id].add(ended)
        try:
            async with asyncio.timeout(timeout_s):
                await self._listening()
                # the client does not decode responses: a field is bytes, or None when absent
                stored_owner, status = cast("list[bytes | None]", await self.client.hmget(
                    JobStore.job_key(job_id), ["owner", "status"]))
                if stored_owner is None or status is None or (
                        owner is not None and stored_owner.decode() != owner):
                    return
                if status.decode() not in FINISHED:
                    await ended
        except TimeoutError:
            pass
        finally:
            self.waiters[job_id].discard(ended)
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
