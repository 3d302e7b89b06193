"""The spec model against hostile JSON (docs/spec.md §9.4): whatever a body holds — integers
beyond 64 bits, floats that overflowed to infinity, NaN, unicode digits, deep nesting — it
either validates to a spec whose numbers are all in safe ranges, or fails with ``SpecErrors``
naming fields. Never another exception: that would be a 500 in the API. ``resolve_spec`` keeps
the promise too, and what it resolves can be stored (orjson writes 64-bit integers only)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import SpecErrors, dumps, parse_spec, resolve_spec
from engine.build import Limits
from engine.spec import INT64_MAX, INT64_MIN, MAX_COUNT, JobSpec

HOSTILE_INTEGERS = st.sampled_from([
    2**70, -(2**70), 2**63, 2**63 - 1, -(2**63), 2**64, 2**53, 2**53 - 1, 10**400, -1, 0, 1,
])
HOSTILE_FLOATS = st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 1e20])
NUMBERS = st.one_of(HOSTILE_INTEGERS, HOSTILE_FLOATS, st.integers(), st.floats())
TEXT = st.one_of(st.sampled_from(["١٢", "²", "1_000", " 12 ", "1e400", "NaN", "Infinity"]),
                 st.text(max_size=5))
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


TEMPLATES: list[dict[str, Any]] = [
    {"function": "sphere", "function_params": {"dims": 3}, "max_steps": 20,
     "optimizer": {"name": "adam", "lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8},
     "learning_rate": 0.1, "schedule": {"name": "step", "step_size": 10, "gamma": 0.5},
     "init": [1.0, 2.0, 3.0], "grad_tol": 0.0, "target_loss": 0.0, "record_every": 1,
     "gradient_noise": 0.0, "seed": 1},
    {"function": {"expression": "x**2 + y**2", "variables": ["x", "y"],
                  "bounds": [[-1, 1], [-1, 1]]}, "max_steps": 20,
     "schedule": {"name": "onecycle", "total_steps": 10, "max_lr": 0.1}},
    {"function": "linear_regression", "max_steps": 20, "batching": "minibatch",
     "batch_size": 4, "max_epochs": 2,
     "data": {"generator": "linear", "n_samples": 10, "n_features": 2, "noise": 0.1, "seed": 1,
              "options": {"weights": [1, 2], "bias": 1}}},
    {"function": "linear_regression", "data": {"X": [[1.0, 2.0], [3.0, 4.0]], "y": [1, 2]}},
    {"function": "rosenbrock", "function_params": {"a": 1.0, "b": 100.0},
     "schedule": {"name": "plateau", "patience": 3, "cooldown": 1}},
    {"function": "sphere", "schedule": {"name": "multistep", "milestones": [2, 5]}},
]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*prefix, index))
    return paths


def _replaced(template: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    body = dumps_copy(template)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def dumps_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: dumps_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [dumps_copy(item) for item in value]
    return value


@st.composite
def hostile_bodies(draw: st.DrawFn) -> Any:
    """A valid spec with one field (at any depth) replaced by a hostile value, or noise."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(JSON, st.dictionaries(st.sampled_from(
            list(JobSpec.model_fields)), JSON, max_size=4)))
    template = draw(st.sampled_from(TEMPLATES))
    path = draw(st.sampled_from(_paths(template)))
    value = draw(st.one_of(NUMBERS, TEXT, JSON, st.just(_deep(40)),
                           st.lists(NUMBERS, min_size=1, max_size=4)))
    return _replaced(template, path, value)


def _numbers(value: Any) -> list[int | float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _numbers(item)]
    return []


def _safe(number: float) -> bool:
    if isinstance(number, int):
        return INT64_MIN <= number <= INT64_MAX
    return math.isfinite(number)


def _named_fields(errors: SpecErrors, body: Any) -> bool:
    """Each error names its field (a body that is not an object is itself the field)."""
    return bool(errors.errors) and all(error.field or not isinstance(body, dict)
                                       for error in errors.errors)


SMALL = Limits(max_steps=10_000, job_record_bytes=1 << 22, sweep_record_bytes=1 << 24,
               generated_data_bytes=1 << 20)


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(body=hostile_bodies())
def test_the_spec_model_validates_to_safe_numbers_or_names_fields(body: Any) -> None:
    try:
        spec = parse_spec(body)
    except SpecErrors as errors:
        assert _named_fields(errors, body), errors.to_detail()
        return
    assert all(_safe(n) for n in _numbers(spec.model_dump())), spec
    for count in (spec.max_steps, spec.record_every, spec.batch_size, spec.max_epochs or 1):
        assert 1 <= count <= MAX_COUNT


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(body=hostile_bodies())
def test_resolve_spec_resolves_a_storable_spec_or_names_fields(body: Any) -> None:
    try:
        prepared = resolve_spec(body, limits=SMALL)
    except SpecErrors as errors:
        assert _named_fields(errors, body), errors.to_detail()
        return
    dumps(prepared.spec)  # what the job store writes: raises on an int beyond 64 bits
    assert all(_safe(n) for n in _numbers(prepared.spec))
    assert prepared.cost.total <= SMALL.job_record_bytes


def test_the_reported_bug_is_a_field_error() -> None:
    """issue 10: ``"record_every": 2**70`` was a 500 (orjson could not store the spec)."""
    try:
        resolve_spec({"function": "sphere", "record_every": 2**70})
    except SpecErrors as errors:
        assert [error.field for error in errors.errors] == ["record_every"]
    else:
        raise AssertionError("2**70 was accepted")
