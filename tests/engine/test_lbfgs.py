"""L-BFGS (docs/spec.md §4.1): the closure kernel against torch.optim.LBFGS step for step, with
torch's evaluation counts (tests/golden/data/lbfgs.json, from tests/golden/make_goldens.py), and
the hyperparameters' checks. Whole runs through ``run_spec`` are in tests/engine/test_goldens.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import resolve_spec, run_group, run_spec
from engine.errors import SpecError, SpecErrors
from engine.kernels import native, no_hessian
from engine.optimizers import hyper_row, resolve_optimizer
from engine.optimizers.lbfgs import init_state, lbfgs_step
from engine.sweep import prepare_sweep, run_sweep

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "data" / "lbfgs.json"
CASES = json.loads(GOLDEN.read_text())["cases"]


def _batches(spec: dict, n_samples: int, steps: int) -> list[np.ndarray]:
    """The batch of each step: consecutive slices in order (no shuffle), or every sample."""
    if spec.get("batching") != "minibatch":
        return [np.arange(n_samples, dtype=np.int64)] * steps
    size = spec["batch_size"]
    starts = range(0, n_samples, size)
    per_epoch = [np.arange(start, min(start + size, n_samples), dtype=np.int64)
                 for start in starts]
    return [per_epoch[k % len(per_epoch)] for k in range(steps)]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_closure_kernel_matches_torch_step_for_step(case):
    """Each kernel call is one LBFGS.step(closure): the point after every step agrees with
    torch's to 1e-9 (relative, floor 1e-12 of the trajectory's scale), and the evaluations the
    kernel adds to the loop's one per step sum to torch's state["func_evals"] at every step."""
    spec = case["spec"]
    defn, values = resolve_optimizer(spec["optimizer"])
    objective = resolve_spec({**spec, "optimizer": "sgd"}).objective
    torch_params = np.asarray(case["params"])
    steps = len(case["lr"])
    hyper = hyper_row(defn, values)[None, :]
    params = torch_params[:1].copy()
    state = init_state(hyper, 1, params.shape[1])
    evaluations = np.zeros(1, dtype=np.int64)
    scale = float(np.max(np.abs(torch_params)))
    for k, batch in enumerate(_batches(spec, objective.n_samples, steps)):
        loss, grads = objective.evaluate(params, batch)
        lbfgs_step(native(objective.kernel), native(no_hessian), objective.consts,
                   objective.data, batch, params, grads, loss, state, hyper, k + 1,
                   np.array([case["lr"][k]]), evaluations)
        error = np.abs(params[0] - torch_params[k + 1])
        assert np.all(error <= 1e-9 * np.abs(torch_params[k + 1]) + 1e-12 * scale), (
            f"step {k + 1}: {params[0]} vs torch {torch_params[k + 1]}")
        assert k + 1 + evaluations[0] == case["function_evaluations"][k + 1], f"step {k + 1}"


def test_goldens_cover_the_options_and_exits():
    """Both line-search settings on every objective kind, a history shorter than the run (the
    ring buffer wraps), several iterations per step, evaluation-limited and tolerance-limited
    steps, mini-batches and schedules."""
    ids = {case["id"] for case in CASES}
    for problem in ("rosenbrock", "himmelblau", "quadratic", "linear_regression",
                    "logistic_regression", "linear_regression_minibatch"):
        assert f"{problem}/strong-wolfe" in ids
    configs = [case["spec"]["optimizer"] for case in CASES]
    assert {config["line_search_fn"] for config in configs} == {None, "strong_wolfe"}
    assert any(config["history_size"] == 3 for config in configs)
    assert any(config["max_eval"] is not None for config in configs)
    assert any(config["tolerance_grad"] > 1e-7 for config in configs)
    # the ring buffer wrapped: more accepted pairs than history_size in some run
    wrapped = [case for case in CASES if case["spec"]["optimizer"]["history_size"] == 3
               and case["function_evaluations"][-1] > 3 * 4]
    assert wrapped
    assert {case["spec"]["schedule"]["name"] for case in CASES} >= {"constant", "step",
                                                                   "exponential"}


def test_hyperparameters_are_torchs_with_null_and_a_choice():
    defn, values = resolve_optimizer("lbfgs")
    assert defn.default_lr == 1.0 and defn.closure
    assert values == {"name": "lbfgs", "max_iter": 20, "max_eval": None, "tolerance_grad": 1e-7,
                      "tolerance_change": 1e-9, "history_size": 100, "line_search_fn": None}
    row = hyper_row(*resolve_optimizer({"name": "lbfgs", "line_search_fn": "strong_wolfe",
                                        "max_eval": 7}))
    assert row.tolist() == [20.0, 7.0, 1e-7, 1e-9, 100.0, 1.0]
    assert np.isnan(hyper_row(defn, values)[1]) and hyper_row(defn, values)[5] == 0.0


@pytest.mark.parametrize("config, field", [
    ({"line_search_fn": "armijo"}, "optimizer.line_search_fn"),
    ({"line_search_fn": 1}, "optimizer.line_search_fn"),
    ({"max_iter": 0}, "optimizer.max_iter"),
    ({"max_iter": 2.5}, "optimizer.max_iter"),
    ({"max_eval": 0}, "optimizer.max_eval"),
    ({"history_size": 0}, "optimizer.history_size"),
    ({"tolerance_grad": -1.0}, "optimizer.tolerance_grad"),
    ({"lr": 0.5}, "optimizer.lr"),
])
def test_bad_hyperparameters_name_their_field(config, field):
    with pytest.raises(SpecError) as error:
        resolve_optimizer({"name": "lbfgs", **config})
    assert error.value.field == field


# --------------------------------------------------------------------------- through the loop


def _case(case_id: str) -> dict:
    return next(case for case in CASES if case["id"] == case_id)


def test_every_optimizer_reports_its_function_evaluations():
    """One evaluation a step for a first-order optimizer; torch's count for lbfgs."""
    adam = run_spec({"function": "rosenbrock", "optimizer": "adam", "max_steps": 30})
    assert adam.final["function_evaluations"] == 30
    case = _case("rosenbrock/strong-wolfe")
    assert run_spec(case["spec"]).final["function_evaluations"] == case[
        "function_evaluations"][-1]


