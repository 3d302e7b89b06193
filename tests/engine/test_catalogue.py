"""The catalogue of analytic functions (SPEC.md §3.1): values, exact gradients and Hessians,
stationary points that really are stationary and correctly classified, metadata, and the
errors a user gets for a bad ``function_params``."""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pytest

from engine.errors import SpecError
from engine.objectives.base import Objective
from engine.objectives.catalogue import (
    CATALOGUE,
    build_catalogue_objective,
    describe_function,
    list_functions,
)

SPEC_NAMES = (
    "sphere",
    "rosenbrock",
    "himmelblau",
    "rastrigin",
    "ackley",
    "beale",
    "booth",
    "matyas",
    "goldstein_price",
    "three_hump_camel",
    "six_hump_camel",
    "styblinski_tang",
    "levi13",
    "eggholder",
    "mccormick",
    "saddle",
    "monkey_saddle",
    "quadratic",
)
N_DIMENSIONAL = ("sphere", "rosenbrock", "rastrigin", "ackley", "styblinski_tang", "quadratic")

# every function at its defaults, every n-D one at dims 2, 3 and 10, and non-default params
CASES: tuple[tuple[str, tuple], ...] = (
    *((name, ()) for name in SPEC_NAMES),
    *((name, (("dims", dims),)) for name in N_DIMENSIONAL for dims in (3, 10)),
    ("rosenbrock", (("dims", 4),)),
    ("rosenbrock", (("a", 2.0), ("b", 10.0))),
    ("rosenbrock", (("dims", 5), ("a", 2.0))),
    ("rastrigin", (("A", 3.0), ("dims", 3))),
    ("ackley", (("a", 10.0), ("b", 0.5), ("c", 3.0))),
    ("styblinski_tang", (("dims", 4),)),
    ("quadratic", (("condition", 100.0), ("dims", 3), ("rotation_seed", 7))),
    ("quadratic", (("angle", 0.5),)),
)
CASE_IDS = [name + "".join(f"-{k}={v}" for k, v in params) for name, params in CASES]


@cache
def objective(name: str, params: tuple) -> Objective:
    return build_catalogue_objective(name, dict(params))


def random_points(obj: Objective, count: int, seed: int = 0) -> np.ndarray:
    low, high = np.array(obj.bounds).T
    rng = np.random.default_rng(seed)
    # stay clear of the edges so finite differences do not step outside
    return low + (high - low) * rng.uniform(0.02, 0.98, size=(count, obj.dims))


def hessian(obj: Objective, points: np.ndarray) -> np.ndarray:
    """The analytic Hessian, which every catalogue function has (``Objective.hessian`` is
    optional only for expressions and data sets)."""
    assert obj.hessian is not None, f"{obj.name} has no analytic Hessian"
    return obj.hessian(points)


def on_bound(obj: Objective, point: np.ndarray) -> np.ndarray:
    low, high = np.array(obj.bounds).T
    return np.where(point >= high, 1, np.where(point <= low, -1, 0))


def free_hessian(obj: Objective, point: np.ndarray) -> np.ndarray:
    """The Hessian restricted to coordinates that are not pinned on a bound (eggholder's
    minimum lies on x = 512)."""
    free = np.flatnonzero(on_bound(obj, point) == 0)
    return hessian(obj, point[None, :])[0][np.ix_(free, free)]


def central_gradient(obj: Objective, point: np.ndarray) -> np.ndarray:
    steps = 1e-5 * np.maximum(1.0, np.abs(point))
    shifts = np.diag(steps)
    upper = obj.value(point + shifts)
    lower = obj.value(point - shifts)
    return (upper - lower) / (2.0 * steps)


parametrize_cases = pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)


def test_the_catalogue_has_every_function_the_spec_names() -> None:
    assert set(SPEC_NAMES) <= set(CATALOGUE)
    assert {entry["name"] for entry in list_functions()} == set(CATALOGUE)


@parametrize_cases
def test_metadata_shapes_follow_the_dims(name: str, params: tuple) -> None:
    obj = objective(name, params)
    expected_dims = dict(params).get("dims", 2)
    assert obj.dims == expected_dims
    assert obj.start is not None
    assert len(obj.bounds) == len(obj.start) == len(obj.parameter_names) == obj.dims
    assert obj.parameter_names == (
        ("x", "y") if name not in N_DIMENSIONAL else tuple(f"x{i + 1}" for i in range(obj.dims))
    )
    assert all(len(p.params) == obj.dims for p in obj.stationary_points)
    assert obj.consts.dtype == np.float64 and obj.consts.flags.c_contiguous


