"""The job spec (SPEC.md §2): one pydantic model for the HTTP body, the CLI file and the
worker's input. Shape and range checks live here; what needs the catalogue, the optimizer
registry or the schedules (does the function exist, are its params right, ...) is checked by
``engine.build.resolve_spec``, which also fills every default in once.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

BATCHING_MODES = ("full", "stochastic", "minibatch")
DEFAULT_MAX_STEPS = 1000


class StrictModel(BaseModel):
    """Unknown fields are errors, never silently ignored (SPEC.md §2)."""

    model_config = ConfigDict(extra="forbid")


class ExpressionFunction(StrictModel):
    """A formula the user types (SPEC.md §3.2)."""

    expression: str = Field(min_length=1, max_length=500, examples=["x**2 + 3*y**2"])
    variables: list[str] = Field(min_length=1, max_length=10, examples=[["x", "y"]])
    bounds: list[tuple[float, float]] | None = Field(
        default=None,
        description="Box [lo, hi] per variable for surfaces, random starts and the search for "
        "stationary points; default [-5, 5] each.",
    )


class InlineData(StrictModel):
    """Samples given in the request: ``X`` (n × d) and ``y`` (n)."""

    X: list[list[float]] = Field(min_length=1)
    y: list[float] = Field(min_length=1)


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
    noise: float = Field(default=0.1, ge=0)
    seed: int = 0
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Generator options, e.g. {'weights': [2.0], 'bias': -1.0} for linear, "
        "{'centers': 3} for blobs.",
    )


DataSpec = InlineData | StoredData | GeneratedData


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
            ]
        },
    )

    function: str | ExpressionFunction = Field(
        description="A catalogue name (GET /v1/functions), a dataset model name "
        "(linear_regression, logistic_regression, softmax_regression, mlp), or a formula."
    )
    function_params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of the function, e.g. {'dims': 10}."
    )
    data: DataSpec | None = Field(default=None, description="Dataset models only.")
    optimizer: str | dict[str, Any] = Field(
        default="sgd", description="A name (GET /v1/optimizers) or {'name': ..., hyperparameters}."
    )
    learning_rate: float | None = Field(
        default=None, gt=0, description="Base learning rate; default the optimizer's torch default."
    )
    schedule: dict[str, Any] | None = Field(
        default=None, description="Learning-rate schedule (GET /v1/schedules); default constant."
    )
    batching: Literal["full", "stochastic", "minibatch"] = "full"
    batch_size: int = Field(default=32, ge=1)
    shuffle: bool = True
    init: list[float] | None = Field(default=None, min_length=1)
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, ge=1)
    max_epochs: int | None = Field(default=None, ge=1)
    grad_tol: float | None = Field(
        default=None, ge=0, description="Stop when the full gradient's L2 norm ≤ this."
    )
    target_loss: float | None = Field(default=None, description="Stop when the loss ≤ this.")
    record_every: int = Field(default=1, ge=1)
    gradient_noise: float = Field(default=0.0, ge=0)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)

    @field_validator("init")
    @classmethod
    def _init_finite(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not all(math.isfinite(v) for v in value):
            raise ValueError("every start coordinate must be a finite number")
        return value

    @field_validator("learning_rate", "target_loss", "grad_tol", "gradient_noise")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
