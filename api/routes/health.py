"""Liveness, readiness and metrics, outside ``/v1`` for orchestrators: ``/healthz`` and
``/readyz`` need no key; ``/metrics`` needs one when the server sets keys (its counts are
server-wide, not the caller's own)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import AppSettings, AuthenticatedOwner, Store
from api.errors import ApiError
from api.metrics import render_metrics
from api.responses import JSONResponse
from api.schemas import Health, Problem, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the API process answers", operation_id="get_health",
            responses={200: {"model": Health}})
def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Readiness: Redis answers and a worker is alive",
            operation_id="get_readiness",
            responses={200: {"model": Readiness},
                       503: {"model": Problem, "description": "Redis unreachable or no worker "
                             "alive."}})
def readyz(store: Store) -> Response:
    try:
        store.ping()
        workers = store.live_workers()
    except Exception:  # noqa: BLE001 - any failure to reach Redis means not ready
        raise ApiError(503, "not ready: the job store (Redis) is unreachable") from None
    if workers == 0:
        raise ApiError(503, "not ready: no worker has been seen in the last 15 s "
                       "(start one with `descent worker`)")
    return JSONResponse({"status": "ready", "redis": "ok", "workers": workers})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            operation_id="get_metrics",
            responses={200: {"description": "The Prometheus text format.", "content": {
                CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
                       401: {"model": Problem, "description": "The server sets API keys and "
                             "none was sent: scrape with 'Authorization: Bearer <key>'."}})
def metrics(store: Store, settings: AppSettings, _: AuthenticatedOwner) -> Response:
    return Response(render_metrics(store, settings.queue_name), media_type=CONTENT_TYPE_LATEST)