@parametrize_cases
def test_the_standard_start_is_inside_the_bounds_and_not_stationary(
    name: str, params: tuple
) -> None:
    obj = objective(name, params)
    low, high = np.array(obj.bounds).T
    start = np.array(obj.start)
    assert np.all((low <= start) & (start <= high))
    assert np.linalg.norm(obj.gradient(start)) > 1e-3


@parametrize_cases
def test_listed_values_are_the_function_values(name: str, params: tuple) -> None:
    obj = objective(name, params)
    assert obj.stationary_points
    for point in obj.stationary_points:
        value = obj.value(np.array(point.params))[0]
        assert value == pytest.approx(point.value, rel=1e-12, abs=1e-12)


@parametrize_cases
def test_stationary_points_are_stationary(name: str, params: tuple) -> None:
    """∇f = 0 at every listed point; on a bound (eggholder) the KKT conditions instead: the
    gradient along the pinned coordinate points out of the box, the rest vanishes."""
    obj = objective(name, params)
    for point in obj.stationary_points:
        x = np.array(point.params)
        grad = obj.gradient(x)[0]
        side = on_bound(obj, x)
        scale = 1.0 + abs(point.value)
        assert np.all(np.abs(grad[side == 0]) <= 1e-7 * scale), (point, grad)
        assert np.all(grad[side == 1] <= 0.0) and np.all(grad[side == -1] >= 0.0)


@parametrize_cases
def test_kinds_agree_with_the_hessian(name: str, params: tuple) -> None:
    obj = objective(name, params)
    for point in obj.stationary_points:
        eigenvalues = np.linalg.eigvalsh(free_hessian(obj, np.array(point.params)))
        tolerance = 1e-9 * max(1.0, np.max(np.abs(eigenvalues)))
        if point.kind in ("global", "local"):
            assert np.all(eigenvalues > tolerance), (point, eigenvalues)
        elif point.kind == "maximum":
            assert np.all(eigenvalues < -tolerance), (point, eigenvalues)
        elif name == "monkey_saddle":  # degenerate: the Hessian vanishes
            assert point.kind == "saddle" and np.all(np.abs(eigenvalues) <= tolerance)
        else:
            assert point.kind == "saddle"
            assert eigenvalues.min() < -tolerance < tolerance < eigenvalues.max(), point


@parametrize_cases
def test_the_global_minimum_is_the_lowest_listed_point(name: str, params: tuple) -> None:
    obj = objective(name, params)
    globals_ = [p.value for p in obj.stationary_points if p.kind == "global"]
    if name in ("saddle", "monkey_saddle"):  # unbounded below: no minimum at all
        assert not globals_
        return
    assert globals_
    best = min(globals_)
    assert max(globals_) == pytest.approx(best, abs=1e-9 * (1 + abs(best)))
    for point in obj.stationary_points:
        assert best <= point.value + 1e-12
        if point.kind == "local":
            assert point.value > best + 1e-9


@parametrize_cases
def test_gradient_matches_central_differences(name: str, params: tuple) -> None:
    obj = objective(name, params)
    points = random_points(obj, 16, seed=1)
    _, grads = obj.evaluate(points)
    for point, grad in zip(points, grads):
        numeric = central_gradient(obj, point)
        scale = max(1.0, np.max(np.abs(grad)))
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6 * scale)


@parametrize_cases
def test_hessian_is_symmetric_and_matches_differences_of_the_gradient(
    name: str, params: tuple
) -> None:
    obj = objective(name, params)
    points = random_points(obj, 6, seed=2)
    hessians = hessian(obj, points)
    assert hessians.shape == (len(points), obj.dims, obj.dims)
    np.testing.assert_array_equal(hessians, np.swapaxes(hessians, 1, 2))
    for point, point_hessian in zip(points, hessians):
        steps = 1e-6 * np.maximum(1.0, np.abs(point))
        shifts = np.diag(steps)
        numeric = (obj.gradient(point + shifts) - obj.gradient(point - shifts)) / (
            2.0 * steps[:, None]
        )
        scale = max(1.0, np.max(np.abs(point_hessian)))
        np.testing.assert_allclose(point_hessian, numeric, rtol=1e-5, atol=1e-5 * scale)


@parametrize_cases
def test_a_batch_of_points_equals_single_evaluations(name: str, params: tuple) -> None:
    obj = objective(name, params)
    points = random_points(obj, 7, seed=3)
    losses, grads = obj.evaluate(points)
    hessians = hessian(obj, points)
    for i, point in enumerate(points):
        loss, grad = obj.evaluate(point)
        assert loss.shape == (1,) and grad.shape == (1, obj.dims)
        assert loss[0] == losses[i]
        np.testing.assert_array_equal(grad[0], grads[i])
        np.testing.assert_array_equal(hessian(obj, point[None, :])[0], hessians[i])


