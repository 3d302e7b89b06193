"""Jobs (SPEC.md §9): submit, read, list, result, cancel, server-sent events."""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter, Body, Header, Query, Request, Response

from api.deps import ActiveCap, AppSettings, AsyncRedis, CeleryClient, Owner, Store
from api.errors import ApiError
from api.events import event_stream
from api.formats import NOT_ACCEPTABLE, RESULT_FORMATS, Format, negotiate, result_response
from api.quotas import NO_CAP, ActiveSlots
from api.responses import JSONResponse
from api.schemas import JobDocument, JobList, JobResult, Problem
from engine import JobSpec, resolve_spec
from engine.result import TRAJECTORY_FIELDS, shrink_indices
from engine.spec import MAX_COUNT
from worker.app import broker_message, enqueue, queued_in_store
from worker.datasets import DatasetStore
from worker.store import FINISHED, STATUSES, IdempotencyConflict, JobNotFound
from worker.store.results import held_in_head

log = logging.getLogger("descent.api")
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
RUN_JOB = "descent.run_job"
MAX_WAIT_S = 60.0

_errors: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such job (or not yours)."},
           401: {"model": Problem, "description": "API key missing or wrong."},
           429: {"model": Problem, "description": "Over the caller's request rate or its cap "
                 "on active jobs and sweeps (SPEC.md §9.4); Retry-After says when to retry."}}

SUBMIT_EXAMPLES = {
    "rosenbrock": {"summary": "Adam on Rosenbrock", "value": {
        "function": "rosenbrock", "optimizer": "adam", "learning_rate": 0.05, "max_steps": 500}},
    "formula": {"summary": "Momentum on a formula", "value": {
        "function": {"expression": "x**2 + 3*y**2", "variables": ["x", "y"]},
        "optimizer": "momentum", "learning_rate": 0.05, "init": [2, 1]}},
    "minibatch": {"summary": "Mini-batch SGD, linear regression", "value": {
        "function": "linear_regression",
        "data": {"generator": "linear", "n_samples": 200, "seed": 0},
        "optimizer": "sgd", "learning_rate": 0.1, "batching": "minibatch", "batch_size": 16,
        "max_epochs": 5}},
    "lbfgs": {"summary": "L-BFGS with a strong-Wolfe line search", "value": {
        "function": "rosenbrock", "learning_rate": 1, "max_steps": 20,
        "optimizer": {"name": "lbfgs", "line_search_fn": "strong_wolfe"}}},
    "newton": {"summary": "Newton's method, drawn to a saddle", "value": {
        "function": "saddle", "optimizer": "newton", "init": [0.3, 0.2], "max_steps": 5}},
    "warmup_cosine": {"summary": "Linear warm-up then cosine", "value": {
        "function": "rosenbrock", "optimizer": "adamw", "learning_rate": 0.01, "max_steps": 1000,
        "schedule": {"name": "sequential", "milestones": [100], "schedules": [
            {"name": "linear", "start_factor": 0.01, "total_iters": 100},
            {"name": "cosine", "t_max": 900}]}}},
}


def _not_found(job_id: str) -> ApiError:
    return ApiError(404, f"no job {job_id}")


def _get(store: Any, job_id: str, owner: str) -> dict[str, Any]:
    try:
        return store.get(job_id, owner)
    except JobNotFound:
        raise _not_found(job_id) from None


