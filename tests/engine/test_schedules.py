"""Learning-rate schedules against torch.optim.lr_scheduler (goldens from make_goldens.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import run_spec
from engine.budgets import run_cost
from engine.errors import SpecError, SpecErrors
from engine.schedules import (
    SCHEDULES,
    check_schedule_for_optimizer,
    describe_schedules,
    learning_rate_table,
    momentum_table,
    plateau_initial_state,
    plateau_settings,
    plateau_step,
    resolve_schedule,
)
from engine.sweep import run_sweep_locally

GOLDEN = json.loads(
    (Path(__file__).parents[1] / "golden" / "data" / "schedules.json").read_text())
CASES = GOLDEN["cases"]
TABLE_CASES = [case for case in CASES if case["spec"]["schedule"]["name"] != "plateau"]
PLATEAU_CASES = [case for case in CASES if case["spec"]["schedule"]["name"] == "plateau"]


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["id"] for case in cases]


@pytest.mark.parametrize("case", TABLE_CASES, ids=_ids(TABLE_CASES))
def test_lr_table_matches_torch(case: dict[str, Any]) -> None:
    spec = case["spec"]
    config = resolve_schedule(spec["schedule"])
    table = learning_rate_table(config, np.array([spec["learning_rate"]]), spec["max_steps"])
    if config["name"] == "constant":
        assert table.shape == (1, 1)
        table = np.repeat(table, spec["max_steps"], axis=1)
    np.testing.assert_allclose(table[0], case["lr"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", TABLE_CASES, ids=_ids(TABLE_CASES))
def test_momentum_table_matches_torch(case: dict[str, Any]) -> None:
    """onecycle and cyclic cycle the momentum (sgd) or beta1 (adam) as torch does."""
    spec = case["spec"]
    momenta = momentum_table(resolve_schedule(spec["schedule"]), spec["max_steps"])
    if "momentum" in case:
        assert momenta is not None
        np.testing.assert_allclose(momenta, case["momentum"], rtol=1e-12, atol=0)
    else:
        assert momenta is None


@pytest.mark.parametrize("case", PLATEAU_CASES, ids=_ids(PLATEAU_CASES))
def test_plateau_step_matches_torch(case: dict[str, Any]) -> None:
    config = resolve_schedule(case["spec"]["schedule"])
    settings = plateau_settings(config)
    lr = np.array([case["spec"]["learning_rate"]])
    state = plateau_initial_state(settings, 1)
    seen = []
    for metric in case["metric"]:
        seen.append(lr[0])
        plateau_step(lr, np.array([metric]), state, settings)
    assert len(set(seen)) > 2, "the golden should exercise several reductions"
    np.testing.assert_allclose(seen, case["lr"], rtol=1e-12, atol=0)


def test_plateau_runs_are_independent_and_modes_work() -> None:
    """Two runs stepped together; mode max counts rises; min_lr bounds the lr."""
    config = resolve_schedule({"name": "plateau", "mode": "max", "patience": 1, "factor": 0.5,
                               "min_lr": 0.3})
    settings = plateau_settings(config)
    lr = np.array([1.0, 1.0])
    state = plateau_initial_state(settings, 2)
    for value in [1.0, 2.0, 3.0, 3.0, 3.0]:
        plateau_step(lr, np.array([value, 10.0 - value]), state, settings)
    assert lr[0] == 0.5  # rose twice, then 2 flat steps > patience 1: one reduction
    assert lr[1] == 0.3  # fell after its first value: two reductions, the second to min_lr


def test_constant_is_one_column_and_lr_per_run() -> None:
    table = learning_rate_table(resolve_schedule(None), np.array([0.1, 0.2]), 50)
    np.testing.assert_array_equal(table, [[0.1], [0.2]])


def test_tables_are_per_run_with_their_own_base_lr() -> None:
    config = resolve_schedule({"name": "cosine", "t_max": 10})
    table = learning_rate_table(config, np.array([0.1, 0.3]), 30)
    assert table.shape == (2, 30)
    np.testing.assert_allclose(table[1], 3 * table[0], rtol=1e-13)


def test_onecycle_defaults_to_the_job_lr_and_steps_and_holds_after_total_steps() -> None:
    config = resolve_schedule({"name": "onecycle"})
    assert config["max_lr"] is None and config["total_steps"] is None
    table = learning_rate_table(config, np.array([0.4]), 100)[0]
    assert table.max() == pytest.approx(0.4, rel=1e-12)
    assert table[0] == pytest.approx(0.4 / 25, rel=1e-12)
    held = learning_rate_table({**config, "total_steps": 40}, np.array([0.4]), 100)[0]
    np.testing.assert_array_equal(held[40:], held[40])
    momenta = momentum_table({**config, "total_steps": 40}, 100)
    assert momenta is not None
    np.testing.assert_array_equal(momenta[40:], momenta[40])
    # one more column than updates (the lr recorded at the last point) keeps the cycle length
    longer = learning_rate_table(config, np.array([0.4]), 101, max_steps=100)[0]
    np.testing.assert_array_equal(longer[:100], table)
    longer_momenta = momentum_table(config, 101, max_steps=100)
    assert longer_momenta is not None
    np.testing.assert_array_equal(longer_momenta[:100], momentum_table(config, 100))


def test_resolve_fills_defaults() -> None:
    assert resolve_schedule(None) == {"name": "constant"}
    assert resolve_schedule({"name": "Cosine", "t_max": 7}) == {
        "name": "cosine", "t_max": 7, "eta_min": 0.0}
    assert resolve_schedule({"name": "step", "step_size": 3}) == {
        "name": "step", "step_size": 3, "gamma": 0.1}
    assert resolve_schedule({"name": "linear"}) == {
        "name": "linear", "start_factor": 1.0 / 3, "end_factor": 1.0, "total_iters": 5}
    plateau = resolve_schedule({"name": "plateau"})
    assert plateau == {"name": "plateau", "mode": "min", "factor": 0.1, "patience": 10,
                       "threshold": 1e-4, "threshold_mode": "rel", "cooldown": 0,
                       "min_lr": 0.0, "eps": 1e-8}


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        ({"name": "warmup"}, "schedule.name", "'warmup'"),
        ({"gamma": 0.5}, "schedule.name", "required"),
        (7, "schedule", "7"),
        ({"name": "step"}, "schedule.step_size", "required"),
        ({"name": "step", "step_size": 0}, "schedule.step_size", "0"),
        ({"name": "step", "step_size": 2.5}, "schedule.step_size", "2.5"),
        ({"name": "step", "step_size": 5, "gamma": 0}, "schedule.gamma", "0"),
        ({"name": "step", "step_size": 5, "gama": 0.5}, "schedule.gama", "'gama'"),
        ({"name": "multistep"}, "schedule.milestones", "required"),
        ({"name": "multistep", "milestones": 10}, "schedule.milestones", "10"),
        ({"name": "multistep", "milestones": [10, -1]}, "schedule.milestones", "-1"),
        ({"name": "exponential"}, "schedule.gamma", "required"),
        ({"name": "exponential", "gamma": "0.9"}, "schedule.gamma", "'0.9'"),
        ({"name": "cosine", "t_max": 0}, "schedule.t_max", "0"),
        ({"name": "cosine", "t_max": 10, "eta_min": -1.0}, "schedule.eta_min", "-1.0"),
        ({"name": "linear", "start_factor": 0}, "schedule.start_factor", "0"),
        ({"name": "linear", "end_factor": 1.5}, "schedule.end_factor", "1.5"),
        ({"name": "onecycle", "pct_start": 1.2}, "schedule.pct_start", "1.2"),
        ({"name": "onecycle", "anneal_strategy": "exp"}, "schedule.anneal_strategy", "'exp'"),
        ({"name": "onecycle", "max_lr": -0.1}, "schedule.max_lr", "-0.1"),
        ({"name": "onecycle", "total_steps": 0}, "schedule.total_steps", "0"),
        ({"name": "onecycle", "three_phase": "yes"}, "schedule.three_phase", "'yes'"),
        ({"name": "plateau", "factor": 1.0}, "schedule.factor", "1.0"),
        ({"name": "plateau", "mode": "up"}, "schedule.mode", "'up'"),
        ({"name": "plateau", "threshold_mode": "pct"}, "schedule.threshold_mode", "'pct'"),
        ({"name": "plateau", "patience": -1}, "schedule.patience", "-1"),
        ({"name": "constant", "gamma": 0.5}, "schedule.gamma", "no parameter"),
        ({"name": "constant_factor", "factor": 0}, "schedule.factor", "0"),
        ({"name": "constant_factor", "total_iters": 0}, "schedule.total_iters", "0"),
        ({"name": "polynomial", "power": -1}, "schedule.power", "-1"),
        ({"name": "cosine_warm_restarts"}, "schedule.t_0", "required"),
        ({"name": "cosine_warm_restarts", "t_0": 5, "t_mult": 1.5}, "schedule.t_mult", "1.5"),
        ({"name": "cyclic"}, "schedule.max_lr", "required"),
        ({"name": "cyclic", "max_lr": 0.1, "mode": "exp"}, "schedule.mode", "'exp'"),
        ({"name": "cyclic", "max_lr": 0.1, "step_size_down": 0}, "schedule.step_size_down", "0"),
        ({"name": "lambda"}, "schedule.factor", "required"),
        ({"name": "lambda", "factor": 0.9}, "schedule.factor", "formula"),
        ({"name": "lambda", "factor": "0.9**epoch"}, "schedule.factor", "'epoch'"),
        ({"name": "multiplicative", "factor": "__import__('os')"}, "schedule.factor", "not allowed"),
        ({"name": "multiplicative", "factor": "0.9**"}, "schedule.factor", "position"),
        ({"name": "sequential", "schedules": [{"name": "constant"}]}, "schedule.milestones",
         "required"),
        ({"name": "sequential", "schedules": [], "milestones": []}, "schedule.schedules",
         "non-empty"),
        ({"name": "sequential", "schedules": [{"name": "constant"}, {"name": "constant"}],
          "milestones": []}, "schedule.milestones", "one fewer"),
        ({"name": "sequential", "schedules": [{"name": "constant"}] * 3, "milestones": [9, 3]},
         "schedule.milestones", "increasing"),
        ({"name": "chained", "schedules": {"name": "constant"}}, "schedule.schedules", "list"),
        ({"name": "chained", "schedules": [{"name": "cosine", "t_max": 0}]},
         "schedule.schedules.0.t_max", "0"),
        ({"name": "chained", "schedules": [{"name": "plateau"}]}, "schedule.schedules.0.name",
         "ReduceLROnPlateau"),
        ({"name": "chained", "schedules": [{"name": "constant"}, {"name": "onecycle"}]},
         "schedule.schedules.1.name", "alone"),
        ({"name": "sequential", "schedules": [{"name": "cyclic", "max_lr": 1.0}],
          "milestones": []}, "schedule.schedules.0.name", "alone"),
        ({"name": "chained", "schedules": [{"name": "chained", "schedules": []}]},
         "schedule.schedules.0.name", "another combinator"),
        ({"name": "chained", "schedules": [{"name": "warmup"}]}, "schedule.schedules.0.name",
         "'warmup'"),
        ({"name": "chained", "schedules": [7]}, "schedule.schedules.0", "7"),
    ],
)
def test_bad_schedules_name_the_field_and_value(config: Any, field: str, fragment: str) -> None:
    with pytest.raises(SpecErrors) as raised:
        resolve_schedule(config)
    [error] = raised.value.errors
    assert error.field == field
    assert fragment in error.message


def test_onecycle_momentum_needs_an_optimizer_with_momentum() -> None:
    config = resolve_schedule({"name": "onecycle"})
    with pytest.raises(SpecError) as raised:
        check_schedule_for_optimizer(config, None, "adagrad")
    assert raised.value.field == "schedule.cycle_momentum"
    check_schedule_for_optimizer({**config, "cycle_momentum": False}, None, "adagrad")
    check_schedule_for_optimizer(config, 0, "sgd")


def test_every_schedule_has_a_golden_and_a_description() -> None:
    assert {case["spec"]["schedule"]["name"] for case in CASES} == set(SCHEDULES)
    described = {entry["name"]: entry for entry in describe_schedules()}
    assert set(described) == set(SCHEDULES)
    json.dumps(described)
    onecycle = {param["name"]: param for param in described["onecycle"]["params"]}
    assert onecycle["max_lr"]["nullable"] and onecycle["max_lr"]["default"] is None
    assert onecycle["anneal_strategy"]["choices"] == ["cos", "linear"]
    assert described["step"]["params"][0]["required"] is True


def test_every_problem_is_reported_with_its_field_nested_ones_too() -> None:
    with pytest.raises(SpecErrors) as raised:
        resolve_schedule({"name": "sequential", "milestons": [5],
                          "schedules": [{"name": "linear", "total_iters": 0},
                                        {"name": "cosine"},
                                        {"name": "plateau"},
                                        {"name": "lambda", "factor": "step +"}]})
    fields = [error.field for error in raised.value.errors]
    assert fields == ["schedule.milestons", "schedule.schedules.0.total_iters",
                      "schedule.schedules.1.t_max", "schedule.schedules.2.name",
                      "schedule.schedules.3.factor", "schedule.milestones"]


def test_combinators_resolve_their_members() -> None:
    config = resolve_schedule({"name": "sequential", "milestones": [10],
                               "schedules": ["linear", {"name": "Cosine", "t_max": 90}]})
    assert config == {"name": "sequential", "milestones": [10], "schedules": [
        {"name": "linear", "start_factor": 1.0 / 3, "end_factor": 1.0, "total_iters": 5},
        {"name": "cosine", "t_max": 90, "eta_min": 0.0}]}


def test_warm_up_then_cosine_is_the_linear_ramp_then_the_cosine_from_the_base_lr() -> None:
    config = resolve_schedule({"name": "sequential", "milestones": [10], "schedules": [
        {"name": "linear", "start_factor": 0.1, "total_iters": 10},
        {"name": "cosine", "t_max": 90}]})
    table = learning_rate_table(config, np.array([0.2, 0.4]), 101)
    np.testing.assert_allclose(table[0, :10], 0.2 * np.linspace(0.1, 1.0, 11)[:10], rtol=1e-12)
    cosine = 0.2 * (1 + np.cos(np.pi * np.arange(91) / 90)) / 2
    np.testing.assert_allclose(table[0, 10:], cosine, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(table[1], 2 * table[0], rtol=1e-12)


def test_formula_factors_are_evaluated_per_step_without_eval() -> None:
    config = resolve_schedule({"name": "lambda", "factor": "1/(1 + step)"})
    table = learning_rate_table(config, np.array([1.0]), 5)
    np.testing.assert_allclose(table[0], [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5], rtol=1e-15)
    steady = learning_rate_table(resolve_schedule({"name": "multiplicative", "factor": "2"}),
                                 np.array([1.0]), 4)
    np.testing.assert_array_equal(steady[0], [1.0, 2.0, 4.0, 8.0])


def test_cyclic_lr_defaults_to_the_job_lr_and_momentum_cycles_inversely() -> None:
    config = resolve_schedule({"name": "cyclic", "max_lr": 1.0, "step_size_up": 4})
    table = learning_rate_table(config, np.array([0.2]), 17)[0]
    np.testing.assert_allclose(table[[0, 4, 8, 12, 16]], [0.2, 1.0, 0.2, 1.0, 0.2], rtol=1e-12)
    momenta = momentum_table(config, 17)
    assert momenta is not None
    np.testing.assert_allclose(momenta[[0, 4, 8]], [0.9, 0.8, 0.9], rtol=1e-12)
    assert momentum_table({**config, "cycle_momentum": False}, 17) is None


def test_cyclic_momentum_needs_an_optimizer_with_momentum_like_torch() -> None:
    config = resolve_schedule({"name": "cyclic", "max_lr": 1.0})
    with pytest.raises(SpecError) as raised:
        check_schedule_for_optimizer(config, None, "adagrad")
    assert raised.value.field == "schedule.cycle_momentum"
    check_schedule_for_optimizer({**config, "cycle_momentum": False}, None, "adagrad")


SWEPT_SCHEDULES = [
    {"name": "cosine_warm_restarts", "t_0": 10, "t_mult": 2},
    {"name": "cyclic", "max_lr": 0.05, "step_size_up": 7},
    {"name": "lambda", "factor": "1/(1 + 0.1*step)"},
    {"name": "sequential", "milestones": [8], "schedules": [
        {"name": "linear", "start_factor": 0.1, "total_iters": 8}, {"name": "cosine", "t_max": 32}]},
    {"name": "chained", "schedules": [{"name": "constant_factor", "factor": 0.5},
                                      {"name": "polynomial", "total_iters": 30}]},
]


def test_a_sweep_over_schedules_and_learning_rates_runs_each_as_alone() -> None:
    """Runs that share a schedule share one loop (their own base lr each); every run is the
    run it would be alone, bit for bit."""
    base = {"function": "rosenbrock", "optimizer": "adam", "max_steps": 40, "init": [-1.0, 1.5]}
    swept = run_sweep_locally({"base": base, "grid": {"schedule": SWEPT_SCHEDULES,
                                                      "learning_rate": [0.01, 0.02]}},
                              trajectories=True)
    assert len(swept["runs"]) == 2 * len(SWEPT_SCHEDULES)
    for entry in swept["runs"]:
        alone = run_spec({**base, **entry["overrides"]})
        np.testing.assert_array_equal(entry["trajectory"]["lr"], alone.trajectory["lr"])
        np.testing.assert_array_equal(entry["trajectory"]["params"], alone.trajectory["params"])


def test_budget_counts_momentum_and_formula_tables() -> None:
    spec = {"max_steps": 99, "record_every": 1000, "max_epochs": None,
            "optimizer": {"name": "sgd"}}
    cost = {name: run_cost({**spec, "schedule": schedule}, 2, 0).schedule_tables
            for name, schedule in [
                ("constant", {"name": "constant"}),
                ("cosine", resolve_schedule({"name": "cosine", "t_max": 5})),
                ("cyclic", resolve_schedule({"name": "cyclic", "max_lr": 1.0})),
                ("lambda", resolve_schedule({"name": "lambda", "factor": "0.9**step"})),
                ("chained", resolve_schedule({"name": "chained", "schedules": [
                    {"name": "lambda", "factor": "1"}, {"name": "multiplicative",
                                                        "factor": "1"}]}))]}
    assert cost == {"constant": 0, "cosine": 800, "cyclic": 1600, "lambda": 1600,
                    "chained": 2400}
