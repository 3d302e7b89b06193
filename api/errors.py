"""One error shape for every failure (RFC 9457 problem details, FastAPI-compatible ``detail``):

    {"type": "...", "title": "Not Found", "status": 404, "detail": "no job 3f2a…"}

For a 422 ``detail`` is FastAPI's list of ``{"loc", "msg", "type"}``, one entry per bad field.
Nothing ever answers with a traceback: unexpected exceptions are logged and become a plain 500,
answered inside the app so that the client's keep-alive connection survives it.
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import JSONResponse
from engine import SpecErrors
from engine.build import error_location, later_stage_errors
from worker.store.keys import out_of_memory

log = logging.getLogger("descent.api")
PROBLEM = "application/problem+json"
STORE_DOWN = ("the job store (Redis) is unreachable, so jobs cannot be submitted or read right "
              "now; try again shortly")
STORE_FULL = ("the job store (Redis) is full (its maxmemory, DESCENT_REDIS_MAXMEMORY), so nothing "
              "new can be stored right now; what it holds can still be read. Try again later, or "
              "delete finished jobs, sweeps and datasets")
UNREADABLE_BODY = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot read


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
    """FastAPI's entries without the echoed input (which may be megabytes of data) and
    without the union-member tags in ``loc`` (``body.data.GeneratedData.seed`` ->
    ``body.data.seed``)."""
    return [{"loc": [e["loc"][0], *error_location(e["loc"][1:], e["type"])] if e["loc"] else [],
             "msg": e["msg"], "type": e["type"]} for e in errors]


def job_spec_detail(request: Request, error: RequestValidationError) -> list[dict[str, Any]]:
    """A refused job spec's every problem (docs/spec.md §2): FastAPI's shape check, then what a
    later stage finds in the fields it did not refuse (an optimizer's betas, a catalogue
    function's name), so that one answer lists them all."""
    detail = validation_detail(list(error.errors()))
    if request.method != "POST" or request.url.path != "/v1/jobs":
        return detail
    named = {str(entry["loc"][1]) for entry in detail
             if len(entry["loc"]) > 1 and entry["loc"][0] == "body"}
    later = later_stage_errors(error.body, named)
    return detail + (SpecErrors(later).to_detail(prefix=("body",)) if later else [])


def _unreadable_body(error: StarletteHTTPException) -> ProblemResponse | None:
    """FastAPI answers 400 for a JSON body Python's parser gives up on (not a syntax error,
    which is a 422 already): nesting past the recursion limit, an integer of more than 4,300
    digits. Those are bad values, so a 422 like any other."""
    cause = error.__cause__
    if error.status_code != 400 or error.detail != UNREADABLE_BODY:
        return None
    if isinstance(cause, RecursionError):
        message = "the JSON body is nested too deeply to read"
    elif isinstance(cause, ValueError) and "digits" in str(cause):
        message = "the JSON body has a number of more than 4,300 digits"
    elif isinstance(cause, ValueError):
        message = "the JSON body has a value that cannot be read"
    else:
        return None
    return problem(422, [{"loc": ["body"], "msg": message, "type": "json_invalid"}])


class ContainUnexpected:
    """An exception no handler took becomes a logged, plain 500 here, inside the app.

    Starlette's outermost layer does answer such an exception with the 500 handler, but then
    re-raises it to the server, and uvicorn drops the connection: the client's next request on
    the same keep-alive connection is reset. Answered here, the connection lives on. An error
    that comes out of ``receive`` belongs to the layers outside (the body size limit) and
    passes through, as does one raised after the answer has started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        from_receive: list[BaseException] = []

        async def watched_receive() -> Message:
            try:
                return await receive()
            except BaseException as error:
                from_receive.append(error)
                raise

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, watched_receive, tracked_send)
        except Exception as error:
            if started or error in from_receive:
                raise
            log.exception("unexpected error on %s", scope.get("path"))
            await problem(500, "internal error; the server log has the details")(
                scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_middleware(ContainUnexpected)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> ProblemResponse:
        return problem(error.status, error.detail, error.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> ProblemResponse:
        return _unreadable_body(error) or problem(error.status_code, error.detail,
                                                  getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> ProblemResponse:
        return problem(422, job_spec_detail(request, error))

    @app.exception_handler(SpecErrors)
    async def _bad_spec(request: Request, error: SpecErrors) -> ProblemResponse:
        return problem(422, error.to_detail(prefix=("body",)))

    @app.exception_handler(redis.RedisError)
    async def _store_down(request: Request, error: redis.RedisError) -> ProblemResponse:
        log.warning("Redis error on %s: %s", request.url.path, error)
        if out_of_memory(error):
            return problem(503, STORE_FULL, {"Retry-After": "60"})
        return problem(503, STORE_DOWN, {"Retry-After": "5"})

    @app.exception_handler(OperationalError)
    async def _broker_down(request: Request, error: OperationalError) -> ProblemResponse:
        log.warning("broker error on %s: %s", request.url.path, error)
        if out_of_memory(error):  # the broker is this Redis, and it is full
            return problem(503, STORE_FULL, {"Retry-After": "60"})
        return problem(503, "the job queue (Celery broker) is unreachable; try again shortly",
                       {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> ProblemResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(500, "internal error; the server log has the details")
