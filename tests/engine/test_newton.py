"""Newton's method (engine/optimizers/newton.py): one step lands on a quadratic's minimum,
Newton is drawn to saddles, damping is (H + λI), singular and indefinite Hessians are
reported and never crash. The kernel is called as the loop calls it (CLOSURE.md)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import resolve_spec, run_spec
from engine.build import Limits
from engine.errors import SpecErrors
from engine.kernels import native
from engine.objectives.base import Objective
from engine.objectives.catalogue import build_catalogue_objective
from engine.objectives.expression import build_expression_objective
from engine.objectives.hessians import hessian_kernel
from engine.optimizers.newton import (
    STATE_SLOTS,
    _symmetric_eigen,
    hessian_report,
    newton_update,
)
from engine.sweep import run_sweep_locally

NO_BATCH = np.zeros(0, dtype=np.int64)
QUADRATIC = "3*x**2 + 2*x*y + y**2 - x"  # minimum at (1/4, −1/4)


def newton(objective: Objective, starts, steps: int = 1, damping: float | list = 0.0,
           lr: float = 1.0) -> tuple[np.ndarray, list[dict]]:
    """``steps`` Newton updates of every row of ``starts``; the points and each run's report."""
    x = np.array(starts, dtype=np.float64, ndmin=2)
    runs, dims = x.shape
    state = np.zeros((STATE_SLOTS, runs, dims))
    hyper = np.zeros((runs, 1))
    hyper[:, 0] = damping
    evaluations = np.zeros(runs, dtype=np.int64)
    kernel = native(hessian_kernel(objective))
    for step in range(1, steps + 1):
        loss, grad = objective.evaluate(x)
        newton_update(native(objective.kernel), kernel, objective.consts, objective.data,
                      NO_BATCH, x, grad, loss, state, hyper, step, np.full(runs, lr), evaluations)
    assert not evaluations.any()  # Newton evaluates nothing beyond the loop's own call
    return x, [hessian_report(state[:, r], steps) for r in range(runs)]


@pytest.mark.parametrize("objective", [
    build_expression_objective(QUADRATIC, ["x", "y"]),
    build_catalogue_objective("booth"),
    build_catalogue_objective("quadratic", {"dims": 20, "condition": 100.0, "rotation_seed": 1}),
], ids=["formula", "booth", "quadratic-20d"])
def test_one_step_lands_on_a_quadratics_minimum(objective: Objective) -> None:
    starts = np.random.default_rng(0).uniform(-50.0, 50.0, (5, objective.dims))
    x, reports = newton(objective, starts)
    minimum = objective.stationary_points[0].params if objective.stationary_points else (0.25,
                                                                                         -0.25)
    assert np.abs(x - minimum).max() <= 1e-12
    assert all(report["last"] == "positive_definite" and report["indefinite_steps"] == 0
               for report in reports)


def test_the_step_of_an_indefinite_hessian_lands_on_the_saddle() -> None:
    x, reports = newton(build_catalogue_objective("saddle"), [[1.5, 0.01], [-0.3, 2.0]])
    assert np.array_equal(x, np.zeros((2, 2)))
    assert reports[0] == {"positive_definite_steps": 0, "indefinite_steps": 1, "singular_steps": 0,
                          "first_not_positive_definite": 1, "last": "indefinite"}


@pytest.mark.parametrize("saddle", [(3.385154183607, 0.073851879838),
                                    (-0.127961346731, -1.953714980245)])
def test_newton_is_drawn_to_himmelblaus_saddles_from_nearby_starts(saddle) -> None:
    himmelblau = build_catalogue_objective("himmelblau")
    exact = next(point for point in himmelblau.stationary_points
                 if np.allclose(point.params, saddle, atol=1e-9))
    assert exact.kind == "saddle"
    offsets = np.random.default_rng(1).uniform(-0.3, 0.3, (8, 2))
    x, reports = newton(himmelblau, np.array(exact.params) + offsets, steps=8)
    assert np.allclose(x, exact.params, rtol=0, atol=1e-12)
    assert all(report["indefinite_steps"] >= 1 for report in reports)


def test_an_indefinite_system_in_four_dimensions_is_solved_exactly() -> None:
    # the eigen-decomposition path: H has eigenvalues of both signs and no zero
    objective = build_expression_objective(
        "x**2 - y**2 + 3*x*z - z**2 + w*y + 2*w**2 - x + 5*z", ["w", "x", "y", "z"])
    start = np.array([[1.0, -2.0, 0.5, 3.0]])
    x, reports = newton(objective, start)
    assert np.abs(objective.gradient(x)).max() <= 1e-13
    assert objective.hessian is not None
    h = objective.hessian(start)[0]
    assert np.allclose(x, start - np.linalg.solve(h, objective.gradient(start)[0]), atol=1e-14)
    assert reports[0]["last"] == "indefinite"


