"""engine.halving (docs/spec.md §9.1.1): successive halving inside a sweep. Survivors equal the
same specs run alone, pruned runs keep the partial result of the same run stopped at the rung,
the ranking and the run-step count are those the rule predicts, runs that stop by themselves
keep their reason, and a bad search is refused naming the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import engine
from engine.halving import halving_rungs, planned_run_steps
from engine.sweep import SweepProgress, expand_sweep, prepare_sweep, run_sweep_locally

# No run of this grid diverges or converges within 270 steps (rosenbrock from (-1.2, 1)), so
# every run reaches every rung it is allowed to: the run-step count is exact.
RATES = [1e-4, 1.5e-4, 2.2e-4, 3.3e-4, 5e-4, 7.5e-4, 1.1e-3, 1.6e-3, 2e-3]
HALVING: dict[str, Any] = {"method": "halving", "eta": 3, "min_steps": 30}
BODY: dict[str, Any] = {"base": {"function": "rosenbrock", "max_steps": 270},
        "grid": {"optimizer": ["gd", "adam"], "learning_rate": RATES},
        "best_by": ["optimizer"], "search": HALVING}


def alone(body: dict[str, Any]) -> dict[int, Any]:
    """Every run of the sweep run as a job would be, by sweep index."""
    return {run.index: engine.run_spec(run.spec) for run in expand_sweep(body)}


def assert_same_run(entry: dict[str, Any], job: Any) -> None:
    assert entry["stop_reason"] == job.stop_reason and entry["steps"] == job.steps
    np.testing.assert_allclose(entry["trajectory"]["params"], job.trajectory["params"], rtol=1e-12)
    np.testing.assert_allclose(entry["trajectory"]["loss"], job.trajectory["loss"], rtol=1e-12)
    assert entry["final"]["loss"] == pytest.approx(job.final["loss"], rel=1e-12)


def test_rungs_and_the_planned_run_steps() -> None:
    assert halving_rungs(300, 3, 2700) == [300, 900, 2700]
    assert halving_rungs(100, 3, 2700) == [100, 300, 900, 2700]
    assert halving_rungs(50, 2, 50) == [50]
    assert halving_rungs(40, 3, 1000) == [40, 120, 360, 1000]
    # 81 runs: 81 × 300, then 27 × 600 more, then 9 × 1,800 more
    assert planned_run_steps([81], [300, 900, 2700], 3) == 81 * 300 + 27 * 600 + 9 * 1800
    assert planned_run_steps([10], [1, 3, 9], 3) == 10 * 1 + 4 * 2 + 2 * 6  # ⌈10/3⌉, ⌈4/3⌉


def test_survivors_equal_jobs_and_pruned_runs_are_those_jobs_stopped_at_the_rung() -> None:
    result = run_sweep_locally(BODY, trajectories=True)
    jobs = alone(BODY)
    for entry in result["runs"]:
        job = jobs[entry["index"]]
        if entry["stop_reason"] != "pruned":
            assert_same_run(entry, job)
            continue
        # the job's trajectory up to the rung (every step is recorded), then the rung's point
        steps = entry["steps"]
        assert steps in (30, 90)
        np.testing.assert_allclose(entry["trajectory"]["params"],
                                   job.trajectory["params"][:steps + 1], rtol=1e-12)
        np.testing.assert_allclose(entry["trajectory"]["loss"],
                                   job.trajectory["loss"][:steps + 1], rtol=1e-12)
        assert entry["final"]["loss"] == pytest.approx(job.trajectory["loss"][steps], rel=1e-12)


def test_each_group_keeps_its_best_third_at_each_rung_and_the_run_steps_are_as_predicted() -> None:
    result = run_sweep_locally(BODY)
    jobs = alone(BODY)
    runs = {entry["index"]: entry for entry in result["runs"]}
    for group in (range(9), range(9, 18)):  # gd's runs, then adam's
        racing = list(group)
        for rung, next_rung in ((30, 90), (90, 270)):
            losses = {i: jobs[i].trajectory["loss"][rung] for i in racing}
            ranked = sorted(racing, key=lambda i: (losses[i], i))
            kept = math.ceil(len(racing) / 3)
            for index in ranked[kept:]:
                assert runs[index]["stop_reason"] == "pruned" and runs[index]["steps"] == rung
            racing = ranked[:kept]
            assert all(runs[index]["steps"] >= next_rung for index in racing)
        (winner,) = racing
        assert runs[winner]["stop_reason"] == "max_steps" and runs[winner]["steps"] == 270
    per_group = 9 * 30 + 3 * 60 + 1 * 180
    search = result["summary"]["search"]
    assert search == {"method": "halving", "eta": 3, "min_steps": 30, "rungs": [30, 90, 270],
                      "run_steps": 2 * per_group, "full_grid_run_steps": 18 * 270,
                      "run_steps_fraction": round(2 * per_group / (18 * 270), 4)}
    assert sum(entry["steps"] for entry in result["runs"]) == search["run_steps"]
    assert result["summary"]["stop_reasons"] == {"pruned": 16, "max_steps": 2}
    best = {tuple(entry["key"].values()): entry["run"] for entry in result["best"]}
    assert runs[best[("gd",)]]["stop_reason"] == runs[best[("adam",)]]["stop_reason"] == "max_steps"
    # the table: finished runs first, then pruned ones (the furthest first), by loss
    table = result["table"]
    assert [runs[i]["steps"] for i in table] == [270, 270] + [90] * 4 + [30] * 12


def test_one_ranking_across_loops_without_best_by() -> None:
    """gd and adam run in separate loops; without best_by they are one bracket of 18 runs."""
    body = {**BODY, "best_by": None}
    result = run_sweep_locally(body)
    jobs = alone(body)
    assert len(prepare_sweep(body).groups) == 2
    at_30 = sorted(range(18), key=lambda i: (jobs[i].trajectory["loss"][30], i))
    past_30 = {entry["index"] for entry in result["runs"] if entry["steps"] > 30}
    assert past_30 == set(at_30[:6])
    assert result["summary"]["search"]["run_steps"] == 18 * 30 + 6 * 60 + 2 * 180


def test_runs_that_stop_by_themselves_keep_their_reason() -> None:
    """A diverging rate stops in a few steps and ranks last; a run reaching target_loss stops
    there with its own reason and is never marked pruned."""
    body = {"base": {"function": "sphere", "optimizer": "gd", "max_steps": 90,
                     "target_loss": 1e-12},
            "grid": {"learning_rate": [0.001, 0.003, 0.01, 0.03, 0.4, 1000.0]},
            "search": {"method": "halving", "eta": 2, "min_steps": 20}}
    result = run_sweep_locally(body, trajectories=True)
    jobs = alone(body)
    runs = {entry["index"]: entry for entry in result["runs"]}
    assert runs[5]["stop_reason"] == "diverged" and runs[5]["steps"] < 20
    assert runs[4]["stop_reason"] == "target_loss" and runs[4]["steps"] < 20
    for index in (4, 5):
        assert_same_run(runs[index], jobs[index])
    # rung 20 keeps 3 of 6: the finished run 4 keeps its slot, with runs 3 and 2 (lowest losses)
    assert runs[0]["steps"] == runs[1]["steps"] == 20
    assert {runs[0]["stop_reason"], runs[1]["stop_reason"]} == {"pruned"}
    # rung 40 keeps 2 of 3: run 4 and run 3, run 2 is pruned; rung 80 keeps 1 of 2: the
    # finished run 4 (its loss is the lower), so run 3 is pruned although run 4 is not going on
    assert (runs[2]["stop_reason"], runs[2]["steps"]) == ("pruned", 40)
    assert (runs[3]["stop_reason"], runs[3]["steps"]) == ("pruned", 80)
    assert result["summary"]["search"]["run_steps"] == sum(runs[i]["steps"] for i in runs)


def test_cancelling_a_halving_sweep_keeps_every_run_partial() -> None:
    seen: list[SweepProgress] = []

    def cancel_at_once(progress: SweepProgress) -> bool:
        seen.append(progress)
        return False

    body = {**BODY, "base": {**BODY["base"], "max_steps": 100_000},
            "search": {**HALVING, "min_steps": 50_000}}
    result = run_sweep_locally(body, cancel_at_once)
    assert seen and seen[0].runs_total == 18
    assert {entry["stop_reason"] for entry in result["runs"]} == {"cancelled"}
    # the loop that was running stopped where it was; the other had not started: step 0
    assert all(entry["steps"] < 50_000 and entry["final"] for entry in result["runs"])
    assert any(entry["steps"] > 0 for entry in result["runs"])


def test_progress_rises_to_one() -> None:
    fractions: list[float] = []

    def watch(progress: SweepProgress) -> bool:
        fractions.append(progress.fraction)
        return True

    run_sweep_locally(BODY, watch)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


@pytest.mark.parametrize(("change", "field"), [
    ({"search": {"method": "grid", "min_steps": 30}}, "search.method"),
    ({"search": {"method": "halving", "eta": 1, "min_steps": 30}}, "search.eta"),
    ({"search": {"method": "halving", "eta": 2.5, "min_steps": 30}}, "search.eta"),
    ({"search": {"method": "halving", "min_steps": 0}}, "search.min_steps"),
    ({"search": {"method": "halving"}}, "search.min_steps"),
    ({"search": {"method": "halving", "min_steps": 30, "rungs": 3}}, "search.rungs"),
    ({"search": "halving"}, "search"),
    ({"search": {**HALVING, "min_steps": 271}}, "search.min_steps"),
    ({"grid": {**BODY["grid"], "max_steps": [100, 200]}}, "grid.max_steps"),
    ({"grid": {"optimizer": ["gd"]}, "overrides": [{"optimizer": "adam"},
                                                   {"optimizer": "adam", "max_steps": 500}]},
     "runs[2].max_steps"),
])
def test_a_bad_search_is_one_error_naming_the_field(change: dict, field: str) -> None:
    with pytest.raises(engine.SpecErrors) as raised:
        prepare_sweep({**BODY, **change})
    assert [error.field for error in raised.value.errors] == [field], raised.value


@pytest.mark.parametrize("base", [
    {"function": "rosenbrock", "optimizer": "momentum", "gradient_noise": 0.5, "seed": 3},
    {"function": "linear_regression", "data": {"generator": "linear", "n_samples": 60, "seed": 1},
     "optimizer": "adam", "batching": "minibatch", "batch_size": 7, "record_every": 4},
    {"function": "rosenbrock", "optimizer": "sgd", "schedule": {"name": "cosine", "t_max": 200},
     "record_every": 7},
])
def test_survivors_equal_jobs_with_noise_shuffled_batches_and_schedules(base: dict) -> None:
    """Pruning between segments leaves each survivor's random streams, shuffled epochs,
    schedule and record grid as they are in its job."""
    body = {"base": {**base, "max_steps": 200}, "grid": {"learning_rate": [1e-4, 3e-4, 1e-3, 3e-3]},
            "search": {"method": "halving", "eta": 2, "min_steps": 25}}
    result = run_sweep_locally(body, trajectories=True)
    jobs = alone(body)
    survivors = [entry for entry in result["runs"] if entry["stop_reason"] != "pruned"]
    assert survivors and len(survivors) < 4
    for entry in survivors:
        assert_same_run(entry, jobs[entry["index"]])
    for entry in result["runs"]:
        job = jobs[entry["index"]]
        kept = np.searchsorted(job.trajectory["step"], entry["steps"])
        np.testing.assert_allclose(entry["trajectory"]["loss"][:-1], job.trajectory["loss"][:kept],
                                   rtol=1e-12)