# The literature's minima (VLSE, Surjanovic & Bingham; Himmelblau 1972), to the digits it
# gives: each must be listed, with that value and kind.
LITERATURE_POINTS = {
    "sphere": [((0.0, 0.0), 0.0, "global")],
    "rosenbrock": [((1.0, 1.0), 0.0, "global")],
    "himmelblau": [
        ((3.0, 2.0), 0.0, "global"),
        ((-2.805118, 3.131312), 0.0, "global"),
        ((-3.779310, -3.283186), 0.0, "global"),
        ((3.584428, -1.848126), 0.0, "global"),
        ((-0.270845, -0.923039), 181.617, "maximum"),
    ],
    "rastrigin": [((0.0, 0.0), 0.0, "global")],
    "ackley": [((0.0, 0.0), 0.0, "global")],
    "beale": [((3.0, 0.5), 0.0, "global")],
    "booth": [((1.0, 3.0), 0.0, "global")],
    "matyas": [((0.0, 0.0), 0.0, "global")],
    "goldstein_price": [
        ((0.0, -1.0), 3.0, "global"),
        ((-0.6, -0.4), 30.0, "local"),
        ((1.8, 0.2), 84.0, "local"),
        ((1.2, 0.8), 840.0, "local"),
    ],
    "three_hump_camel": [
        ((0.0, 0.0), 0.0, "global"),
        ((1.7476, -0.8738), 0.2986, "local"),
        ((-1.7476, 0.8738), 0.2986, "local"),
    ],
    "six_hump_camel": [
        ((0.0898, -0.7126), -1.0316, "global"),
        ((-0.0898, 0.7126), -1.0316, "global"),
        ((-1.7036, 0.7961), -0.2155, "local"),
        ((1.7036, -0.7961), -0.2155, "local"),
        ((1.6071, 0.5687), 2.1043, "local"),
        ((-1.6071, -0.5687), 2.1043, "local"),
    ],
    "styblinski_tang": [
        ((-2.903534, -2.903534), -2 * 39.16617, "global"),
        ((-2.903534, 2.746803), -64.1956, "local"),
        ((2.746803, -2.903534), -64.1956, "local"),
        ((2.746803, 2.746803), -50.0589, "local"),
    ],
    "levi13": [((1.0, 1.0), 0.0, "global")],
    "eggholder": [((512.0, 404.2319), -959.6407, "global")],
    "mccormick": [((-0.54719, -1.54719), -1.9133, "global")],
    "saddle": [((0.0, 0.0), 0.0, "saddle")],
    "monkey_saddle": [((0.0, 0.0), 0.0, "saddle")],
    "quadratic": [((0.0, 0.0), 0.0, "global")],
}

# functions where the catalogue lists more minima than the table above
MINIMA_COUNT = {"mccormick": 2}  # a local minimum at (2.594395, 1.594395) in the domain


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_the_literature_stationary_points_are_listed(name: str) -> None:
    obj = objective(name, ())
    minima = [p for p in obj.stationary_points if p.kind in ("global", "local")]
    literature = LITERATURE_POINTS[name]
    literature_minima = [entry for entry in literature if entry[2] in ("global", "local")]
    assert len(minima) == MINIMA_COUNT.get(name, len(literature_minima))
    for where, value, kind in literature:
        matches = [
            p
            for p in obj.stationary_points
            if np.all(np.abs(np.array(p.params) - where) <= 1e-4 * (1 + np.abs(where)))
        ]
        assert len(matches) == 1, (where, obj.stationary_points)
        assert matches[0].kind == kind
        assert matches[0].value == pytest.approx(value, abs=1e-3)


@pytest.mark.parametrize("dims", [1, 2, 3, 10])
def test_styblinski_tang_global_minimum_scales_with_dims(dims: int) -> None:
    obj = objective("styblinski_tang", (("dims", dims),))
    (best,) = [p for p in obj.stationary_points if p.kind == "global"]
    assert best.params == pytest.approx((-2.903534,) * dims, abs=1e-6)
    assert best.value == pytest.approx(-39.16616570 * dims, rel=1e-9)


@pytest.mark.parametrize(("dims", "local_value"), [(4, 3.701428610430), (7, 3.983600536425)])
def test_rosenbrock_lists_its_local_minimum_from_four_dims(dims: int, local_value: float) -> None:
    """Shang & Qiu (2006): the extended Rosenbrock function has a second minimum near
    (−1, 1, …, 1) for n ≥ 4 (value ≈ 3.70 at n = 4)."""
    obj = objective("rosenbrock", (("dims", dims),))
    kinds = sorted((p.kind, round(p.value, 10)) for p in obj.stationary_points)
    assert kinds == [("global", 0.0), ("local", pytest.approx(local_value, abs=1e-9))]


