"""Shared dependencies as ``Annotated`` aliases: settings, the job store, the Celery client,
the caller's identity (API keys, SPEC.md §9.3) and its quotas (SPEC.md §9.4)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

import redis.asyncio
from celery import Celery
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from api.errors import ApiError
from api.quotas import ActiveSlots, Quotas
from worker.settings import Settings
from worker.store import JobStore, owner_of

_bearer = HTTPBearer(auto_error=False, description="An API key from DESCENT_API_KEYS "
                     "(only when the server sets keys).")


# The dependencies are ``async`` although they never await: FastAPI runs a plain ``def``
# dependency in the thread pool, a thread hop per dependency per request.
async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> JobStore:
    return request.app.state.store


async def get_async_redis(request: Request) -> redis.asyncio.Redis:
    """For the event loop's own reads (a result's record), without a thread: as the store's
    client, failing at once when Redis is down (503). One per event loop, made on first use:
    a client's connections belong to the loop that opened them (a test client runs several)."""
    loop = asyncio.get_running_loop()
    held = getattr(request.app.state, "async_redis", None)
    if held is None or held[0] is not loop:
        client = redis.asyncio.Redis.from_url(
            request.app.state.settings.redis_url, socket_connect_timeout=2, socket_timeout=30,
            retry=Retry(NoBackoff(), 0))
        held = request.app.state.async_redis = (loop, client)
    return held[1]


async def get_celery(request: Request) -> Celery:
    return request.app.state.celery


async def get_authenticated_owner(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Whose jobs these are: a hash of the caller's key (one shared owner without keys);
    401 when the server sets keys and the request has none of them."""
    keys: list[str] = request.app.state.settings.api_key_list
    if not keys:
        return owner_of(None)
    given = credentials.credentials if credentials else ""
    if not given or not any(hmac.compare_digest(given, key) for key in keys):
        raise ApiError(401, "a valid API key is needed: send 'Authorization: Bearer <key>'",
                       {"WWW-Authenticate": "Bearer"})
    return owner_of(given)


async def get_owner(
    request: Request, owner: Annotated[str, Depends(get_authenticated_owner)],
) -> str:
    """The authenticated owner, once this request is counted against its rate limit (every
    ``/v1`` route depends on this, so each request is counted once; 429 when over)."""
    quotas: Quotas = request.app.state.quotas
    if quotas.rate is not None:
        await quotas.rate.hit(_identity(request, owner), request.method)
    return owner


async def get_active_slots(request: Request, owner: Annotated[str, Depends(get_owner)],
                           ) -> ActiveSlots:
    """The caller's cap on queued-or-running jobs and sweeps (a no-op when there is none)."""
    quotas: Quotas = request.app.state.quotas
    return quotas.active_slots(_identity(request, owner))


def _identity(request: Request, owner: str) -> str:
    quotas: Quotas = request.app.state.quotas
    return quotas.identity(owner, request.client.host if request.client else None)


AppSettings = Annotated[Settings, Depends(get_app_settings)]
Store = Annotated[JobStore, Depends(get_store)]
CeleryClient = Annotated[Celery, Depends(get_celery)]
AsyncRedis = Annotated[redis.asyncio.Redis, Depends(get_async_redis)]
Owner = Annotated[str, Depends(get_owner)]
AuthenticatedOwner = Annotated[str, Depends(get_authenticated_owner)]
ActiveCap = Annotated[ActiveSlots, Depends(get_active_slots)]
