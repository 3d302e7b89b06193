"""Response models for the OpenAPI document (``/docs``); routes answer with plain dicts
serialised by orjson, so these describe the shapes without costing a validation per request."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from engine.spec import FiniteFloat, JsonObject, bounded_json

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobProgress(BaseModel):
    step: int = Field(examples=[480])
    total_steps: int | None = Field(examples=[1000])
    fraction: float = Field(examples=[0.48])
    loss: float | None = Field(examples=[0.0123])


class JobDocument(BaseModel):
    """A job (SPEC.md §9). Timestamps are ISO 8601 UTC; ``summary`` when finished with a
    result, ``error`` (``type``, ``message``) when failed."""

    id: str = Field(examples=["4f9c2b7e0d1a4c8e9b3f5a6d7c8e9f01"])
    status: JobStatus
    created_at: str = Field(examples=["2025-01-01T12:00:00.000Z"])
    started_at: str | None
    finished_at: str | None
    spec: dict[str, Any] = Field(description="The spec with every default filled in.")
    progress: JobProgress
    summary: dict[str, Any] | None = Field(
        description="stop_reason, steps, epochs, final, nearest_stationary_point, elapsed_s"
    )
    error: dict[str, Any] | None = Field(examples=[{"type": "time_limit", "message": "..."}])
    attempts: int = Field(description="How many times a worker started this job.")
    cancel_requested: bool


class JobList(BaseModel):
    """Newest first. Items are job documents without ``spec``; pass ``next_cursor`` as
    ``cursor`` for the next page (null on the last page)."""

    jobs: list[dict[str, Any]]
    next_cursor: str | None


class Problem(BaseModel):
    """Every error (RFC 9457). For 422, ``detail`` is a list of {loc, msg, type}."""

    type: str = Field(examples=["https://descent.dev/errors/not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: Any = Field(examples=["no job 4f9c2b7e0d1a4c8e9b3f5a6d7c8e9f01"])


class SurfaceRequest(BaseModel):
    """A function (catalogue name, dataset model with data, or a formula) and a 2-D box."""

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"function": {"expression": "x**2 + 3*y**2", "variables": ["x", "y"]},
         "resolution": 80, "x_min": -3, "x_max": 3, "y_min": -2, "y_max": 2},
        {"function": "linear_regression",
         "data": {"generator": "linear", "n_samples": 100, "seed": 0}, "resolution": 60},
    ]}}

    function: Annotated[str | dict[str, Any], AfterValidator(bounded_json)]
    function_params: JsonObject = Field(default_factory=dict)
    data: JsonObject | None = None
    resolution: int = Field(default=100, ge=2, le=500)
    x_min: FiniteFloat | None = None
    x_max: FiniteFloat | None = None
    y_min: FiniteFloat | None = None
    y_max: FiniteFloat | None = None


class Surface(BaseModel):
    """``z[i][j]`` is f(x[j], y[i]): rows follow y (what contour plots expect)."""

    x: list[float]
    y: list[float]
    z: list[list[float | None]]


class AnalyzeRequest(BaseModel):
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"function": "himmelblau"},
        {"function": {"expression": "x**3 - 3*x*y**2", "variables": ["x", "y"]},
         "bounds": [[-2, 2], [-2, 2]]},
    ]}}

    function: Annotated[str | dict[str, Any], AfterValidator(bounded_json)]
    function_params: JsonObject = Field(default_factory=dict)
    data: JsonObject | None = None
    bounds: list[tuple[FiniteFloat, FiniteFloat]] | None = Field(
        default=None, description="The box to search, [lo, hi] per variable; default the "
        "function's bounds."
    )
