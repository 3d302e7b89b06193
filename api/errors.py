"""One error shape for every failure (RFC 9457 problem details, FastAPI-compatible ``detail``):

    {"type": "...", "title": "Not Found", "status": 404, "detail": "no job 3f2a…"}

For a 422 ``detail`` is FastAPI's list of ``{"loc", "msg", "type"}``, one entry per bad field.
Nothing ever answers with a traceback: unexpected exceptions are logged and become a plain 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from kombu.exceptions import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.responses import JSONResponse
from engine import SpecErrors

log = logging.getLogger("descent.api")
PROBLEM = "application/problem+json"
STORE_DOWN = ("the job store (Redis) is unreachable, so jobs cannot be submitted or read right "
              "now; try again shortly")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM


class ApiError(Exception):
    """An error with its status code, raised by routes and dependencies."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status, self.detail, self.headers = status, detail, headers


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> ProblemResponse:
    title = HTTPStatus(status).phrase
    slug = title.lower().replace(" ", "-")
    body = {"type": f"https://descent.dev/errors/{slug}", "title": title, "status": status,
            "detail": detail}
    return ProblemResponse(body, status_code=status, headers=headers)


def validation_detail(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's entries without the echoed input (which may be megabytes of data)."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> ProblemResponse:
        return problem(error.status, error.detail, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> ProblemResponse:
        return problem(error.status_code, error.detail, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> ProblemResponse:
        return problem(422, validation_detail(list(error.errors())))

    @app.exception_handler(SpecErrors)
    async def _bad_spec(request: Request, error: SpecErrors) -> ProblemResponse:
        return problem(422, error.to_detail(prefix=("body",)))

    @app.exception_handler(redis.RedisError)
    async def _store_down(request: Request, error: redis.RedisError) -> ProblemResponse:
        log.warning("Redis error on %s: %s", request.url.path, error)
        return problem(503, STORE_DOWN, {"Retry-After": "5"})

    @app.exception_handler(OperationalError)
    async def _broker_down(request: Request, error: OperationalError) -> ProblemResponse:
        log.warning("broker error on %s: %s", request.url.path, error)
        return problem(503, "the job queue (Celery broker) is unreachable; try again shortly",
                       {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> ProblemResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(500, "internal error; the server log has the details")
