"""Server-sent events for anything with a ``status`` and a ``progress`` (jobs, sweeps).

One loop: poll the document, send a ``progress`` event when it moves and a ``status`` event
(the document) when the status changes, a keep-alive comment when quiet, and end after the
final status or when the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse

from engine import dumps
from worker.store import FINISHED

EVENT_POLL_S = 0.2
KEEPALIVE_S = 15.0


def event_stream(request: Request, first: dict[str, Any],
                 fetch: Callable[[], dict[str, Any]]) -> StreamingResponse:
    """Stream ``first``, then whatever ``fetch`` (blocking; LookupError when gone) returns."""

    async def stream() -> AsyncIterator[bytes]:
        document: dict[str, Any] | None = first
        last_status, last_progress = None, None
        quiet = 0.0
        while True:
            if document is None:
                try:
                    document = await anyio.to_thread.run_sync(fetch)
                except LookupError:
                    return
            if document["progress"] != last_progress and document["status"] != "queued":
                last_progress = document["progress"]
                yield b"event: progress\ndata: " + dumps(last_progress) + b"\n\n"
                quiet = 0.0
            if document["status"] != last_status:
                last_status = document["status"]
                yield b"event: status\ndata: " + dumps(document) + b"\n\n"
                quiet = 0.0
            if last_status in FINISHED or await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)
            quiet += EVENT_POLL_S
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield b": keep-alive\n\n"
            document = None

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
