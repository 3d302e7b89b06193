"""Sweeps (SPEC.md §9.1): submit, read, list, result, cancel, server-sent events.

The API validates every run (``engine.sweep.prepare_sweep``) before anything is queued, then
splits the run groups into chunks, one Celery task each, so that every worker process is busy.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.deps import ActiveCap, AppSettings, CeleryClient, Owner, Store
from api.errors import ApiError
from api.events import event_stream
from api.formats import NOT_ACCEPTABLE, RESULT_FORMATS, negotiate, sweep_result_response
from api.responses import JSONResponse
from api.schemas import Problem, SweepResult, SweepSummary
from engine.halving import HalvingSearch
from engine.spec import MAX_COUNT, JsonObject, bounded_json
from engine.sweep import prepare_sweep, sweep_chunks
from worker.app import enqueue
from worker.datasets import DatasetStore
from worker.store import FINISHED
from worker.sweeps import RUN_SWEEP_CHUNK, SweepNotFound, SweepStore

log = logging.getLogger("descent.api")
router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"])
MAX_TRAJECTORY_RUNS = 1000

_errors: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such sweep (or not yours)."},
           401: {"model": Problem, "description": "API key missing or wrong."},
           429: {"model": Problem, "description": "Over the caller's request rate or its cap "
                 "on active jobs and sweeps (SPEC.md §9.4); Retry-After says when to retry."}}


class SweepRequest(BaseModel):
    """A base job spec, a grid (Cartesian product, keys in order, the last varying fastest)
    and extra runs. Grid keys: spec fields or ``optimizer.<hyperparameter>``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"base": {"function": "rosenbrock", "optimizer": "adam", "max_steps": 500},
         "grid": {"learning_rate": [0.001, 0.01, 0.1, 1.0]}},
        {"base": {"function": "himmelblau", "learning_rate": 0.01, "max_steps": 300},
         "grid": {"optimizer": ["sgd", "adam"], "optimizer.weight_decay": [0, 0.01]},
         "overrides": [{"optimizer": "rmsprop", "learning_rate": 0.005}]},
        {"base": {"function": "rosenbrock", "max_steps": 2700},
         "grid": {"optimizer": ["gd", "momentum", "adam"],
                  "learning_rate": [0.0001, 0.001, 0.01, 0.1, 1.0]},
         "best_by": ["optimizer"], "search": {"method": "halving", "eta": 3, "min_steps": 300}},
    ]})

    base: JsonObject = Field(description="The job spec every run starts from.")
    grid: Annotated[dict[str, list[Any]], AfterValidator(bounded_json)] = Field(
        default_factory=dict, description="field -> values.")
    overrides: list[JsonObject] = Field(default_factory=list,
                                            description="Extra runs, each {field: value}.")
    best_by: list[str] | None = Field(
        default=None, examples=[["optimizer"]], description="Grid keys: the result's `best` "
        "gives the best run of each group of runs sharing their values (docs/spec.md §9.1.1).")
    search: HalvingSearch | None = Field(
        default=None, description="Successive halving (docs/spec.md §9.1.1): every run takes "
        "min_steps, then the best 1/eta of each best_by group go on eta times further, and so "
        "on until max_steps (one max_steps for all runs); the others stop `pruned`. The "
        "summary's `search` gives the run-steps spent against the full grid's.")


class SweepProgress(BaseModel):
    runs_done: int
    runs_total: int
    fraction: float


class SweepDocument(BaseModel):
    """A sweep: status, progress, the summary when finished (best run, stop reasons)."""

    id: str
    status: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    progress: SweepProgress
    summary: SweepSummary | None
    error: dict[str, Any] | None
    tasks: int
    cancel_requested: bool
    sweep: dict[str, Any] | None = None


class SweepList(BaseModel):
    sweeps: list[SweepDocument]


def _sweeps(store: Any, settings: Any) -> SweepStore:
    return SweepStore(store.redis, settings.job_ttl_s)


def _get(sweeps: SweepStore, sweep_id: str, owner: str, **kwargs: Any) -> dict[str, Any]:
    try:
        return sweeps.get(sweep_id, owner, **kwargs)
    except SweepNotFound:
        raise ApiError(404, f"no sweep {sweep_id}") from None


