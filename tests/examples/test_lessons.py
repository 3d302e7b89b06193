"""The lessons of gradient descent (examples/, docs/tour.md), each proven on real engine output.

Every lesson file in examples/ is run here through the engine, and the claim its tour section
makes is asserted with numbers: if an engine change breaks a lesson, this says which claim.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli.plot import lesson_specs
from engine import RunResult, resolve_spec, run_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@cache
def lesson(name: str) -> dict[str, dict[str, RunResult]]:
    """Run every spec of ``examples/<name>.json``: figure title -> run label -> result."""
    document = json.loads((EXAMPLES / f"{name}.json").read_text())
    return {
        title: {label: run_spec(spec) for label, spec in runs}
        for title, runs in lesson_specs(document)
    }


def figure(name: str, index: int = 0) -> dict[str, RunResult]:
    return list(lesson(name).values())[index]


def stationary_point(result: RunResult) -> dict[str, Any]:
    """The stationary point nearest where the run ended (every lesson's function has some)."""
    assert result.nearest_stationary_point is not None
    return result.nearest_stationary_point


def by_prefix(runs: dict[str, RunResult], prefix: str) -> RunResult:
    (match,) = [result for label, result in runs.items() if label.startswith(prefix)]
    return match


# --- 1. learning rate ----------------------------------------------------------------------------
def test_learning_rate_on_a_bowl_too_small_good_oscillating_diverging() -> None:
    runs = figure("01_learning_rate", 0)
    curvature = 10.0  # quadratic condition 10: eigenvalues 1 and 10, stability limit 2/10
    too_small, good, near, above = (
        by_prefix(runs, f"lr {lr} ") for lr in ("0.001", "0.1", "0.19", "0.21")
    )
    assert near.spec["learning_rate"] < 2 / curvature < above.spec["learning_rate"]

    assert too_small.stop_reason == "max_steps" and too_small.final["loss"] > 1.0  # still crawling
    assert good.final["loss"] < 1e-6
    assert near.final["loss"] < 1e-6
    # near the limit the steep coordinate jumps across the valley floor at every step
    steep = near.trajectory["params"][:100, 1]
    assert np.all(np.sign(steep[1:]) == -np.sign(steep[:-1]))
    assert np.all(np.abs(steep[1:]) < np.abs(steep[:-1]))  # ... while shrinking
    # above the limit: a result that says so, not an error
    assert above.stop_reason == "diverged"
    assert above.steps < above.spec["max_steps"]
    assert not math.isfinite(above.final["loss"]) or abs(above.final["loss"]) > 1e30


def test_learning_rate_on_a_curved_valley() -> None:
    runs = figure("01_learning_rate", 1)
    too_small, good, near, above = (
        by_prefix(runs, f"lr {lr} ") for lr in ("0.0001", "0.0015", "0.0019", "0.0021")
    )
    rosenbrock = resolve_spec({"function": "rosenbrock"}).objective
    assert rosenbrock.hessian is not None
    hessian = rosenbrock.hessian(np.ones((1, 2)))[0]
    limit = 2 / np.linalg.eigvalsh(hessian).max()  # ≈ 0.001997 at the minimum (1, 1)
    assert near.spec["learning_rate"] < limit < above.spec["learning_rate"]
    assert too_small.final["loss"] > 0.1
    assert good.final["loss"] < 1e-6 and near.final["loss"] < 1e-6
    assert above.stop_reason == "diverged"


# --- 2. batch vs stochastic vs mini-batch ---------------------------------------------------------
def test_batching_same_epochs_different_numbers_of_updates() -> None:
    runs = figure("02_batching")
    full, mini, single = (by_prefix(runs, p) for p in ("full", "mini", "stochastic"))
    n, batch = 200, mini.spec["batch_size"]
    assert [r.epochs for r in (full, mini, single)] == [3, 3, 3]
    assert [r.steps for r in (full, mini, single)] == [3, 3 * n // batch, 3 * n]
    assert all(r.stop_reason == "max_epochs" for r in (full, mini, single))
    assert all(r.epoch_loss is not None and len(r.epoch_loss) == 3 for r in (full, mini, single))


def test_batching_minibatch_faster_than_batch_and_steadier_than_stochastic() -> None:
    runs = figure("02_batching")
    full, mini, single = (by_prefix(runs, p) for p in ("full", "mini", "stochastic"))
    # per epoch, more (noisier) updates win by far
    assert full.final["loss"] >= 5 * mini.final["loss"]
    assert full.final["loss"] >= 5 * single.final["loss"]
    # full batch decreases the loss at every update
    assert np.all(np.diff(full.trajectory["loss"]) < 0)

    # stochastic is noisier: over its last epoch the loss jumps up and down far more
    def jitter(result: RunResult, updates: int) -> float:
        return float(np.std(np.diff(result.trajectory["loss"][-updates - 1 :])))

    assert jitter(single, 200) > 5 * jitter(mini, 10)
    assert np.sum(np.diff(single.trajectory["loss"]) > 0) > 100  # many uphill steps


# --- 3. many parameters ---------------------------------------------------------------------------
def test_four_parameter_linear_regression_converges() -> None:
    runs = figure("03_many_parameters")
    fast_full = by_prefix(runs, "full batch, lr 0.2")
    objective = resolve_spec(fast_full.spec).objective
    X, y = objective.data[:, :-1], objective.data[:, -1]
    solution = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    best = float(np.mean((X @ solution[:-1] + solution[-1] - y) ** 2))

    assert len(fast_full.final["params"]) == 4
    assert np.allclose(fast_full.final["params"], solution, atol=1e-6)
    assert stationary_point(fast_full)["kind"] == "global"
    mini = by_prefix(runs, "mini-batch")
    assert mini.final["loss"] < 1.01 * best
    for result in runs.values():
        assert result.final["loss"] < result.trajectory["loss"][0] / 5


# --- 4. analytic vs numerical ---------------------------------------------------------------------
def test_analytic_stationary_points_include_where_descent_ends() -> None:
    from engine.analysis import find_stationary_points

    runs = figure("04_analytic_vs_numerical")
    objective = resolve_spec(next(iter(runs.values())).spec).objective
    analytic = find_stationary_points(objective, objective.bounds)
    counts = {kind: sum(p["classification"] == kind for p in analytic)
              for kind in ("minimum", "saddle", "maximum")}
    assert counts == {"minimum": 4, "saddle": 4, "maximum": 1}

    kinds = []
    for result in runs.values():
        final = result.final["params"]
        distances = [np.linalg.norm(final - np.asarray(p["params"])) for p in analytic]
        nearest = analytic[int(np.argmin(distances))]
        assert min(distances) < 1e-8
        assert nearest["classification"] == "minimum"
        assert stationary_point(result)["kind"] == nearest["kind"]
        kinds.append(nearest["kind"])
    assert sorted(kinds) == ["global", "local", "local"]


# --- 5. local vs global ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("index", "expected_kinds"),
    [(0, ["global", "local", "local", "local"]), (1, ["global"] * 4)],
    ids=["styblinski_tang", "himmelblau"],
)
def test_the_start_decides_which_minimum(index: int, expected_kinds: list[str]) -> None:
    runs = list(figure("05_local_vs_global", index).values())
    points = [stationary_point(run) for run in runs]
    assert [p["kind"] for p in points] == expected_kinds
    assert all(p["distance"] < 1e-6 for p in points)
    assert len({tuple(np.round(p["params"], 6)) for p in points}) == 4  # four different minima


# --- 6. saddle points -----------------------------------------------------------------------------
def test_saddle_stalls_on_its_attracting_direction_and_a_perturbation_escapes() -> None:
    runs = figure("06_saddle")
    exact, perturbed, noisy = (
        by_prefix(runs, p) for p in ("start (0, 2):", "start (1e-6", "start (0, 2), gradient")
    )
    assert exact.stop_reason == "grad_tol"  # the gradient vanished ...
    assert stationary_point(exact)["kind"] == "saddle"  # ... but at no minimum
    assert stationary_point(exact)["distance"] < 1e-6
    assert exact.final["loss"] == pytest.approx(0.0, abs=1e-12)

    for escaped in (perturbed, noisy):
        assert stationary_point(escaped)["kind"] == "global"
        assert escaped.final["loss"] < -0.25 + 1e-4
    # the perturbed run lingers near the saddle (the loss plateau) before escaping
    assert np.sum(np.abs(perturbed.trajectory["loss"]) < 1e-3) >= 50
    assert perturbed.final["params"][0] == pytest.approx(1.0, abs=1e-6)
    assert noisy.final["params"][0] == pytest.approx(-1.0, abs=1e-2)  # the other minimum


# --- 7. momentum ----------------------------------------------------------------------------------
def test_momentum_carries_over_a_barrier_into_the_lower_minimum() -> None:
    runs = figure("07_momentum", 0)
    plain, heavy = by_prefix(runs, "plain"), by_prefix(runs, "momentum")
    assert stationary_point(plain)["kind"] == "local"
    assert plain.final["params"][0] < 0  # stopped in the first minimum it met
    assert stationary_point(heavy)["kind"] == "global"
    assert heavy.final["params"][0] > 0  # crossed the barrier
    assert heavy.final["loss"] < plain.final["loss"] - 0.4


def test_momentum_crosses_a_narrow_valley_many_times_faster() -> None:
    runs = figure("07_momentum", 1)
    plain, heavy = by_prefix(runs, "plain"), by_prefix(runs, "momentum")
    assert plain.spec["learning_rate"] == heavy.spec["learning_rate"]
    assert plain.stop_reason == heavy.stop_reason == "target_loss"
    assert plain.steps >= 5 * heavy.steps


# --- every example is proven ----------------------------------------------------------------------
TESTED = {
    "01_learning_rate", "02_batching", "03_many_parameters", "04_analytic_vs_numerical",
    "05_local_vs_global", "06_saddle", "07_momentum",
    "08_moons",  # its claims: tests/examples/test_moons.py
    "09_newton",  # its claims: tests/examples/test_newton_lesson.py
}


def test_every_example_file_is_a_tested_lesson() -> None:
    names = {path.stem for path in EXAMPLES.glob("*.json")}
    assert names == TESTED
    for name in sorted(names):
        document = json.loads((EXAMPLES / f"{name}.json").read_text())
        assert document["lesson"] and document["claim"]
        assert all(runs for _, runs in lesson_specs(document))


def test_the_learning_rate_curve_crawls_converges_and_diverges() -> None:
    """examples/sweeps/learning_rate.json (docs/tour.md, lesson 1 in one curve): each
    optimizer's best rate lies strictly inside the range; GD and momentum diverge at every rate
    above theirs; the smallest rate crawls (the loss barely moves); Adam never diverges but
    ends worse again above its best (it oscillates)."""
    from engine.sweep import run_sweep_locally

    body = json.loads((EXAMPLES / "sweeps" / "learning_rate.json").read_text())
    rates = body["grid"]["learning_rate"]
    result = run_sweep_locally(body)
    best = {entry["key"]["optimizer"]: entry for entry in result["best"]}
    runs = result["runs"]

    def group(name: str) -> list[dict]:
        return [run for run in runs if run["overrides"]["optimizer"] == name]

    for name in ("gd", "momentum", "adam"):
        assert rates[0] < best[name]["learning_rate"] < rates[-1], best[name]
        crawl = group(name)[0]
        assert crawl["final"]["loss"] > 0.5 * 4.0  # 1e-5: still near the start's loss (24.2)
    for name in ("gd", "momentum"):
        above = [run for run in group(name)
                 if run["overrides"]["learning_rate"] > best[name]["learning_rate"]]
        assert above and all(run["stop_reason"] == "diverged" for run in above)
    adam = group("adam")
    assert not any(run["stop_reason"] == "diverged" for run in adam)
    assert adam[-1]["final"]["loss"] > 1e3 * best["adam"]["final_loss"]


def test_the_learning_rate_picture_names_its_regions_in_order() -> None:
    """docs/images/sweep_learning_rate.png's strip (cli/plot_sweep.py, computed from the result):
    along the rate axis each optimizer crawls, then converges around its best rate, then
    oscillates (Adam) or diverges (GD, momentum); the four regions are all named."""
    from cli.plot_sweep import REGIONS, sweep_curves
    from engine import dumps, loads
    from engine.sweep import run_sweep_locally

    body = json.loads((EXAMPLES / "sweeps" / "learning_rate.json").read_text())
    result = loads(dumps(run_sweep_locally(body)))
    best = {entry["key"]["optimizer"]: entry["learning_rate"] for entry in result["best"]}
    named: set[str] = set()
    for curve in sweep_curves(result, "learning_rate"):
        names = [region.name for region in curve.regions]
        assert names == sorted(set(names), key=REGIONS.index), (curve.label, names)
        for before, after in zip(curve.regions, curve.regions[1:]):
            assert before.first <= before.last < after.first
        converge = next(region for region in curve.regions if region.name == "converge")
        assert converge.first <= best[curve.label.split("=")[1]] <= converge.last
        named.update(names)
    assert named == set(REGIONS)
    by_label = {curve.label: [region.name for region in curve.regions]
                for curve in sweep_curves(result, "learning_rate")}
    assert by_label["optimizer=gd"] == by_label["optimizer=momentum"] == [
        "crawl", "converge", "diverge"]
    assert by_label["optimizer=adam"] == ["crawl", "converge", "oscillate"]
