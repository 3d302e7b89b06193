"""The catalogue (SPEC.md §9): functions with metadata, surface grids for contour plots,
optimizers, schedules, and the stationary points of a function (``POST /v1/analyze``).

All cheap engine calls: a surface is one vectorised evaluation of the whole grid.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Response

from api.deps import get_owner
from api.errors import ApiError
from api.schemas import (
    Analysis,
    AnalyzeRequest,
    Catalogue,
    CatalogueEntry,
    OptimizerDescription,
    Problem,
    ScheduleDescription,
    Surface,
    SurfaceRequest,
)
from engine import (
    SpecError,
    SpecErrors,
    describe_function,
    describe_optimizers,
    dumps,
    list_functions,
    resolve_spec,
)
from engine.analysis import find_stationary_points
from engine.objectives.datasets import DATASET_MODELS, list_models
from engine.schedules import describe_schedules

router = APIRouter(prefix="/v1", tags=["catalogue"], dependencies=[Depends(get_owner)])
_bad: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "Bad function, parameters or box."}}
FiniteQuery = Annotated[float | None, Query(allow_inf_nan=False)]


def _json(value: Any) -> Response:
    return Response(dumps(value), media_type="application/json")


def _objective(function: Any, function_params: dict[str, Any], data: Any = None) -> Any:
    """The objective a job with this function would optimise (SpecErrors as 422)."""
    body: dict[str, Any] = {"function": function, "function_params": function_params}
    if data is not None:
        body["data"] = data
    return resolve_spec(body).objective


@router.get("/functions", summary="The catalogue: functions, then dataset models",
            operation_id="list_functions",
            responses={200: {"model": Catalogue}})
def functions() -> Response:
    """The catalogue functions (``kind`` ``"function"``) and the dataset models (``kind``
    ``"model"``, with their parameter layout, labels and generators; docs/spec.md §3.3)."""
    return _json(list_functions() + list_models())


@router.get("/functions/{name}", summary="One function", operation_id="get_function",
            responses={200: {"model": CatalogueEntry},
                       404: {"model": Problem}, **_bad})
def function(
    name: str,
    dims: Annotated[int | None, Query(ge=1, le=1000, description="n-D functions only.")] = None,
) -> Response:
    """A function: formula, dims, parameters with defaults, bounds, standard start,
    stationary points. A dataset model: its parameters, layout, labels and generators."""
    if name in DATASET_MODELS:
        return _json(DATASET_MODELS[name].to_dict())
    try:
        return _json(describe_function(name, {"dims": dims} if dims else {}))
    except (SpecError, SpecErrors) as error:
        if name not in {entry["name"] for entry in list_functions()}:
            raise ApiError(404, f"no function {name!r} in the catalogue") from None
        raise ApiError(422, _detail(error, ("query",))) from None


def _detail(error: SpecError | SpecErrors, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    many = error if isinstance(error, SpecErrors) else SpecErrors([error])
    return many.to_detail(prefix=prefix)


def _surface(objective: Any, resolution: int, box: list[float | None]) -> dict[str, Any]:
    if objective.dims != 2:
        raise ApiError(422, [{"loc": ["body", "function"], "type": "value_error",
                              "msg": f"a surface needs a function of 2 variables; this one "
                              f"has {objective.dims}"}])
    bounds = list(objective.bounds) if objective.bounds else [(-5.0, 5.0), (-5.0, 5.0)]
    x_min, x_max, y_min, y_max = (
        float(given) if given is not None else float(default)
        for given, default in zip(box, (bounds[0][0], bounds[0][1], bounds[1][0], bounds[1][1]))
    )
    if not (x_min < x_max and y_min < y_max) or not np.all(np.isfinite([x_min, x_max, y_min,
                                                                          y_max])):
        raise ApiError(422, [{"loc": ["query", "x_min"], "type": "value_error",
                              "msg": f"the box [{x_min}, {x_max}] × [{y_min}, {y_max}] is empty; "
                              "each min must be below its max"}])
    x = np.linspace(x_min, x_max, resolution)
    y = np.linspace(y_min, y_max, resolution)
    grid_x, grid_y = np.meshgrid(x, y)  # rows follow y
    points = np.ascontiguousarray(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1))
    with np.errstate(all="ignore"):
        z = np.asarray(objective.value(points), dtype=float).reshape(resolution, resolution)
    return {"x": x, "y": y, "z": z}


@router.get("/functions/{name}/surface", responses={200: {"model": Surface}, **_bad,
                                                    404: {"model": Problem}},
            summary="A grid for contour plots", response_model=None,
            operation_id="get_function_surface")
def function_surface(
    name: str,
    resolution: Annotated[int, Query(ge=2, le=500, description="Points per axis.")] = 100,
    x_min: FiniteQuery = None, x_max: FiniteQuery = None,
    y_min: FiniteQuery = None, y_max: FiniteQuery = None,
) -> Response:
    """``{x, y, z}`` with ``z[i][j] = f(x[j], y[i])`` over the function's bounds (or the box
    given). n-D catalogue functions are drawn in 2-D."""
    if name not in {entry["name"] for entry in list_functions()}:
        raise ApiError(404, f"no function {name!r} in the catalogue")
    try:
        objective = _objective(name, {})
        if objective.dims != 2:
            objective = _objective(name, {"dims": 2})
    except (SpecError, SpecErrors) as error:
        raise ApiError(422, _detail(error, ("path",))) from None
    return _json(_surface(objective, resolution, [x_min, x_max, y_min, y_max]))


@router.post("/surface", responses={200: {"model": Surface}, **_bad}, response_model=None,
             summary="A grid for any 2-variable function (formulas, dataset models)",
             operation_id="compute_surface")
def surface(request: SurfaceRequest) -> Response:
    try:
        objective = _objective(request.function, request.function_params, request.data)
    except (SpecError, SpecErrors) as error:
        raise ApiError(422, _detail(error, ("body",))) from None
    return _json(_surface(objective, request.resolution,
                          [request.x_min, request.x_max, request.y_min, request.y_max]))


@router.post("/analyze", responses={200: {"model": Analysis}, **_bad},
             summary="Stationary points in a box", operation_id="analyze_function")
def analyze(request: AnalyzeRequest) -> Response:
    """Points where ∇f = 0 inside the box, each classified by its Hessian's eigenvalues
    (minimum, maximum, saddle, degenerate); ``global_minimum`` is the lowest minimum found."""
    try:
        objective = _objective(request.function, request.function_params, request.data)
        points = find_stationary_points(objective, request.bounds)
    except (SpecError, SpecErrors) as error:
        raise ApiError(422, _detail(error, ("body",))) from None
    minima = [point for point in points if point.get("kind") == "global"]
    return _json({"points": points, "global_minimum": minima[0] if minima else None})


@router.get("/optimizers", summary="Optimizers and their hyperparameters",
            operation_id="list_optimizers",
            responses={200: {"model": list[OptimizerDescription]}})
def optimizers() -> Response:
    return _json(describe_optimizers())


@router.get("/schedules", summary="Learning-rate schedules and their parameters",
            operation_id="list_schedules",
            responses={200: {"model": list[ScheduleDescription]}})
def schedules() -> Response:
    return _json(describe_schedules())


__all__ = ["router"]