@router.post(
    "", status_code=202, response_model=None,
    responses={202: {"model": SweepDocument, "description": "Queued; Location names the sweep."},
               422: {"model": Problem, "description": "A bad run (named grid.<key>[i], "
                     "runs[i].<field> or base.<field>) or too many runs (the count is given)."},
               413: {"model": Problem, "description": "Body over the size limit."},
               503: {"model": Problem, "description": "Redis or the broker is unreachable."},
               **_errors},
    summary="Submit a sweep",
)
def submit_sweep(request_body: Annotated[SweepRequest, Body()], store: Store,
                 celery: CeleryClient, settings: AppSettings, owner: Owner,
                 active: ActiveCap) -> Response:
    """Validate every run, file the sweep and queue its chunks (202 + ``Location``)."""
    body = request_body.model_dump()
    limits = settings.limits
    datasets: set[str] = set()
    prepared = prepare_sweep(body, limits=limits, max_runs=settings.max_sweep_runs,
                             load_dataset=DatasetStore(store.redis, 0).loader(owner, datasets))
    chunks = sweep_chunks(prepared, pieces=settings.worker_count)
    sweeps = _sweeps(store, settings)
    with active.reserve() as slot:  # 429 when the caller has DESCENT_MAX_ACTIVE already
        sweep_id = sweeps.create(body, owner=owner, runs_total=prepared.runs_total,
                                 tasks_total=len(chunks), time_limit_s=settings.job_time_limit_s,
                                 datasets=datasets)
        slot.hold("sweep", sweep_id)
    try:
        for number, chunk in enumerate(chunks):
            indices = [prepared.indices[k] for k in chunk]
            enqueue(celery, settings, RUN_SWEEP_CHUNK, [sweep_id, number, indices],
                    f"{sweep_id}-{number}")
    except Exception:
        sweeps.cancel(sweep_id)
        raise
    return JSONResponse(sweeps.get(sweep_id), status_code=202,
                        headers={"Location": f"/v1/sweeps/{sweep_id}"})


@router.get("", response_model=None, responses={200: {"model": SweepList}, **_errors},
            summary="List sweeps, newest first")
