"""From a job spec to a run the loop can execute: every semantic check, every default filled.

``resolve_spec`` is the one place a spec's meaning is decided. It collects every problem it
finds (``SpecErrors``, one entry per field) rather than stopping at the first, so a 422 or the
CLI lists them all at once. The resolved spec (``PreparedRun.spec``) has every default written
out: submitting it again gives the same result, bit for bit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import ValidationError

from engine.budgets import (
    DEFAULT_GENERATED_DATA_BYTES,
    DEFAULT_JOB_RECORD_BYTES,
    DEFAULT_SWEEP_RECORD_BYTES,
    RunCost,
    check_data_budget,
    check_run_budget,
    run_cost,
)
from engine.data import _DEFAULT_FEATURES as DEFAULT_FEATURES
from engine.errors import SpecError, SpecErrors
from engine.jsonio import canonical, loads
from engine.objectives.base import Objective
from engine.objectives.catalogue import CATALOGUE, build_catalogue_objective
from engine.objectives.datasets import (
    DATASET_MODELS,
    build_dataset_objective,
    default_init,
    generate_dataset,
    load_inline_data,
)
from engine.objectives.expression import (
    VARIABLE_NAME,
    build_expression_objective,
    formula_variables,
    parse_expression,
)
from engine.objectives.hessians import require_hessian
from engine.optimizers.base import OptimizerDef
from engine.optimizers.layout import require_weight_matrices
from engine.optimizers.registry import hyper_row, resolve_optimizer
from engine.schedules import check_schedule_for_optimizer, resolve_schedule
from engine.spec import ExpressionFunction, GeneratedData, InlineData, JobSpec, StoredData

DatasetLoader = Callable[[str], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Limits:
    """Server-side caps (docs/spec.md §2: ``max_steps`` has a configurable cap) and the byte
    budgets of docs/spec.md §9.4 (``engine.budgets``)."""

    max_steps: int = 10_000_000
    job_record_bytes: int = DEFAULT_JOB_RECORD_BYTES
    sweep_record_bytes: int = DEFAULT_SWEEP_RECORD_BYTES
    generated_data_bytes: int = DEFAULT_GENERATED_DATA_BYTES


DEFAULT_LIMITS = Limits()


@dataclass
class PreparedRun:
    """One run, ready for ``engine.run``: the resolved spec and the objects it names."""

    spec: dict[str, Any]
    objective: Objective
    optimizer: OptimizerDef
    hyper: np.ndarray
    init: np.ndarray
    learning_rate: float
    schedule: dict[str, Any]
    cost: RunCost
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_dataset_model(self) -> bool:
        return self.objective.n_samples > 0


_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict"}


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part in _UNION_TAGS or "[" in part or part[:1].isupper())


def error_location(location: tuple | list, kind: str = "") -> list[str | int]:
    """pydantic's error location without the union-member tags it adds
    (``function.ExpressionFunction.variables`` -> ``function.variables``). The last part of
    an unknown field's location is the key the user sent, whatever it looks like (``""``
    for an empty one)."""
    if not location:
        return []
    *head, last = location
    parts = [part for part in head if not _is_union_tag(part)]
    if kind == "extra_forbidden":
        parts.append(last if last != "" else '""')
    elif not _is_union_tag(last):
        parts.append(last)
    return parts


def _field_path(location: tuple, kind: str = "") -> str:
    """``error_location`` as a spec field path: ``data.n_samples``, ``init.1``."""
    return ".".join(str(part) for part in error_location(location, kind))


def parse_spec(body: dict[str, Any] | JobSpec) -> JobSpec:
    """Shape-check a raw body (the CLI's file) into a ``JobSpec``, as ``SpecErrors`` (one entry
    per field: the alternatives of a union are merged into one message)."""
    if isinstance(body, JobSpec):
        return body
    try:
        return JobSpec.model_validate(body)
    except ValidationError as error:
        messages: dict[str, list[str]] = {}
        for entry in error.errors(include_url=False):
            messages.setdefault(_field_path(entry["loc"], entry["type"]), []).append(entry["msg"])
        raise SpecErrors(
            [SpecError(field, "; or ".join(dict.fromkeys(texts))) for field, texts in messages.items()]
        ) from None


def _check(errors: list[SpecError], action: Callable[[], Any]) -> Any:
    """Run one independent check, collecting its SpecError instead of stopping."""
    try:
        return action()
    except SpecErrors as many:
        errors.extend(many.errors)
    except SpecError as one:
        errors.append(one)
    return None


@lru_cache(maxsize=256)
def _analytic_objective(function_json: bytes, params_json: bytes) -> Objective:
    """Catalogue and formula objectives depend only on their definition: build each once per
    process (a sweep of 1,000 runs of one function builds it once, and its runs share the one
    object, which ``group_key`` needs)."""
    function = loads(function_json)
    if isinstance(function, dict):
        return build_expression_objective(
            function["expression"], function["variables"], function.get("bounds")
        )
    return build_catalogue_objective(function, loads(params_json))


def _formula_instead_of_name(function: str) -> SpecError | None:
    """A ``function`` string that is no catalogue name but parses as a formula (more than a
    bare name, which is more likely a misspelt catalogue name): the 422 shows the object form
    to send instead."""
    if function in CATALOGUE or VARIABLE_NAME.fullmatch(function.strip()):
        return None
    try:
        variables = formula_variables(function)
        parse_expression(function, variables)
    except SpecError:
        return None
    return SpecError(
        "function",
        f"{function!r} is not a catalogue name, but it reads as a formula: send it as an "
        f"object, \"function\": {json.dumps({'expression': function})} (variables default to "
        f"the names it uses, in alphabetical order: {', '.join(variables)}; list them in "
        "\"variables\" for another order)",
    )


def _build_objective(spec: JobSpec, load_dataset: DatasetLoader | None,
                     limits: Limits) -> Objective:
    function = spec.function
    if isinstance(function, ExpressionFunction):
        if spec.function_params:
            raise SpecError("function_params", "a formula takes no function_params")
        definition = function.model_dump(mode="json", exclude_none=True)
        if function.variables is None:  # taken from the formula (docs/spec.md §3.2)
            definition["variables"] = formula_variables(function.expression)
        return _analytic_objective(canonical(definition), b"{}")
    if function in DATASET_MODELS:
        X, y = _load_data(spec, load_dataset, limits)
        return build_dataset_objective(function, spec.function_params, X, y)
    instead = _formula_instead_of_name(function)
    if instead is not None:
        raise instead
    return _analytic_objective(canonical(function), canonical(spec.function_params))


def _load_data(spec: JobSpec, load_dataset: DatasetLoader | None,
               limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    data = spec.data
    model = str(spec.function)
    if isinstance(data, InlineData):
        return load_inline_data(data.X, data.y, model)
    if isinstance(data, GeneratedData):
        n_features = data.n_features or DEFAULT_FEATURES.get(data.generator, 1)
        over = check_data_budget(data.n_samples, n_features, limits.generated_data_bytes)
        if over is not None:  # refused before a byte of it is drawn
            raise over
        return generate_dataset(
            data.generator, data.n_samples, data.n_features, data.noise, data.seed, **data.options
        )
    if isinstance(data, StoredData):
        if load_dataset is None:
            raise SpecError("data.dataset_id", "stored datasets need the service (or use X, y)")
        X, y = load_dataset(data.dataset_id)
        return load_inline_data(X, y, model)
    raise SpecError("data", "a dataset model needs data: {X, y}, {dataset_id} or {generator}")


def _check_shape_rules(spec: JobSpec, errors: list[SpecError], limits: Limits) -> None:
    dataset = isinstance(spec.function, str) and spec.function in DATASET_MODELS
    if dataset and spec.data is None:
        errors.append(SpecError("data", "a dataset model needs data ({X, y}, dataset_id or generator)"))
    if not dataset:
        if spec.data is not None:
            errors.append(SpecError("data", "only dataset models take data"))
        if spec.batching != "full":
            errors.append(
                SpecError(
                    "batching",
                    f"'{spec.batching}' needs a dataset model; analytic functions have no "
                    "samples (use gradient_noise for noisy gradients)",
                )
            )
        if spec.max_epochs is not None:
            errors.append(SpecError("max_epochs", "only dataset models have epochs"))
    elif spec.gradient_noise > 0:
        errors.append(
            SpecError("gradient_noise", "only analytic functions take gradient_noise; dataset "
                      "models get noisy gradients from batching")
        )
    if spec.max_steps > limits.max_steps:
        errors.append(
            SpecError("max_steps", f"{spec.max_steps} is over this server's cap of {limits.max_steps}")
        )


def init_length_message(given: int, objective: Objective) -> str:
    return f"has {given} numbers; {objective.name} takes {objective.dims}"


def _default_init(spec: JobSpec, objective: Objective) -> np.ndarray:
    """The function's standard start, else a draw from the run's seeded generator."""
    if objective.n_samples:
        n_features = objective.data.shape[1] - 1
        return np.asarray(
            default_init(str(spec.function), n_features, spec.function_params,
                         np.random.default_rng(spec.seed), y=objective.data[:, -1]),
            dtype=float,
        )
    if objective.start is not None:
        return np.asarray(objective.start, dtype=float)
    bounds = np.asarray(objective.bounds or [(-5.0, 5.0)] * objective.dims, dtype=float)
    return np.random.default_rng(spec.seed).uniform(bounds[:, 0], bounds[:, 1])


def later_stage_errors(body: Any, named: set[str]) -> list[SpecError]:
    """When the shape check fails (its problems name the top-level fields ``named``), still
    check what a later stage would: the optimizer's and the schedule's own rules, and a
    catalogue function's name and parameters, so that one answer lists every problem
    (docs/spec.md §2)."""
    if not isinstance(body, dict):
        return []
    errors: list[SpecError] = []
    function = body.get("function")
    if (isinstance(function, str) and function not in DATASET_MODELS
            and not {"function", "function_params"} & named):
        params = body.get("function_params") or {}
        objective = _check(errors, lambda: _analytic_objective(
            canonical(function), canonical(params)))
        init = body.get("init")
        if objective is not None and "init" not in named and isinstance(init, list) \
                and len(init) != objective.dims:
            errors.append(SpecError("init", init_length_message(len(init), objective)))
    if "optimizer" in body and "optimizer" not in named:
        _check(errors, lambda: resolve_optimizer(body["optimizer"]))
    if body.get("schedule") is not None and "schedule" not in named:
        _check(errors, lambda: resolve_schedule(body["schedule"]))
    return errors


def resolve_spec(
    body: dict[str, Any] | JobSpec,
    *,
    limits: Limits = DEFAULT_LIMITS,
    load_dataset: DatasetLoader | None = None,
) -> PreparedRun:
    """Validate a spec completely and fill every default; raise ``SpecErrors`` listing all
    problems, each with its field."""
    try:
        spec = parse_spec(body)
    except SpecErrors as shape_errors:
        named = {error.field.split(".")[0] for error in shape_errors.errors}
        raise SpecErrors(shape_errors.errors + later_stage_errors(body, named)) from None
    errors: list[SpecError] = []
    _check_shape_rules(spec, errors, limits)
    objective = _check(errors, lambda: _build_objective(spec, load_dataset, limits))
    resolved_optimizer = _check(errors, lambda: resolve_optimizer(spec.optimizer))
    schedule = _check(errors, lambda: resolve_schedule(spec.schedule))
    if errors:
        raise SpecErrors(errors)
    assert objective is not None and resolved_optimizer is not None and schedule is not None
    optimizer, hyperparameters = resolved_optimizer
    _check(errors, lambda: check_schedule_for_optimizer(schedule, optimizer.momentum_column, optimizer.name))
    if optimizer.needs_hessian:
        _check(errors, lambda: require_hessian(objective, optimizer.name))
    if optimizer.needs_matrices:
        _check(errors, lambda: require_weight_matrices(objective, optimizer.name))
    if errors:
        raise SpecErrors(errors)

    if spec.init is not None:
        if len(spec.init) != objective.dims:
            raise SpecErrors(
                [SpecError("init", init_length_message(len(spec.init), objective))]
            )
        init = np.asarray(spec.init, dtype=float)
    else:
        init = _default_init(spec, objective)

    learning_rate = spec.learning_rate if spec.learning_rate is not None else optimizer.default_lr
    schedule = dict(schedule)
    if schedule["name"] == "onecycle":
        if schedule.get("max_lr") is None:
            schedule["max_lr"] = learning_rate
        if schedule.get("total_steps") is None:
            schedule["total_steps"] = spec.max_steps

    batch_size = spec.batch_size
    if objective.n_samples:
        batch_size = {"full": objective.n_samples, "stochastic": 1}.get(spec.batching, batch_size)

    filled = spec.model_dump(mode="json")
    if isinstance(spec.function, ExpressionFunction) and spec.function.variables is None:
        filled["function"]["variables"] = list(objective.parameter_names)
    filled.update(
        optimizer=hyperparameters,
        learning_rate=learning_rate,
        schedule=schedule,
        init=[float(v) for v in init],
        batch_size=batch_size,
    )
    cost = run_cost(filled, objective.dims, objective.n_samples)
    over_budget = check_run_budget(cost, spec.record_every, limits.job_record_bytes)
    if over_budget is not None:
        raise SpecErrors([over_budget])
    return PreparedRun(
        spec=filled,
        cost=cost,
        objective=objective,
        optimizer=optimizer,
        hyper=hyper_row(optimizer, hyperparameters),
        init=init,
        learning_rate=float(learning_rate),
        schedule=schedule,
    )