def test_damping_solves_h_plus_lambda_i() -> None:
    objective = build_expression_objective(QUADRATIC, ["x", "y"])
    start = np.array([[3.0, -2.0]])
    assert objective.hessian is not None
    h, g = objective.hessian(start)[0], objective.gradient(start)[0]
    for damping in (0.5, 10.0):
        x, _ = newton(objective, start, damping=damping, lr=0.7)
        expected = start[0] - 0.7 * np.linalg.solve(h + damping * np.eye(2), g)
        assert np.allclose(x[0], expected, rtol=1e-14, atol=0)
    # a large damping is gradient descent with learning rate lr/λ
    x, _ = newton(objective, start, damping=1e8)
    assert np.allclose(x[0], start[0] - g / 1e8, rtol=1e-7, atol=0)


def test_damping_past_the_negative_eigenvalue_turns_the_saddle_into_a_descent() -> None:
    saddle = build_catalogue_objective("saddle")  # H = diag(2, −2)
    x, reports = newton(saddle, [[1.0, 0.1]], damping=3.0)  # H + 3I = diag(5, 1)
    assert np.allclose(x, [[1.0 - 2.0 / 5.0, 0.1 + 0.2]], rtol=1e-15)  # away from the saddle
    assert reports[0]["last"] == "positive_definite"


def test_runs_with_different_damping_step_apart_as_alone() -> None:
    objective = build_catalogue_objective("himmelblau")
    starts = [[0.5, 0.5], [-1.0, 2.0], [3.0, -1.0]]
    together, _ = newton(objective, starts, steps=3, damping=[0.0, 1.0, 20.0])
    for row, damping in enumerate((0.0, 1.0, 20.0)):
        alone, _ = newton(objective, [starts[row]], steps=3, damping=damping)
        assert np.array_equal(together[row], alone[0])


def test_a_zero_hessian_is_singular_and_takes_no_step() -> None:
    x, reports = newton(build_catalogue_objective("monkey_saddle"), [[0.0, 0.0]], steps=3)
    assert np.array_equal(x, [[0.0, 0.0]])
    assert reports[0] == {"positive_definite_steps": 0, "indefinite_steps": 0, "singular_steps": 3,
                          "first_not_positive_definite": 1, "last": "singular"}


def test_a_singular_hessian_steps_only_where_it_has_curvature() -> None:
    # y does not appear: H = diag(2, 0); the least-norm step leaves y alone
    objective = build_expression_objective("(x - 1)**2 + 0*y", ["x", "y"])
    x, reports = newton(objective, [[4.0, 7.0]])
    assert np.array_equal(x, [[1.0, 7.0]])
    assert reports[0]["singular_steps"] == 1


def test_a_non_finite_hessian_gives_a_non_finite_step_without_raising() -> None:
    objective = build_expression_objective("x**2 + sqrt(y)", ["x", "y"])
    x, reports = newton(objective, [[1.0, 0.0]])  # ∂²/∂y² sqrt(y) = −∞ at 0
    assert not np.isfinite(x).all()
    assert reports[0] == {"positive_definite_steps": 0, "indefinite_steps": 0, "singular_steps": 0,
                          "first_not_positive_definite": None, "last": None}


def test_the_report_before_any_step() -> None:
    report = hessian_report(np.zeros((STATE_SLOTS, 2)), 0)
    assert report["last"] is None and report["positive_definite_steps"] == 0


# --- through run_spec and sweeps ---------------------------------------------------------------
def test_run_spec_lands_on_booth_in_one_step_and_reports_every_steps_kind() -> None:
    result = run_spec({"function": "booth", "optimizer": "newton", "init": [-7, 9],
                       "max_steps": 10, "grad_tol": 1e-12})
    assert result.stop_reason == "grad_tol" and result.steps == 1
    assert np.abs(result.final["params"] - [1.0, 3.0]).max() <= 1e-12
    assert result.final["function_evaluations"] == 1
    assert result.final["hessian"]["positive_definite_steps"] == 1
    assert result.spec["learning_rate"] == 1.0 and result.spec["optimizer"]["damping"] == 0.0


def test_run_spec_is_drawn_to_the_saddle_where_gd_escapes() -> None:
    base = {"function": "himmelblau", "init": [3.2, 0.3], "max_steps": 500, "grad_tol": 1e-10}
    newton_run = run_spec({**base, "optimizer": "newton"})
    gd_run = run_spec({**base, "optimizer": "gd", "learning_rate": 0.01})
    assert newton_run.nearest_stationary_point is not None
    assert newton_run.nearest_stationary_point["kind"] == "saddle"
    assert newton_run.steps < 10 and newton_run.final["hessian"]["indefinite_steps"] >= 1
    assert gd_run.nearest_stationary_point is not None
    assert gd_run.nearest_stationary_point["kind"] == "global"


