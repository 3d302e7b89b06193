"""The analytic method: stationary points (∇f = 0) classified by the Hessian."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.analysis import (
    classify_hessian,
    find_stationary_points,
    nearest_stationary_points,
    stationary_points_of,
)
from engine.objectives.base import Objective, StationaryPoint
from engine.objectives.expression import build_expression_objective

XY = ["x", "y"]
HIMMELBLAU = "(x**2+y-11)**2+(x+y**2-7)**2"


@pytest.mark.parametrize("hessian, expected", [
    ([[2, 0], [0, 6]], "minimum"),
    ([[-2, 0], [0, -1]], "maximum"),
    ([[2, 0], [0, -2]], "saddle"),
    ([[0, 1], [1, 0]], "saddle"),  # eigenvalues ±1
    ([[2, 0], [0, 0]], "degenerate"),
    ([[0, 0], [0, 0]], "degenerate"),
    ([[1, 0, 0], [0, -1, 0], [0, 0, 0]], "saddle"),  # mixed signs decide despite the zero
    ([[1e-12, 0], [0, 1]], "degenerate"),  # below tol relative to the largest
    ([[4.0]], "minimum"),
    ([[np.nan, 0], [0, 1]], "degenerate"),
    ([[1, 2], [2, 5]], "minimum"),
])
def test_classify_hessian(hessian, expected):
    assert classify_hessian(np.array(hessian, dtype=float)) == expected


def _by_kind(points):
    kinds: dict[str, list] = {}
    for point in points:
        kinds.setdefault(point["kind"], []).append(point)
    return kinds


def test_saddle_of_x2_minus_y2_is_at_the_origin():
    points = find_stationary_points(build_expression_objective("x**2 - y**2", XY))
    assert len(points) == 1
    (point,) = points
    assert point["params"] == [0.0, 0.0]
    assert point["kind"] == "saddle" and point["classification"] == "saddle"
    assert point["value"] == 0.0
    np.testing.assert_allclose(sorted(point["hessian_eigenvalues"]), [-2.0, 2.0])


def test_double_well_has_two_global_minima_and_a_saddle():
    points = find_stationary_points(build_expression_objective("x**4 - 2*x**2 + y**2", XY))
    kinds = _by_kind(points)
    assert set(kinds) == {"global", "saddle"}
    minima = sorted(point["params"] for point in kinds["global"])
    np.testing.assert_allclose(minima, [[-1.0, 0.0], [1.0, 0.0]], atol=1e-10)
    assert [point["value"] for point in kinds["global"]] == pytest.approx([-1.0, -1.0])
    assert kinds["saddle"][0]["params"] == [0.0, 0.0]
    assert points[0]["kind"] == "global"  # best first


def test_himmelblau_has_four_global_minima_one_maximum_and_four_saddles():
    points = find_stationary_points(build_expression_objective(HIMMELBLAU, XY))
    kinds = _by_kind(points)
    assert {kind: len(found) for kind, found in kinds.items()} == {
        "global": 4, "maximum": 1, "saddle": 4}
    known_minima = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                    (3.584428, -1.848126)]
    for known in known_minima:
        assert any(np.allclose(point["params"], known, atol=1e-5) for point in kinds["global"])
    for point in kinds["global"]:
        assert point["value"] == pytest.approx(0.0, abs=1e-20)
        assert point["gradient_norm"] < 1e-8
    np.testing.assert_allclose(kinds["maximum"][0]["params"], [-0.270845, -0.923039],
                               atol=1e-5)
    assert kinds["maximum"][0]["value"] == pytest.approx(181.616522, rel=1e-8)


def test_local_and_global_minima_and_maxima_in_one_variable():
    points = find_stationary_points(
        build_expression_objective("x**4 - 3*x**2 + x", ["x"]))
    kinds = _by_kind(points)
    assert {kind: len(found) for kind, found in kinds.items()} == {
        "global": 1, "local": 1, "maximum": 1}
    assert kinds["global"][0]["params"][0] < 0 < kinds["local"][0]["params"][0]
    assert kinds["global"][0]["value"] < kinds["local"][0]["value"]


def test_quadratic_minimum_is_solved_exactly():
    points = find_stationary_points(build_expression_objective("x**2 + x*y + 3*y**2 - y", XY))
    assert len(points) == 1
    expected = np.linalg.solve([[2.0, 1.0], [1.0, 6.0]], [0.0, 1.0])
    np.testing.assert_allclose(points[0]["params"], expected, rtol=1e-14)
    assert points[0]["kind"] == "global"


def test_points_outside_the_box_are_left_out():
    objective = build_expression_objective(HIMMELBLAU, XY)
    points = find_stationary_points(objective, [[0.0, 5.0], [0.0, 5.0]])
    assert all(0 <= p <= 5 for point in points for p in point["params"])
    kinds = _by_kind(points)
    assert len(kinds["global"]) == 1
    np.testing.assert_allclose(kinds["global"][0]["params"], [3.0, 2.0], atol=1e-12)


def test_no_stationary_point_gives_an_empty_list():
    assert find_stationary_points(build_expression_objective("x + y", XY)) == []
    assert find_stationary_points(build_expression_objective("exp(x)", ["x"])) == []


def test_search_is_deterministic_and_respects_its_time_budget():
    objective = build_expression_objective("sin(3*x)*cos(2*y) + 0.1*x**2", XY)
    assert find_stationary_points(objective, seed=3) == find_stationary_points(objective, seed=3)
    started = time.perf_counter()
    find_stationary_points(objective, time_budget_s=0.0)
    assert time.perf_counter() - started < 1.0


def test_max_points_caps_the_list_keeping_the_best():
    objective = build_expression_objective("sin(x) + 0*y", XY)  # a continuum in y
    points = find_stationary_points(objective, max_points=5)
    assert len(points) == 5


def test_nearest_stationary_point_of_an_expression():
    objective = build_expression_objective(HIMMELBLAU, XY)
    nearest, diverged, other = nearest_stationary_points(
        objective, np.array([[2.9, 2.1], [np.nan, 1.0], [-2.9, 3.2]]))
    assert nearest is not None
    assert nearest["kind"] == "global"
    np.testing.assert_allclose(nearest["params"], [3.0, 2.0], atol=1e-12)
    assert nearest["distance"] == pytest.approx(np.hypot(0.1, 0.1), rel=1e-9)
    assert set(nearest) == {"params", "value", "kind", "distance"}
    assert diverged is None  # a run that is not finite has no nearest point
    assert other is not None
    np.testing.assert_allclose(other["params"], [-2.805118, 3.131313], atol=1e-6)
    # found once, then cached
    assert stationary_points_of(objective) is stationary_points_of(objective)


def _objective_with(points: tuple[StationaryPoint, ...]) -> Objective:
    def kernel(x, consts, data, batch, loss_out, grad_out):
        loss_out[:] = np.sum(x**2, axis=1)
        grad_out[:] = 2 * x

    return Objective(name="sphere", dims=2, kernel=kernel, consts=np.zeros(0),
                     bounds=((-5.0, 5.0), (-5.0, 5.0)), stationary_points=points)


def test_catalogue_objectives_use_their_known_points():
    known = (StationaryPoint((0.0, 0.0), 0.0, "global"),)
    objective = _objective_with(known)
    assert stationary_points_of(objective) == known
    assert nearest_stationary_points(objective, np.array([[3.0, 4.0], [0.0, -1.0]])) == [
        {"params": [0.0, 0.0], "value": 0.0, "kind": "global", "distance": 5.0},
        {"params": [0.0, 0.0], "value": 0.0, "kind": "global", "distance": 1.0}]


def test_other_objectives_without_known_points_have_none():
    objective = _objective_with(())
    assert stationary_points_of(objective) == ()
    assert nearest_stationary_points(objective, np.array([[1.0, 1.0]])) == [None]