def list_sweeps(store: Store, settings: AppSettings, owner: Owner,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
    return JSONResponse({"sweeps": _sweeps(store, settings).list(owner, limit)})


@router.get("/{sweep_id}", response_model=None,
            responses={200: {"model": SweepDocument}, **_errors}, summary="Read a sweep")
def get_sweep(sweep_id: str, store: Store, settings: AppSettings, owner: Owner) -> Response:
    return JSONResponse(_get(_sweeps(store, settings), sweep_id, owner, with_body=True))


@router.get(
    "/{sweep_id}/result", response_model=None,
    responses={200: {"model": SweepResult,
                     "description": "Every run (index, overrides, stop_reason, steps, final, "
                     "nearest_stationary_point, steps_to_target) and `table`: run indices, "
                     "best final loss first, diverged after, never-run last.",
                     "content": {"application/json": {"example": {
                         "runs": [{"index": 0, "overrides": {"learning_rate": 0.01},
                                   "stop_reason": "max_steps", "steps": 500, "epochs": None,
                                   "final": {"params": [0.9, 0.8], "loss": 0.01,
                                             "grad_norm": 0.2},
                                   "nearest_stationary_point": None,
                                   "steps_to_target": None}],
                         "table": [0], "summary": {
                             "runs": 1, "stop_reasons": {"max_steps": 1},
                             "best": {"index": 0, "overrides": {"learning_rate": 0.01},
                                      "final_loss": 0.01, "stop_reason": "max_steps",
                                      "steps": 500}}}}, **RESULT_FORMATS}},
               409: {"model": Problem, "description": "Still queued or running."},
               422: {"model": Problem, "description": "Bad runs or max_points."},
               **NOT_ACCEPTABLE, **_errors},
    summary="The result of a finished sweep",
)
def get_sweep_result(
    sweep_id: str, store: Store, settings: AppSettings, owner: Owner,
    runs: Annotated[str | None, Query(description="Add these runs' trajectories: indices, "
                                      "comma-separated.", examples=["0,5,7"])] = None,
    max_points: Annotated[int | None, Query(ge=2, le=MAX_COUNT, description="At most this many "
                                            "points per trajectory; first and last kept.")] = None,
    accept: Annotated[str | None, Header(description="application/json (default), "
                                         "application/vnd.apache.arrow.stream or text/csv: "
                                         "one row a run, or a row a point of the runs asked "
                                         "for (docs/spec.md §8.1).")] = None,
) -> Response:
    fmt = negotiate(accept)
    if max_points is not None and max_points > settings.max_result_points:
        raise ApiError(422, [{"loc": ["query", "max_points"], "type": "value_error",
                              "msg": f"{max_points} is over this server's limit of "
                              f"{settings.max_result_points}"}])
    sweeps = _sweeps(store, settings)
    sweep = _get(sweeps, sweep_id, owner)
    wanted: list[int] = []
    if runs:
        total = sweep["progress"]["runs_total"]
        parts = [part.strip() for part in runs.split(",") if part.strip()]
        if not all(part.isascii() and part.isdigit() and len(part) < 19 and int(part) < total
                   for part in parts) or \
                len(parts) > MAX_TRAJECTORY_RUNS:
            raise ApiError(422, [{"loc": ["query", "runs"], "type": "value_error",
                                  "msg": f"'{runs[:100]}': give at most {MAX_TRAJECTORY_RUNS} "
                                  f"run indices from 0 to {total - 1}, comma-separated"}])
        wanted = list(dict.fromkeys(int(part) for part in parts))
    if sweep["status"] not in FINISHED:
        raise ApiError(409, f"sweep {sweep_id} is {sweep['status']}; the result is ready when "
                       "it finishes")
    try:
        document = sweeps.result(sweep_id, owner, trajectories=wanted, max_points=max_points)
    except SweepNotFound:
        raise ApiError(404, f"no sweep {sweep_id}") from None
    return sweep_result_response(fmt, document)


@router.delete(
    "/{sweep_id}", status_code=204, response_model=None,
    responses={204: {"description": "A finished sweep: removed for good, with every run's "
                     "result and trajectory (docs/spec.md §9.4)."},
               200: {"model": SweepDocument, "description": "A queued sweep, now cancelled."},
               202: {"model": SweepDocument, "description": "Running: its chunks stop within "
                     "a second; finished runs and partial trajectories are kept."},
               **_errors},
    summary="Cancel a sweep, or delete a finished one",
)
def cancel_sweep(sweep_id: str, store: Store, settings: AppSettings, owner: Owner) -> Response:
    """Unfinished, the sweep is cancelled (200 or 202, the sweep document); finished, it is
    deleted with its runs' results (204)."""
    sweeps = _sweeps(store, settings)
    try:
        if sweeps.delete(sweep_id, owner) == "deleted":
            return Response(status_code=204)
        outcome = sweeps.cancel(sweep_id, owner)
        if outcome in FINISHED:  # it finished in between: it is deleted after all
            sweeps.delete(sweep_id, owner)
            return Response(status_code=204)
    except SweepNotFound:
        raise ApiError(404, f"no sweep {sweep_id}") from None
    return JSONResponse(sweeps.get(sweep_id, owner),
                        status_code=200 if outcome == "cancelled_now" else 202)


@router.get(
    "/{sweep_id}/events",
    responses={200: {"content": {"text/event-stream": {"example":
        "event: status\ndata: {\"id\": \"…\", \"status\": \"running\", …}\n\n"
        "event: progress\ndata: {\"runs_done\": 500, \"runs_total\": 1000, "
        "\"fraction\": 0.5}\n\n"}},
        "description": "`status` and `progress` events until the sweep ends."}, **_errors},
    summary="Follow a sweep (server-sent events)", operation_id="get_sweep_events",
    response_class=Response,
)
async def sweep_events(sweep_id: str, request: Request, store: Store, settings: AppSettings,
                       owner: Owner) -> Response:
    sweeps = _sweeps(store, settings)
    first = await anyio.to_thread.run_sync(_get, sweeps, sweep_id, owner)
    return event_stream(request, first, lambda: sweeps.get(sweep_id, owner))