@router.post(
    "", status_code=202, response_model=None,
    responses={202: {"model": JobDocument, "description": "Queued; Location names the job."},
               422: {"model": Problem, "description": "A bad spec: one entry per bad field."},
               413: {"model": Problem, "description": "Body over the size limit."},
               503: {"model": Problem, "description": "Redis or the broker is unreachable."},
               **_errors},
    summary="Submit a job",
)
async def submit_job(
    spec: Annotated[JobSpec, Body(openapi_examples=SUBMIT_EXAMPLES)], request: Request,
    store: Store, celery: CeleryClient, settings: AppSettings, owner: Owner, active: ActiveCap,
    client: AsyncRedis, idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", max_length=200,
        description="Same key and body: the same job again; same key, other body: 422.")] = None,
) -> Response:
    """Validate the spec completely (every bad field is reported at once), file the job and
    queue it. Answers 202 with ``Location: /v1/jobs/{id}`` and the job document."""
    if spec.data is None and active is NO_CAP and queued_in_store(settings):
        # Nothing to read or generate, no cap to count, and the broker is the store's Redis:
        # the submission is one await in the event loop (a thread hop would cost more).
        prepared = resolve_spec(spec, limits=settings.limits)
        try:
            document, _ = await store.create_async(
                client, prepared.spec, owner=owner, time_limit_s=settings.job_time_limit_s,
                idempotency=_idempotency(spec, idempotency_key),
                message=partial(_job_message, celery, settings))
        except IdempotencyConflict:
            raise _key_conflict() from None
        return _accepted(document)
    return await anyio.to_thread.run_sync(_submit, spec, store, celery, settings, owner,
                                          idempotency_key, active,
                                          limiter=_submit_limiter(request.app))


def _submit_limiter(app: Any) -> anyio.CapacityLimiter:
    """Submissions run on at most two threads at once (FastAPI's pool has forty): each takes
    well under a millisecond, and many threads taking turns at the GIL cost more than the
    submissions themselves (measured on 2 cores: 190 -> 260 jobs/s). Two, so that one waiting
    on Redis does not hold up the next."""
    limiter = getattr(app.state, "submit_limiter", None)
    if limiter is None:  # made on first use, inside the app's event loop
        limiter = app.state.submit_limiter = anyio.CapacityLimiter(2)
    return limiter


def _submit(spec: JobSpec, store: Any, celery: Any, settings: Any, owner: str,
            idempotency_key: str | None, active: ActiveSlots) -> Response:
    """A submission that reads (a stored dataset), generates data, counts against a cap or
    publishes through Celery: in a thread, off the event loop."""
    datasets: set[str] = set()
    prepared = resolve_spec(spec, limits=settings.limits,
                            load_dataset=DatasetStore(store.redis, 0).loader(owner, datasets))
    message = partial(_job_message, celery, settings) if queued_in_store(settings) else None
    try:
        with active.reserve() as slot:  # 429 when the caller has DESCENT_MAX_ACTIVE already
            document, created = store.create(prepared.spec, owner=owner,
                                              time_limit_s=settings.job_time_limit_s,
                                              idempotency=_idempotency(spec, idempotency_key),
                                              datasets=datasets, message=message)
            slot.hold("job", document["id"])
    except IdempotencyConflict:
        raise _key_conflict() from None
    job_id = document["id"]
    if created and message is None:  # the broker is elsewhere: publish through Celery
        try:
            enqueue(celery, settings, RUN_JOB, [job_id], job_id)
        except Exception:
            store.mark_unqueued(job_id)  # failed, and its Idempotency-Key free for a retry
            raise
    return _accepted(document)


def _idempotency(spec: JobSpec, idempotency_key: str | None) -> tuple[str, str] | None:
    if not idempotency_key:
        return None
    return idempotency_key, hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def _key_conflict() -> ApiError:
    return ApiError(422, [{"loc": ["header", "Idempotency-Key"], "type": "value_error",
                           "msg": "this Idempotency-Key was already used with a different body"}])


def _accepted(document: dict[str, Any]) -> Response:
    return JSONResponse(document, status_code=202,
                        headers={"Location": f"/v1/jobs/{document['id']}"})


def _job_message(celery: Any, settings: Any, job_id: str) -> tuple[str, bytes]:
    return broker_message(celery, settings, RUN_JOB, [job_id], job_id)


@router.get("", response_model=None, responses={200: {"model": JobList}, **_errors},
            summary="List jobs, newest first")
