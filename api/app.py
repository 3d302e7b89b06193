"""``create_app(settings)``: the HTTP API (SPEC.md §9) around the job store and the engine.

Run it with ``descent serve`` (everything) or ``uvicorn --factory api.app:create_app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import install_error_handlers, problem
from api.quotas import Quotas
from api.responses import JSONResponse
from api.routes import catalog, datasets, health, jobs, samples, sweeps
from api.waiting import JobEndWatcher
from worker.app import freeze_start_up_objects, make_celery
from worker.settings import Settings, get_settings
from worker.store import JobStore

STATIC_DIR = Path(__file__).parent / "static"
DESCRIPTION = """Run gradient-descent optimisation jobs.

Submit a job spec to `POST /v1/jobs` (202 + `Location`), follow it with `GET /v1/jobs/{id}`
or the server-sent events of `GET /v1/jobs/{id}/events`, fetch the trajectory with
`GET /v1/jobs/{id}/result` (`max_points`, `every`, `fields` shrink it). The catalogue endpoints
describe the functions, optimizers and schedules a spec can name. When the server sets
`DESCENT_API_KEYS`, send `Authorization: Bearer <key>`.
"""
PLACEHOLDER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>descent</title>
</head><body><h1>descent</h1><p>The API is running. See <a href="/docs">/docs</a>.</p>
</body></html>"""


TAGS = [
    {"name": "jobs", "description": "Submit, follow, fetch and cancel jobs."},
    {"name": "sweeps", "description": "Many runs from one base spec and a grid: submit, follow, "
     "compare, cancel."},
    {"name": "datasets", "description": "Upload CSV or JSON samples for the dataset models; "
     "jobs and sweeps name them by id."},
    {"name": "catalogue", "description": "Functions, surfaces, stationary points, optimizers, "
     "schedules."},
    {"name": "health", "description": "Liveness, readiness, Prometheus metrics."},
]


def operation_id(route: APIRoute) -> str:
    """The route's own name (``submit_job``, ``get_job_result``, …): what a generated client
    calls its methods. A route sets it with ``operation_id=`` when its function name does not
    read well."""
    return route.name


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for bodies over the limit: by ``Content-Length`` before reading, and by counting
    for bodies sent without one. Dataset uploads have their own, larger limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_dataset_bytes: int) -> None:
        self.app, self.max_bytes, self.max_dataset_bytes = app, max_bytes, max_dataset_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope.get("path", "").rstrip("/") == "/v1/datasets"
        limit, setting = ((self.max_dataset_bytes, "DESCENT_MAX_DATASET_BYTES") if upload
                          else (self.max_bytes, "DESCENT_MAX_BODY_BYTES"))
        message = f"the request body is over this server's limit of {limit} bytes ({setting})"
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await problem(413, message)(scope, receive, send)
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            incoming = await receive()
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return incoming

        async def tracked_send(outgoing: Message) -> None:
            nonlocal started
            started = started or outgoing["type"] == "http.response.start"
            await send(outgoing)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await problem(413, message)(scope, receive, send)


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    freeze_start_up_objects()  # the server has started: what it holds now, it keeps
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for these settings (default: the environment's)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="descent", version="0.1.0", description=DESCRIPTION,
        default_response_class=JSONResponse, openapi_tags=TAGS,
        generate_unique_id_function=operation_id, lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.store = JobStore.from_url(settings.redis_url, settings.job_ttl_s, retries=0)
    app.state.job_end_watcher = JobEndWatcher(
        redis.asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=2))
    app.state.celery = make_celery(settings)
    app.state.quotas = Quotas(settings, app.state.store.redis)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       max_dataset_bytes=settings.max_dataset_bytes)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origin_list,
            allow_methods=["*"], allow_headers=["*"], expose_headers=["Location"],
        )
    app.include_router(jobs.router)
    app.include_router(sweeps.router)
    app.include_router(datasets.router)
    app.include_router(catalog.router)
    app.include_router(samples.router)
    app.include_router(health.router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html")
        return HTMLResponse(PLACEHOLDER_PAGE)

    return app
