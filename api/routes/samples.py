"""The samples a dataset model trains on (``POST /v1/samples``): for the page's data view.

The body is a job's ``function``, ``function_params`` and ``data``; it is resolved exactly as a
job would be (same checks, same 422s, same generator and uploaded data set), so the samples
drawn are the very ones the job's runs average their loss over. Large data sets come back
evenly thinned to ``max_samples`` rows (the first row kept); ``n_samples`` is the full count.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import APIRouter, Response
from pydantic import AfterValidator, BaseModel, Field

from api.deps import AppSettings, Owner, Store
from api.errors import ApiError
from api.schemas import Problem
from engine import SpecError, SpecErrors, dumps, resolve_spec
from engine.objectives.datasets import DATASET_MODELS
from engine.spec import JsonObject, bounded_json
from worker.datasets import DatasetStore

router = APIRouter(prefix="/v1", tags=["catalogue"])


class SamplesRequest(BaseModel):
    """A dataset model and its data, as in a job spec."""

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"function": "mlp", "function_params": {"loss": "cross_entropy"},
         "data": {"generator": "moons", "n_samples": 200, "noise": 0.1, "seed": 0}},
    ]}}

    function: str = Field(max_length=100, description="A dataset model (docs/spec.md §3.3).")
    function_params: JsonObject = Field(default_factory=dict)
    data: Annotated[dict[str, Any], AfterValidator(bounded_json)] = Field(
        description="As a job's data: {generator, …}, {dataset_id} or {X, y}.")
    max_samples: int = Field(default=5000, ge=1, le=100_000,
                             description="Rows returned at most (evenly thinned beyond it).")


class Samples(BaseModel):
    """``X`` (rows × features) and ``y``; ``n_samples`` counts every row of the data set."""

    n_samples: int
    n_features: int
    parameters: int = Field(description="The model's parameter count on this data.")
    parameter_names: list[str]
    X: list[list[float]]
    y: list[float]


def _samples(request: SamplesRequest, store: Any, settings: Any, owner: str) -> dict[str, Any]:
    if request.function not in DATASET_MODELS:
        raise SpecErrors([SpecError("function", f"not a dataset model; choose one of "
                                                f"{list(DATASET_MODELS)}")])
    body = {"function": request.function, "function_params": request.function_params,
            "data": request.data}
    prepared = resolve_spec(body, limits=settings.limits,
                            load_dataset=DatasetStore(store.redis, 0).loader(owner))
    objective = prepared.objective
    data = objective.data
    rows = np.unique(np.linspace(0, data.shape[0] - 1, min(request.max_samples, data.shape[0]))
                     .round().astype(np.int64))
    return {"n_samples": int(data.shape[0]), "n_features": int(data.shape[1] - 1),
            "parameters": int(objective.dims), "parameter_names": list(objective.parameter_names),
            "X": data[rows, :-1], "y": data[rows, -1]}


@router.post("/samples", response_model=None, summary="The samples a dataset model trains on",
             operation_id="get_samples",
             responses={200: {"model": Samples},
                        422: {"model": Problem, "description": "A bad model or data, named."}})
async def samples(request: SamplesRequest, store: Store, settings: AppSettings,
                  owner: Owner) -> Response:
    """The rows a job with this ``function``, ``function_params`` and ``data`` would train
    on (a generator's draw, an uploaded data set, or inline samples), with the model's
    parameter count and names on them."""
    try:
        document = await anyio.to_thread.run_sync(_samples, request, store, settings, owner)
    except (SpecError, SpecErrors) as error:
        many = error if isinstance(error, SpecErrors) else SpecErrors([error])
        raise ApiError(422, many.to_detail(prefix=("body",))) from None
    return Response(dumps(document), media_type="application/json")


__all__ = ["router"]
