"""JSON responses written by ``engine.dumps`` (orjson: NumPy arrays direct, non-finite as
null)."""

from __future__ import annotations

from typing import Any

from fastapi import responses

from engine import dumps


class JSONResponse(responses.JSONResponse):
    """A ``fastapi.responses.JSONResponse`` (so the OpenAPI document gives JSON answers their
    models' schemas, not ``type: string``) rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
