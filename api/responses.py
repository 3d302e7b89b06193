"""JSON responses written by ``engine.dumps`` (orjson: NumPy arrays direct, non-finite as
null)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from engine import dumps


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
