"""engine.sweep: expansion order, overrides, validation naming the grid value or run, the cap,
grouping into shared loops, and results equal to the same specs run alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine
from engine.sweep import (
    SweepProgress,
    comparison_table,
    count_runs,
    expand_sweep,
    prepare_sweep,
    run_sweep_locally,
    split_groups,
)

BASE = {"function": "rosenbrock", "optimizer": "adam", "max_steps": 200}


def test_the_grid_is_a_product_in_key_order_last_key_fastest_then_the_overrides() -> None:
    body = {"base": BASE, "grid": {"learning_rate": [0.1, 0.01], "seed": [1, 2, 3]},
            "overrides": [{"optimizer": "sgd", "learning_rate": 0.001}]}
    runs = expand_sweep(body)
    assert [run.overrides for run in runs] == [
        {"learning_rate": 0.1, "seed": 1}, {"learning_rate": 0.1, "seed": 2},
        {"learning_rate": 0.1, "seed": 3}, {"learning_rate": 0.01, "seed": 1},
        {"learning_rate": 0.01, "seed": 2}, {"learning_rate": 0.01, "seed": 3},
        {"optimizer": "sgd", "learning_rate": 0.001},
    ]
    assert runs[6].spec["optimizer"] == "sgd" and runs[0].spec["max_steps"] == 200
    assert BASE == {"function": "rosenbrock", "optimizer": "adam", "max_steps": 200}


@pytest.mark.parametrize(("body", "count"), [
    ({"base": BASE}, 1),
    ({"base": BASE, "overrides": [{"seed": 1}, {"seed": 2}]}, 2),
    ({"base": BASE, "grid": {"learning_rate": [1, 2], "seed": [1, 2, 3]}, "overrides": [{}]}, 7),
])
def test_run_counts(body: dict, count: int) -> None:
    assert count_runs(body) == count == len(expand_sweep(body))


def test_optimizer_hyperparameters_in_the_grid_apply_to_each_optimizer() -> None:
    body = {"base": {**BASE, "optimizer": "sgd"},
            "grid": {"optimizer.momentum": [0, 0.9], "optimizer": ["sgd", {"name": "rmsprop"}]}}
    specs = [run.spec["optimizer"] for run in expand_sweep(body)]
    assert specs == [{"name": "sgd", "momentum": 0}, {"name": "rmsprop", "momentum": 0},
                     {"name": "sgd", "momentum": 0.9}, {"name": "rmsprop", "momentum": 0.9}]


@pytest.mark.parametrize(("body", "fields"), [
    ({"base": BASE, "grid": {"learning_rate": [0.1, -1, 0.2]}}, ["grid.learning_rate[1]"]),
    ({"base": BASE, "grid": {"optimizer.betas": [[0.9, 0.99], [2, 0.9]]}},
     ["grid.optimizer.betas[1]"]),
    ({"base": {**BASE, "max_steps": 0}, "grid": {"learning_rate": [0.1, 0.2]}},
     ["base.max_steps"]),
    ({"base": BASE, "overrides": [{"seed": 1}, {"init": [1, 2, 3]}]}, ["runs[1].init"]),
    ({"base": BASE, "grid": {"no_such_field": [1]}}, ["grid.no_such_field"]),
    ({"base": BASE, "grid": {"learning_rate": []}}, ["grid.learning_rate"]),
    ({"base": BASE, "extra": 1}, ["extra"]),
    ({"grid": {}}, ["base"]),
])
def test_every_bad_run_is_named_before_anything_runs(body: dict, fields: list[str]) -> None:
    with pytest.raises(engine.SpecErrors) as raised:
        prepare_sweep(body)
    assert [error.field for error in raised.value.errors] == fields


def test_a_sweep_over_the_cap_is_refused_with_its_count() -> None:
    body = {"base": BASE, "grid": {"learning_rate": [0.1] * 101, "seed": list(range(100))}}
    with pytest.raises(engine.SpecErrors, match="10100 runs, over this server's cap of 10000"):
        prepare_sweep(body)
    with pytest.raises(engine.SpecErrors, match="3 runs, over this server's cap of 2"):
        prepare_sweep({"base": BASE, "grid": {"seed": [1, 2, 3]}}, max_runs=2)


def test_runs_sharing_function_and_optimizer_family_share_one_loop() -> None:
    body = {"base": BASE, "grid": {"optimizer": ["adam", "sgd"], "learning_rate": [1e-3, 1e-2]},
            "overrides": [{"function": "himmelblau"}]}
    prepared = prepare_sweep(body)
    assert prepared.groups == [[0, 1], [2, 3], [4]]
    assert prepared.runs[0].objective is prepared.runs[3].objective
    assert split_groups([list(range(100))], pieces=2, min_runs=10) == [
        list(range(50)), list(range(50, 100))]
    assert split_groups([list(range(10))], pieces=4, min_runs=10) == [list(range(10))]


def _plain(value: Any) -> Any:
    return engine.loads(engine.dumps(value))


@pytest.mark.parametrize("base", [
    BASE,
    {"function": "himmelblau", "optimizer": "sgd", "max_steps": 150, "gradient_noise": 0.3},
    {"function": "linear_regression", "data": {"generator": "linear", "n_samples": 60, "seed": 1},
     "optimizer": "momentum", "batching": "minibatch", "batch_size": 8, "max_epochs": 3},
    # onecycle's max_lr defaults to each run's own learning rate (they once all took the first's)
    {"function": "rosenbrock", "optimizer": "momentum", "max_steps": 60,
     "schedule": {"name": "onecycle"}},
])
def test_a_run_in_a_sweep_equals_the_same_spec_run_alone(base: dict) -> None:
    body = {"base": base, "grid": {"learning_rate": [1e-3, 3e-2, 0.1], "seed": [0, 7]}}
    result = run_sweep_locally(body, trajectories=True)
    for run, entry in zip(expand_sweep(body), result["runs"]):
        alone = engine.run_spec(run.spec)
        assert entry["stop_reason"] == alone.stop_reason and entry["steps"] == alone.steps
        np.testing.assert_allclose(entry["final"]["params"], alone.final["params"], rtol=1e-12)
        for column in ("loss", "lr"):
            np.testing.assert_allclose(entry["trajectory"][column], alone.trajectory[column],
                                       rtol=1e-12)
        assert _plain(entry["nearest_stationary_point"]) == _plain(alone.nearest_stationary_point)


def test_onecycle_runs_differing_in_learning_rate_share_a_loop_each_at_its_own_peak() -> None:
    base = {"function": "rosenbrock", "optimizer": "momentum", "max_steps": 60,
            "schedule": {"name": "onecycle"}}
    body = {"base": base, "grid": {"learning_rate": [1e-4, 1e-3]}}
    assert prepare_sweep(body).groups == [[0, 1]]
    runs = run_sweep_locally(body, trajectories=True)["runs"]
    np.testing.assert_allclose([max(run["trajectory"]["lr"]) for run in runs], [1e-4, 1e-3],
                               rtol=1e-12)


def test_the_table_puts_the_best_loss_first_diverged_after_and_steps_to_target() -> None:
    body = {"base": {"function": "sphere", "optimizer": "sgd", "max_steps": 100,
                     "target_loss": 1e-6},
            "grid": {"learning_rate": [0.01, 0.4, 1.5, 0.1]}}
    result = run_sweep_locally(body)
    by_index = {entry["index"]: entry for entry in result["runs"]}
    assert by_index[2]["stop_reason"] == "diverged" and result["table"][-1] == 2
    assert result["table"][0] == 1 and by_index[1]["steps_to_target"] == by_index[1]["steps"]
    assert by_index[0]["steps_to_target"] is None  # too small a step: never got there
    assert result["summary"]["best"]["index"] == 1
    assert comparison_table([{"index": 0, "final": None, "stop_reason": "cancelled"},
                             {"index": 1, "final": {"loss": 2.0}, "stop_reason": "max_steps"}]) \
        == [1, 0]


def test_the_callback_sees_runs_done_and_can_cancel() -> None:
    seen: list[tuple[int, int]] = []

    def cancel_at_once(progress: SweepProgress) -> bool:
        seen.append((progress.runs_done, progress.runs_total))
        return False

    body = {"base": {**BASE, "max_steps": 2000}, "grid": {"optimizer": ["adam", "sgd", "rmsprop"]}}
    result = run_sweep_locally(body, cancel_at_once)
    assert seen[0][1] == 3
    assert [entry["stop_reason"] for entry in result["runs"]] == ["cancelled"] * 3
    assert result["runs"][1]["final"] is None  # never ran


def test_a_group_of_only_diverged_runs_has_no_best() -> None:
    from engine.sweep import best_per_group

    def run(index: int, optimizer: str, rate: float, loss: float | None, reason: str) -> dict:
        final = None if loss is None else {"loss": loss, "params": [0.0], "grad_norm": 0.0}
        return {"index": index, "overrides": {"optimizer": optimizer, "learning_rate": rate},
                "stop_reason": reason, "final": final}

    entries = [run(0, "sgd", 0.1, float("inf"), "diverged"), run(1, "sgd", 1.0, 5.0, "diverged"),
               run(2, "adam", 0.1, 3.0, "max_steps"), run(3, "adam", 0.01, 1.0, "max_steps")]
    assert best_per_group(entries, ["optimizer"], {}) == [
        {"key": {"optimizer": "sgd"}, "run": None, "learning_rate": None, "final_loss": None},
        {"key": {"optimizer": "adam"}, "run": 3, "learning_rate": 0.01, "final_loss": 1.0}]