def test_quadratic_has_the_requested_condition_number() -> None:
    for params in [(("condition", 100.0), ("dims", 3), ("rotation_seed", 7)), (("angle", 0.5),)]:
        obj = objective("quadratic", params)
        eigenvalues = np.linalg.eigvalsh(hessian(obj, np.zeros((1, obj.dims)))[0])
        condition = dict(params).get("condition", 10.0)
        assert eigenvalues.max() / eigenvalues.min() == pytest.approx(condition, rel=1e-12)
        assert eigenvalues.min() == pytest.approx(1.0, rel=1e-12)
    default = objective("quadratic", ())
    np.testing.assert_array_equal(default.consts.reshape(2, 2), np.diag([1.0, 10.0]))


def test_the_same_rotation_seed_gives_the_same_function() -> None:
    first = build_catalogue_objective("quadratic", {"dims": 4, "rotation_seed": 3})
    second = build_catalogue_objective("quadratic", {"dims": 4, "rotation_seed": 3})
    other = build_catalogue_objective("quadratic", {"dims": 4, "rotation_seed": 4})
    np.testing.assert_array_equal(first.consts, second.consts)
    assert not np.array_equal(first.consts, other.consts)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_describe_function_is_json_ready(name: str) -> None:
    described = describe_function(name)
    text = json.dumps(described, allow_nan=False)
    assert json.loads(text)["name"] == name
    for key in (
        "description",
        "formula",
        "dims",
        "n_dimensional",
        "params",
        "bounds",
        "start",
        "stationary_points",
    ):
        assert key in described
    assert described["n_dimensional"] == (name in N_DIMENSIONAL)
    if described["n_dimensional"]:
        assert described["params"][0]["name"] == "dims"


def test_describe_function_generates_points_for_the_requested_dims() -> None:
    described = describe_function("sphere", {"dims": 5})
    assert described["dims"] == 5 and len(described["bounds"]) == 5
    assert described["stationary_points"] == [{"params": [0.0] * 5, "value": 0.0, "kind": "global"}]


BAD_PARAMS = [
    ("rosenbrock", {"c": 1}, "function_params.c", "'c'"),
    ("rosenbrock", {"b": 0}, "function_params.b", "0"),
    ("rosenbrock", {"a": "one"}, "function_params.a", "'one'"),
    ("rosenbrock", {"dims": 1}, "function_params.dims", "1"),
    ("sphere", {"dims": 0}, "function_params.dims", "0"),
    ("sphere", {"dims": 2.5}, "function_params.dims", "2.5"),
    ("sphere", {"dims": "3"}, "function_params.dims", "'3'"),
    ("sphere", {"dims": True}, "function_params.dims", "True"),
    ("sphere", {"dims": 1001}, "function_params.dims", "1001"),
    ("himmelblau", {"dims": 3}, "function_params.dims", "3"),
    ("himmelblau", {"a": 1.0}, "function_params.a", "'a'"),
    ("rastrigin", {"A": -1}, "function_params.A", "-1"),
    ("rastrigin", {"A": math.nan}, "function_params.A", "nan"),
    ("ackley", {"b": 0.0}, "function_params.b", "0.0"),
    ("quadratic", {"condition": 0.5}, "function_params.condition", "0.5"),
    ("quadratic", {"rotation_seed": -1}, "function_params.rotation_seed", "-1"),
    ("quadratic", {"rotation_seed": 1.5}, "function_params.rotation_seed", "1.5"),
    ("quadratic", {"angle": 0.3, "dims": 3}, "function_params.angle", "dims=3"),
    ("quadratic", {"angle": 0.3, "rotation_seed": 1}, "function_params.angle", "not both"),
]


@pytest.mark.parametrize(("name", "params", "field", "mentions"), BAD_PARAMS)
def test_bad_params_name_the_field_and_the_value(
    name: str, params: dict, field: str, mentions: str
) -> None:
    for call in (build_catalogue_objective, describe_function):
        with pytest.raises(SpecError) as caught:
            call(name, params)
        assert caught.value.field == field
        assert mentions in caught.value.message


def test_an_unknown_function_lists_the_known_names() -> None:
    with pytest.raises(SpecError) as caught:
        build_catalogue_objective("rosenbrok")
    assert caught.value.field == "function"
    assert "'rosenbrok'" in caught.value.message and "rosenbrock" in caught.value.message
