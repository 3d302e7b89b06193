"""Lesson 9 (examples/09_newton.json, docs/tour.md §9, docs/images/09_newton.png): what its
picture shows, asserted on the engine's output — Newton lands on a quadratic's minimum in one
step, and converges to whatever stationary point its local quadratic model has, a saddle too."""

from __future__ import annotations

import numpy as np

from engine import RunResult
from tests.examples.test_lessons import by_prefix, figure, stationary_point

LESSON = "09_newton"


def hessian_kinds(result: RunResult) -> dict:
    report = result.final["hessian"]
    assert report is not None
    return report


def test_one_newton_step_lands_on_the_quadratics_minimum() -> None:
    runs = figure(LESSON, 0)
    newton, gd = by_prefix(runs, "newton"), by_prefix(runs, "gd")
    assert newton.stop_reason == "grad_tol" and newton.steps == 1
    assert np.abs(newton.final["params"] - [0.25, -0.25]).max() <= 1e-12
    assert hessian_kinds(newton)["positive_definite_steps"] == 1
    # the same start, gradient descent: a long way round
    assert gd.stop_reason == "grad_tol" and gd.steps > 100
    assert np.abs(gd.final["params"] - [0.25, -0.25]).max() <= 1e-9


def test_newton_is_drawn_to_the_saddle_where_gradient_descent_escapes() -> None:
    runs = figure(LESSON, 1)
    to_saddle = by_prefix(runs, "newton from (0.3")
    point = stationary_point(to_saddle)
    assert point["kind"] == "saddle" and point["params"] == [0.0, 0.0]
    assert to_saddle.stop_reason == "grad_tol" and point["distance"] < 1e-10
    assert to_saddle.steps <= 6
    report = hessian_kinds(to_saddle)
    assert report["indefinite_steps"] == to_saddle.steps  # ∂²f/∂x² = 3x² − 1 < 0 all the way
    assert report["first_not_positive_definite"] == 1

    for label in ("gd", "newton, damping 1", "newton from (0.8"):
        run = by_prefix(runs, label)
        assert run.stop_reason == "grad_tol", label
        assert stationary_point(run)["kind"] == "global", label
        assert np.abs(run.final["params"] - [1.0, 0.0]).max() < 1e-9, label
    assert hessian_kinds(by_prefix(runs, "newton, damping 1"))["indefinite_steps"] == 0
    assert hessian_kinds(by_prefix(runs, "newton from (0.8"))["indefinite_steps"] == 0
    # Newton's last steps square the error: a handful of steps where GD needs hundreds
    assert by_prefix(runs, "newton from (0.8").steps < by_prefix(runs, "gd").steps / 10
