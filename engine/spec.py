"""The job spec (SPEC.md §2): one pydantic model for the HTTP body, the CLI file and the
worker's input. Shape and range checks live here; what needs the catalogue, the optimizer
registry or the schedules (does the function exist, are its params right, ...) is checked by
``engine.build.resolve_spec``, which also fills every default in once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    Tag,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

BATCHING_MODES = ("full", "stochastic", "minibatch")
DEFAULT_MAX_STEPS = 1000

# Numbers a spec may hold (docs/spec.md §9.4): every integer fits the int64 arithmetic of
# numpy, numba and Redis, and every float is finite. Counts (steps, batch sizes, ...) stop at
# 2**53 - 1, the largest integer every JSON reader (JavaScript's included) holds exactly, far
# enough inside int64 that sums and products of two counts cannot wrap around.
MAX_COUNT = 2**53 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_JSON_DEPTH = 16

Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Seed = Annotated[int, Field(ge=0, le=INT64_MAX)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _shown(number: float) -> str:
    """A number for a message: an integer of 4,000 digits is shown by its size."""
    if isinstance(number, int) and abs(number) > 10**30:
        return f"an integer of {number.bit_length()} bits"
    return repr(number)


def _refuse(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message})


def _check_json_value(value: Any, path: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise _refuse("too_deep",
                      f"{path or 'the value'} is nested deeper than {MAX_JSON_DEPTH} levels")
    where = f"{path}: " if path else ""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise _refuse("int_too_large", f"{where}{_shown(value)} is beyond 64-bit integers")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse("finite_number", f"{where}{value!r} is not a finite number (a literal "
                          "like 1e400 overflows to infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json_value(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json_value(item, f"{path}[{index}]", depth + 1)


def bounded_json(value: Any) -> Any:
    """Free-form JSON (function_params, optimizer, schedule, generator options, a sweep's
    grid) held to the same numbers as the typed fields: integers within 64 bits, finite
    floats, at most ``MAX_JSON_DEPTH`` levels deep. The message gives the path inside."""
    _check_json_value(value, "", 0)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(bounded_json)]


class SchemaFrom:
    """In ``Annotated[...]``: the field validates as its own type but *shows* another schema
    (``engine.openapi_schema``: typed optimizers and schedules made from the registries, which
    import this module, hence the function called on first use)."""

    def __init__(self, shown: Callable[[], CoreSchema]) -> None:
        self.shown = shown

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(self.shown())


def _optimizer_schema() -> CoreSchema:
    from engine.openapi_schema import optimizer_schema

    return optimizer_schema()


def _schedule_schema() -> CoreSchema:
    from engine.openapi_schema import schedule_schema

    return schedule_schema()


class StrictModel(BaseModel):
    """Unknown fields are errors, never silently ignored (SPEC.md §2)."""

    model_config = ConfigDict(extra="forbid")


class ExpressionFunction(StrictModel):
    """A formula the user types (SPEC.md §3.2)."""

    expression: str = Field(min_length=1, max_length=500, examples=["x**2 + 3*y**2"])
    variables: list[str] | None = Field(
        default=None, min_length=1, max_length=10, examples=[["x", "y"]],
        description="The variables in the order of init and params. Default: the names the "
        "expression uses, in alphabetical order (character order: X before x, x10 before x2).",
    )
    bounds: list[tuple[FiniteFloat, FiniteFloat]] | None = Field(
        default=None,
        description="Box [lo, hi] per variable for surfaces, random starts and the search for "
        "stationary points; default [-5, 5] each.",
    )


class InlineData(StrictModel):
    """Samples given in the request: ``X`` (n × d) and ``y`` (n)."""

    X: list[list[FiniteFloat]] = Field(min_length=1)
    y: list[FiniteFloat] = Field(min_length=1)


class StoredData(StrictModel):
    """A dataset uploaded with ``POST /v1/datasets``."""

    dataset_id: str = Field(min_length=1, max_length=100)


class GeneratedData(StrictModel):
    """A dataset drawn by a seeded generator."""

    generator: Literal["linear", "logistic", "blobs", "moons"]
    n_samples: int = Field(default=200, ge=1, le=1_000_000)
    n_features: int | None = Field(
        default=None, ge=1, le=1000,
        description="Default: 1 for linear/logistic, 2 for blobs/moons.",
    )
    noise: FiniteFloat = Field(default=0.1, ge=0)
    seed: Seed = 0
    options: JsonObject = Field(
        default_factory=dict,
        description="Generator options, e.g. {'weights': [2.0], 'bias': -1.0} for linear, "
        "{'centers': 3} for blobs.",
    )


def _data_form(value: Any) -> str | None:
    """Which form of ``data`` a value is, by its key (docs/spec.md §2): ``generator``,
    ``dataset_id``, or ``X``/``y``; it is then checked as that form only."""
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        for key, form in (("generator", "GeneratedData"), ("dataset_id", "StoredData"),
                          ("X", "InlineData"), ("y", "InlineData")):
            if key in value:
                return form
    return None


def _function_form(value: Any) -> str | None:
    """A name (a string) or a formula (an object with ``expression``)."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, (dict, ExpressionFunction)):
        return "ExpressionFunction"
    return None