def test_one_full_batch_step_solves_least_squares() -> None:
    spec = {"function": "linear_regression",
            "data": {"generator": "linear", "n_samples": 50, "n_features": 3, "noise": 0.3},
            "optimizer": "newton", "batching": "full", "max_steps": 1}
    result = run_spec(spec)
    objective = resolve_spec(spec).objective
    (least_squares,) = objective.stationary_points
    assert np.abs(result.final["params"] - least_squares.params).max() <= 1e-12


def test_logistic_regression_converges_in_a_few_steps() -> None:
    spec = {"function": "logistic_regression",
            "data": {"generator": "logistic", "n_samples": 200, "n_features": 2, "noise": 1.0},
            "optimizer": "newton", "batching": "full", "max_steps": 50, "grad_tol": 1e-12}
    result = run_spec(spec)
    assert result.stop_reason == "grad_tol" and result.steps <= 10
    assert result.final["hessian"]["positive_definite_steps"] == result.steps


def test_a_mini_batch_step_uses_the_batchs_hessian() -> None:
    spec = {"function": "linear_regression",
            "data": {"generator": "linear", "n_samples": 40, "n_features": 2, "noise": 0.3},
            "optimizer": "newton", "batching": "minibatch", "batch_size": 10, "shuffle": False,
            "max_steps": 1}
    run = resolve_spec(spec)
    objective = run.objective
    first = np.arange(10, dtype=np.int64)
    _, grad = objective.evaluate(run.init[None, :], first)
    design = np.column_stack([objective.data[:10, :2], np.ones(10)])
    expected = run.init - np.linalg.solve(2.0 / 10 * design.T @ design, grad[0])
    assert np.allclose(run_spec(spec).final["params"], expected, rtol=1e-12, atol=1e-12)


def test_a_sweep_over_damping_matches_the_runs_alone() -> None:
    base = {"function": "rosenbrock", "optimizer": "newton", "max_steps": 30}
    dampings = [0.0, 0.5, 5.0]
    result = run_sweep_locally({"base": base, "grid": {"optimizer.damping": dampings}})
    for run, damping in zip(result["runs"], dampings):
        alone = run_spec({**base, "optimizer": {"name": "newton", "damping": damping}})
        assert np.array_equal(run["final"]["params"], alone.final["params"])
        assert run["final"]["hessian"] == alone.final["hessian"]


@pytest.mark.parametrize(("function", "data"), [
    ("softmax_regression", {"generator": "blobs", "n_samples": 30}),
    ("mlp", {"generator": "moons", "n_samples": 30}),
])
def test_newton_without_an_exact_hessian_is_refused_naming_optimizer(function: str,
                                                                     data: dict) -> None:
    with pytest.raises(SpecErrors) as raised:
        resolve_spec({"function": function, "data": data, "optimizer": "newton"})
    (error,) = raised.value.errors
    assert error.field == "optimizer" and f"which {function} does not have" in error.message


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 40, 120])
def test_the_eigen_decomposition_of_the_indefinite_path_is_exact(size: int) -> None:
    rng = np.random.default_rng(size)
    rotation, _ = np.linalg.qr(rng.standard_normal((size, size)))
    repeated = (rotation * rng.choice([-1.0, 0.0, 2.0], size)) @ rotation.T  # repeated and zero
    random = rng.standard_normal((size, size))
    for matrix in ((random + random.T) / 2, np.diag(rng.standard_normal(size)),
                   np.zeros((size, size)), (repeated + repeated.T) / 2):
        vectors, values, off = np.empty((size, size)), np.empty(size), np.empty(size)
        _symmetric_eigen(matrix.copy(), vectors, values, off)
        scale = 1.0 + np.abs(matrix).max()
        assert np.abs(np.sort(values) - np.linalg.eigvalsh(matrix)).max() <= 1e-13 * scale
        assert np.abs(vectors @ vectors.T - np.eye(size)).max() <= 1e-13
        assert np.abs((vectors.T * values) @ vectors - matrix).max() <= 1e-13 * scale


def test_newtons_hessian_counts_in_the_job_budget_and_is_blamed_on_the_optimizer() -> None:
    spec = {"function": "sphere", "function_params": {"dims": 1000}, "optimizer": "newton",
            "max_steps": 3}
    assert resolve_spec(spec).cost.optimizer_state == (STATE_SLOTS * 1000 + 1000**2) * 8
    with pytest.raises(SpecErrors) as refused:  # 8 MB of Hessian over a 4 MiB budget
        resolve_spec(spec, limits=Limits(job_record_bytes=4 << 20))
    (entry,) = refused.value.to_detail()
    assert entry["loc"] == ["optimizer"] and "optimizer's state" in entry["msg"]