def list_jobs(
    store: Store, owner: Owner,
    status: Annotated[Literal["queued", "running", "succeeded", "failed", "cancelled"] | None,
                      Query(description="Only jobs with this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Jobs per page.")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.",
                                        pattern=r"^[0-9]{1,18}$")] = None,
) -> Response:
    jobs, next_cursor = store.list(owner, status=status, limit=limit,
                                   cursor=int(cursor) if cursor else None)
    return JSONResponse({"jobs": jobs,
                           "next_cursor": None if next_cursor is None else str(next_cursor)})


@router.get("/{job_id}", response_model=None, responses={200: {"model": JobDocument}, **_errors},
            summary="Read a job")
def get_job(job_id: str, store: Store, owner: Owner) -> Response:
    return JSONResponse(_get(store, job_id, owner))


@router.get(
    "/{job_id}/result", response_model=None,
    responses={200: {"model": JobResult, "description": "The result document (SPEC.md §8).",
                     "content": {
        "application/json": {"example": {
            "stop_reason": "max_steps", "steps": 2, "epochs": None,
            "final": {"params": [0.9, 0.8], "loss": 0.05, "grad_norm": 0.6},
            "trajectory": {"step": [0, 1, 2], "params": [[-1.2, 1.0], [-1.0, 1.0], [0.9, 0.8]],
                           "loss": [24.2, 4.0, 0.05], "grad_norm": [232.0, 40.0, 0.6],
                           "lr": [0.001, 0.001, 0.001]},
            "epoch_loss": None, "nearest_stationary_point": {
                "params": [1.0, 1.0], "value": 0.0, "kind": "global", "distance": 0.22},
            "elapsed_s": 0.0004}}, **RESULT_FORMATS}},
        409: {"model": Problem, "description": "Not finished yet (or finished without a result)."},
        **NOT_ACCEPTABLE, **_errors},
    summary="The result of a finished job", operation_id="get_job_result",
)
async def get_result(
    job_id: str, request: Request, store: Store, owner: Owner, settings: AppSettings,
    client: AsyncRedis, max_points: Annotated[int | None, Query(ge=2, le=MAX_COUNT, description="At most this many "
                                            "points, evenly spaced; first and last kept.")] = None,
    every: Annotated[int | None, Query(ge=1, le=MAX_COUNT,
                                       description="Every k-th point (last kept).")] = None,
    fields: Annotated[str | None, Query(description="Trajectory columns to include, comma-"
                                        "separated, from params,loss,grad_norm,lr.",
                                        examples=["params,loss"])] = None,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, allow_inf_nan=False,
                                 description="Seconds to wait for a "
                                 "queued or running job to finish before answering 409: one "
                                 "request instead of a polling loop.")] = 0,
    accept: Annotated[str | None, Header(description="application/json (default), "
                                         "application/vnd.apache.arrow.stream or text/csv "
                                         "(docs/spec.md §8.1).")] = None,
) -> Response:
    fmt = negotiate(accept)
    if max_points is not None and max_points > settings.max_result_points:
        raise ApiError(422, [{"loc": ["query", "max_points"], "type": "value_error",
                              "msg": f"{max_points} is over this server's limit of "
                              f"{settings.max_result_points}"}])
    chosen: tuple[str, ...] = TRAJECTORY_FIELDS
    if fields is not None:
        names = [name.strip() for name in fields.split(",") if name.strip()]
        unknown = [name for name in names if name not in TRAJECTORY_FIELDS and name != "step"]
        if unknown:
            raise ApiError(422, [{"loc": ["query", "fields"], "type": "value_error",
                                  "msg": f"unknown field(s) {', '.join(unknown)}; choose from "
                                  f"{', '.join(TRAJECTORY_FIELDS)}"}])
        chosen = tuple(name for name in TRAJECTORY_FIELDS if name in names)
    records: list[dict[str, Any]] = []

    async def ended() -> bool:
        try:
            records.append(await store.result_record(client, job_id, owner))
        except JobNotFound:
            raise _not_found(job_id) from None
        return records[-1]["status"] in FINISHED

    if wait:  # the record read to see whether to wait is the answer's when it has ended
        await request.app.state.job_end_watcher.wait(job_id, wait, ended)
    if not records or records[-1]["status"] not in FINISHED:
        await ended()
    job = records[-1]
    if job["status"] not in FINISHED:
        raise ApiError(409, f"job {job_id} is {job['status']}; the result is ready when it "
                       "finishes")
    layout = job["layout"]
    if layout is None:
        reason = (job["error"] or {}).get("message") or "it was cancelled before it ran"
        raise ApiError(409, f"job {job_id} is {job['status']} without a result: {reason}")
    points = int(layout["points"])
    indices = None
    if max_points is not None or every is not None:
        indices = shrink_indices(points, max_points=max_points, every=every)
        if len(indices) == points:
            indices = None
    if held_in_head(layout, job["head"]):  # all read already: answered here, no thread
        return _result_response(store, job_id, job, chosen, indices, fmt)
    return await anyio.to_thread.run_sync(_result_response, store, job_id, job, chosen,
                                          indices, fmt)