def test_a_group_of_runs_with_different_settings_is_each_its_own_run():
    """Runs of one loop may differ in history_size (the state holds the largest), line search
    and learning rate; each run equals its run alone, evaluations included."""
    specs = [_case(case_id)["spec"] for case_id in (
        "himmelblau/history3-iter5", "himmelblau/strong-wolfe", "himmelblau/default",
        "himmelblau/max-eval-wolfe")]
    steps = min(spec["max_steps"] for spec in specs)
    specs = [{**spec, "max_steps": steps} for spec in specs]
    together = run_group([resolve_spec(spec) for spec in specs])
    for spec, result in zip(specs, together, strict=True):
        alone = run_spec(spec)
        np.testing.assert_array_equal(result.trajectory["params"], alone.trajectory["params"])
        assert result.final["function_evaluations"] == alone.final["function_evaluations"]


def test_a_run_that_stops_first_keeps_its_own_count():
    """The loop goes on moving a stopped run's row; its count is taken at its stop."""
    spec = _case("rosenbrock/default")["spec"]
    early = {**spec, "learning_rate": 1e6}  # diverges within a few steps
    stopped, finished = run_group([resolve_spec(early), resolve_spec(spec)])
    alone = run_spec(early)
    assert stopped.stop_reason == alone.stop_reason == "diverged"
    assert stopped.final["function_evaluations"] == alone.final["function_evaluations"]
    assert finished.final["function_evaluations"] == run_spec(spec).final[
        "function_evaluations"]


def test_a_sweep_grids_over_the_line_search_and_the_history():
    body = {"base": {"function": "rosenbrock", "optimizer": "lbfgs", "max_steps": 15},
            "grid": {"optimizer.line_search_fn": [None, "strong_wolfe"],
                     "optimizer.history_size": [3, 10], "learning_rate": [0.01, 1.0]}}
    prepared = prepare_sweep(body)
    assert len(prepared.groups) == 1  # one loop for the eight runs
    results = run_sweep(prepared)
    for run, result in zip(prepared.runs, results, strict=True):
        assert result is not None
        alone = run_spec(run.spec)
        np.testing.assert_array_equal(result.final["params"], alone.final["params"])
        assert result.final["function_evaluations"] == alone.final["function_evaluations"]
    bad = {**body, "grid": {"optimizer.line_search_fn": ["wolfe"]}}
    with pytest.raises(SpecErrors) as error:
        prepare_sweep(bad)
    assert "line_search_fn" in str(error.value)