DataSpec = Annotated[
    Annotated[InlineData, Tag("InlineData")] | Annotated[StoredData, Tag("StoredData")]
    | Annotated[GeneratedData, Tag("GeneratedData")],
    Discriminator(_data_form, custom_error_type="data_form",
                  custom_error_message="give the samples {\"X\": [[…]], \"y\": […]}, an "
                  "uploaded data set {\"dataset_id\": …} or a generator {\"generator\": …}"),
]
FunctionSpec = Annotated[
    Annotated[str, Tag("str")] | Annotated[ExpressionFunction, Tag("ExpressionFunction")],
    Discriminator(_function_form, custom_error_type="function_form",
                  custom_error_message="give a name (GET /v1/functions) or a formula "
                  "{\"expression\": …}"),
]


class JobSpec(StrictModel):
    """One run (SPEC.md §2). Only ``function`` is required."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 0.05,
                 "max_steps": 500},
                {"function": {"expression": "x**2 + 3*y**2", "variables": ["x", "y"]},
                 "optimizer": "momentum", "learning_rate": 0.05, "init": [2, 1]},
                {"function": "linear_regression",
                 "data": {"generator": "linear", "n_samples": 200, "seed": 0},
                 "optimizer": "sgd", "learning_rate": 0.1, "batching": "minibatch",
                 "batch_size": 16, "max_epochs": 5},
                {"function": "rosenbrock", "optimizer": "adamw", "learning_rate": 0.01,
                 "max_steps": 1000,
                 "schedule": {"name": "sequential", "milestones": [100], "schedules": [
                     {"name": "linear", "start_factor": 0.01, "total_iters": 100},
                     {"name": "cosine", "t_max": 900}]}},
                {"function": "rosenbrock", "learning_rate": 1, "max_steps": 20,
                 "optimizer": {"name": "lbfgs", "line_search_fn": "strong_wolfe"}},
                {"function": "saddle", "optimizer": {"name": "newton", "damping": 0},
                 "init": [0.3, 0.2], "max_steps": 5},
                {"function": "mlp", "function_params": {"hidden": 8},
                 "data": {"generator": "moons", "n_samples": 200, "seed": 0},
                 "optimizer": {"name": "muon", "adamw_lr": 3e-3}, "learning_rate": 0.02,
                 "max_steps": 200},
            ]
        },
    )

    function: FunctionSpec = Field(
        description="A catalogue name (GET /v1/functions), a dataset model name "
        "(linear_regression, logistic_regression, softmax_regression, mlp), or a formula."
    )
    function_params: JsonObject = Field(
        default_factory=dict, description="Parameters of the function, e.g. {'dims': 10}."
    )
    data: DataSpec | None = Field(default=None, description="Dataset models only.")
    optimizer: Annotated[str | dict[str, Any], AfterValidator(bounded_json),
                         SchemaFrom(_optimizer_schema)] = Field(
        default="sgd", description="A name (GET /v1/optimizers) or {'name': ..., hyperparameters}."
    )
    learning_rate: FiniteFloat | None = Field(
        default=None, gt=0, description="Base learning rate; default the optimizer's torch default."
    )
    schedule: Annotated[JsonObject | None, SchemaFrom(_schedule_schema)] = Field(
        default=None, description="Learning-rate schedule (GET /v1/schedules); default constant."
    )
    batching: Literal["full", "stochastic", "minibatch"] = "full"
    batch_size: Count = 32
    shuffle: bool = True
    init: list[FiniteFloat] | None = Field(default=None, min_length=1)
    max_steps: Count = DEFAULT_MAX_STEPS
    max_epochs: Count | None = None
    grad_tol: FiniteFloat | None = Field(
        default=None, ge=0, description="Stop when the full gradient's L2 norm ≤ this."
    )
    target_loss: FiniteFloat | None = Field(default=None, description="Stop when the loss ≤ this.")
    record_every: Count = 1
    gradient_noise: FiniteFloat = Field(default=0.0, ge=0)
    seed: Seed = 0