def _result_response(store: Any, job_id: str, job: dict[str, Any], chosen: tuple[str, ...],
                     indices: np.ndarray | None, fmt: Format) -> Response:
    """The answer from the job's result record (``result_record``) and the rows it needs."""
    layout = job["layout"]
    try:
        trajectory = store.read_trajectory(job_id, layout, indices, chosen, job["head"])
    except JobNotFound:
        raise _not_found(job_id) from None
    return result_response(fmt, {**(job["summary"] or {}), "trajectory": trajectory,
                                 "epoch_loss": layout.get("epoch_loss")})


@router.delete(
    "/{job_id}", status_code=204, response_model=None,
    responses={204: {"description": "A finished job: removed for good, with its result "
                     "(docs/spec.md §9.4); it is then a 404 and leaves the lists."},
               200: {"model": JobDocument, "description": "A queued job, now cancelled; it "
                     "never runs."},
               202: {"model": JobDocument, "description": "A running job: it stops within a "
                     "second and keeps its partial trajectory (stop_reason cancelled)."},
               **_errors},
    summary="Cancel a job, or delete a finished one",
)
def cancel_job(job_id: str, store: Store, owner: Owner, celery: CeleryClient) -> Response:
    """Unfinished, the job is cancelled (200 or 202, the job document); finished, it is
    deleted with its result (204)."""
    try:
        if store.delete(job_id, owner) == "deleted":
            return Response(status_code=204)
        outcome = store.cancel(job_id, owner)
        if outcome in FINISHED:  # it finished in between: it is deleted after all
            store.delete(job_id, owner)
            return Response(status_code=204)
    except JobNotFound:
        raise _not_found(job_id) from None
    if outcome == "cancelled_now":
        try:  # the worker would skip it anyway (its claim sees the status); this saves a trip
            celery.control.revoke(job_id)
        except Exception:
            log.debug("revoke of %s failed", job_id, exc_info=True)
    return JSONResponse(store.get(job_id, owner),
                          status_code=200 if outcome == "cancelled_now" else 202)


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {"example":
        "event: status\ndata: {\"id\": \"…\", \"status\": \"running\", …}\n\n"
        "event: progress\ndata: {\"step\": 480, \"total_steps\": 1000, \"fraction\": 0.48, "
        "\"loss\": 0.01}\n\n"}},
        "description": "`status` events (the job without its spec) when the status changes, "
        "`progress` events as the job advances; the stream ends after the final status."},
        **_errors},
    summary="Follow a job (server-sent events)", operation_id="get_job_events",
    response_class=Response,
)
async def job_events(job_id: str, request: Request, store: Store, owner: Owner) -> Response:
    def job_without_spec() -> dict[str, Any]:
        job = store.get(job_id, owner)
        job.pop("spec", None)
        return job

    first = await anyio.to_thread.run_sync(_get, store, job_id, owner)
    first.pop("spec", None)
    return event_stream(request, first, job_without_spec)


__all__ = ["STATUSES", "router"]
