"""Response models for the OpenAPI document (``/docs``); routes answer with plain dicts
serialised by orjson, so these describe the shapes without costing a validation per request."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, RootModel

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


# --------------------------------------------------------------------------- results

StopReason = Literal["max_steps", "max_epochs", "grad_tol", "target_loss", "diverged",
                     "cancelled"]
Number = float | None  # non-finite numbers are written as null (docs/spec.md §8)


class HessianReport(BaseModel):
    """``newton`` only: what kind of H + λI each step solved with (docs/spec.md §4.1)."""

    positive_definite_steps: int
    indefinite_steps: int
    singular_steps: int
    first_not_positive_definite: int | None = Field(
        description="The first update (1-based) whose H + λI was not positive definite.")
    last: Literal["positive_definite", "indefinite", "singular"] | None


class FinalPoint(BaseModel):
    """Where the run ended."""

    params: list[Number] = Field(examples=[[0.9999, 0.9998]])
    loss: Number = Field(examples=[1.2e-9])
    grad_norm: Number = Field(examples=[3e-5])
    function_evaluations: int = Field(
        examples=[500], description="The objective evaluations the updates made: one a step, "
        "more for `lbfgs` (docs/spec.md §4.1).")
    averaged_params: list[Number] | None = Field(
        default=None, description="`asgd` only: its running average `ax` (null for a sweep run "
        "that stopped before its group).")
    hessian: HessianReport | None = Field(default=None, description="`newton` only.")


class NearestStationaryPoint(BaseModel):
    """The known (catalogue) or found (formula) stationary point nearest the final params."""

    params: list[float]
    value: float
    kind: Literal["global", "local", "saddle", "maximum", "degenerate"]
    distance: Number


class Trajectory(BaseModel):
    """Columnar: point i is the state after ``step[i]`` updates; ``lr[i]`` is the learning rate
    the update from ``step[i]`` uses. ``?fields=`` leaves out the columns not asked for."""

    step: list[int] = Field(examples=[[0, 1, 2]])
    params: list[list[Number]] | None = Field(default=None, examples=[[[-1.2, 1.0],
                                                                       [-1.0, 1.0]]])
    loss: list[Number] | None = Field(default=None, examples=[[24.2, 4.0]])
    grad_norm: list[Number] | None = Field(default=None, examples=[[232.0, 40.0]])
    lr: list[Number] | None = Field(default=None, examples=[[0.001, 0.001]])


class JobResult(BaseModel):
    """The result document (docs/spec.md §8)."""

    stop_reason: StopReason
    steps: int = Field(examples=[812])
    epochs: float | None = Field(description="Dataset models: epochs run (fractional when the "
                                 "last one is partial).", examples=[None])
    final: FinalPoint
    trajectory: Trajectory
    epoch_loss: list[Number] | None = Field(
        description="Dataset models: the full loss after each epoch.", examples=[None])
    nearest_stationary_point: NearestStationaryPoint | None
    elapsed_s: float = Field(examples=[0.012])


class SweepRun(BaseModel):
    """One run of a sweep: its index, what it changed, how it ended (``final`` is null for a
    run that never ran; ``pruned``: a halving search stopped it at ``steps``); ``trajectory``
    when asked for with ``?runs=``."""

    index: int
    overrides: dict[str, Any] = Field(examples=[{"learning_rate": 0.01}])
    stop_reason: StopReason | Literal["pruned"]
    steps: int
    epochs: float | None
    final: FinalPoint | None
    nearest_stationary_point: NearestStationaryPoint | None
    steps_to_target: int | None = Field(description="Steps to reach target_loss, when it was "
                                        "set and reached.")
    trajectory: Trajectory | None = None


class BestOfGroup(BaseModel):
    """The best run of one ``best_by`` group (docs/spec.md §9.1.1); ``run`` null when every run
    of the group diverged or was pruned."""

    key: dict[str, Any] = Field(examples=[{"optimizer": "adam"}])
    run: int | None
    learning_rate: float | None = Field(description="The run's, from the grid or the base "
                                        "(null: the optimizer's default).")
    final_loss: Number


class HalvingSummary(BaseModel):
    """What a halving search spent (docs/spec.md §9.1.1)."""

    method: Literal["halving"]
    eta: int = Field(examples=[3])
    min_steps: int = Field(examples=[300])
    rungs: list[int] = Field(description="The steps where runs were ranked, then max_steps.",
                             examples=[[300, 900, 2700]])
    run_steps: int = Field(description="Steps taken by all runs together.", examples=[56700])
    full_grid_run_steps: int = Field(description="Steps the full grid would take: runs × "
                                     "max_steps.", examples=[218700])
    run_steps_fraction: float | None = Field(description="run_steps / full_grid_run_steps.",
                                             examples=[0.2593])


class SweepSummary(BaseModel):
    """A finished sweep at a glance."""

    runs: int
    stop_reasons: dict[str, int] = Field(description="How many runs stopped for each reason.")
    best: dict[str, Any] | None = Field(description="The best run: index, overrides, "
                                        "final_loss, stop_reason, steps.")
    search: HalvingSummary | None = Field(default=None, description="With a halving search.")


class SweepResult(BaseModel):
    """Every run, and ``table``: run indices, best final loss first, diverged after, never-run
    last."""

    runs: list[SweepRun]
    table: list[int] = Field(examples=[[2, 0, 1]])
    summary: SweepSummary
    best: list[BestOfGroup] | None = Field(default=None, description="With best_by: the best "
                                           "run of each group (docs/spec.md §9.1.1).")


# --------------------------------------------------------------------------- catalogue


class CataloguePoint(BaseModel):
    params: list[float]
    value: float
    kind: Literal["global", "local", "saddle", "maximum"]


class FunctionSummary(BaseModel):
    """A catalogue function (``GET /v1/functions/{name}`` has the rest)."""

    name: str = Field(examples=["rosenbrock"])
    kind: Literal["function"] = "function"
    description: str
    formula: str
    dims: int = Field(description="The default number of variables.")
    n_dimensional: bool = Field(description="Takes function_params.dims.")
    params: list[str] = Field(description="Its parameters besides dims.", examples=[["a", "b"]])


class ModelExample(BaseModel):
    n_features: int
    function_params: dict[str, Any]
    parameters: list[str] = Field(description="The parameter vector's names, in order.",
                                  examples=[["w1", "w2", "b"]])


class ModelDescription(BaseModel):
    """A dataset model (docs/spec.md §3.3): the same in the list and alone."""

    name: str = Field(examples=["mlp"])
    kind: Literal["model"] = "model"
    description: str
    loss: str
    params: list[dict[str, Any]] = Field(description="Its function_params: name, type, "
                                         "default, description, choices or bounds.")
    layout: str = Field(description="The parameter vector, in order.")
    labels: str
    generators: list[str] = Field(description="The data.generator forms that suit it.")
    example: ModelExample = Field(description="The parameter names for two features.")


class Catalogue(RootModel[list[Annotated[FunctionSummary | ModelDescription,
                                         Field(discriminator="kind")]]]):
    """The functions (``kind`` ``"function"``), then the dataset models (``"model"``)."""


class FunctionParameter(BaseModel):
    name: str
    type: Literal["int", "float"]
    default: float | None
    description: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None


class FunctionDescription(BaseModel):
    """One catalogue function: formula, dims, parameters with defaults, box, standard start,
    known stationary points."""

    name: str
    kind: Literal["function"] = "function"
    description: str
    formula: str
    dims: int
    n_dimensional: bool
    min_dims: int | None = None
    params: list[FunctionParameter]
    param_values: dict[str, Any] = Field(description="The parameters in effect.")
    parameter_names: list[str] = Field(examples=[["x1", "x2"]])
    bounds: list[list[float]]
    start: list[float] | None
    stationary_points: list[CataloguePoint]
    notes: str | None = None
    source: str | None = None


class StationaryPoint(BaseModel):
    params: list[float]
    value: float
    gradient_norm: float
    hessian_eigenvalues: list[float]
    classification: Literal["minimum", "maximum", "saddle", "degenerate"]
    kind: Literal["global", "local", "maximum", "saddle", "degenerate"]


class Analysis(BaseModel):
    """Points where ∇f = 0 in the box; ``global_minimum`` is the lowest minimum among them."""

    points: list[StationaryPoint]
    global_minimum: StationaryPoint | None


class OptimizerAlias(BaseModel):
    name: str = Field(examples=["momentum"])
    sets: dict[str, Any] = Field(examples=[{"momentum": 0.9}])


class HyperparameterDescription(BaseModel):
    name: str
    type: Literal["float", "int", "bool", "pair", "choice"]
    default: Any
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool
    exclusive_maximum: bool
    range: str = Field(examples=["in [0.0, inf)"])
    description: str
    nullable: bool = Field(default=False, description="null is accepted too (torch's None).")
    choices: list[str] | None = Field(default=None, description="A `choice`'s values.")


class OptimizerDescription(BaseModel):
    """An optimizer family as ``optimizer`` names it (the spec's typed ``optimizer`` objects
    carry the same hyperparameters)."""

    name: str = Field(examples=["adam"])
    applicable: bool = Field(description="false for torch's optimizers that do not apply to "
                             "dense parameters (`sparse_adam`): listed, refused in a spec, with "
                             "the reason as the description.")
    description: str
    aliases: list[OptimizerAlias]
    default_learning_rate: float | None
    cycles_momentum: bool = Field(description="Has a momentum or beta1 onecycle can cycle.")
    hyperparameters: list[HyperparameterDescription]


class ScheduleParameter(BaseModel):
    name: str
    type: Literal["float", "int", "bool", "choice", "int_list"]
    required: bool
    default: Any
    nullable: bool
    description: str
    choices: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool | None = None
    exclusive_maximum: bool | None = None
    range: str | None = None


class ScheduleDescription(BaseModel):
    name: str = Field(examples=["cosine"])
    description: str
    params: list[ScheduleParameter]


# --------------------------------------------------------------------------- health


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    redis: Literal["ok"]
    workers: int = Field(description="Workers seen in the last 15 s.")


class CatalogueEntry(RootModel[Annotated[FunctionDescription | ModelDescription,
                                         Field(discriminator="kind")]]):
    """``GET /v1/functions/{name}``: a function, or a dataset model."""
