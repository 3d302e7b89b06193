"""``descent plot`` of a sweep result and ``descent sweep --plot`` (docs/spec.md §10): the final
loss against the learning rate, one curve per optimizer, diverged runs marked, each one's best
highlighted — checked on what is drawn (``sweep_curves``) and on the commands' pictures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.plot_sweep import sweep_curves, swept_key
from engine import dumps, loads
from engine.sweep import run_sweep_locally
from tests.cli.commands import assert_one_line_error, descent

RATES = [1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 0.1, 1.0]
SWEEP = {"base": {"function": "rosenbrock", "max_steps": 300, "init": [-1.2, 1.0]},
         "grid": {"optimizer": ["gd", "adam"], "learning_rate": RATES}, "best_by": ["optimizer"]}


@pytest.fixture(scope="module")
def result() -> dict:
    return loads(dumps(run_sweep_locally(SWEEP)))


def test_one_curve_per_optimizer_with_its_best_and_its_diverged_rates(result: dict) -> None:
    assert swept_key(result) == "learning_rate"
    curves = {curve.label: curve for curve in sweep_curves(result, "learning_rate")}
    assert set(curves) == {"optimizer=gd", "optimizer=adam"}
    gd, adam = curves["optimizer=gd"], curves["optimizer=adam"]
    assert sorted(gd.values + gd.diverged) == RATES  # every run drawn once
    assert gd.diverged and min(gd.diverged) > max(gd.values)  # too large diverges
    for curve in (gd, adam):
        assert curve.best == min(zip(curve.values, curve.losses), key=lambda pair: pair[1])
    best = {entry["key"]["optimizer"]: entry["learning_rate"] for entry in result["best"]}
    assert gd.best is not None and gd.best[0] == best["gd"]
    assert RATES[0] < gd.best[0] < RATES[-1]  # the best rate lies inside the range


def test_the_commands_draw_it(result: dict, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps(SWEEP))
    done = descent("sweep", str(sweep), "-q", "-o", str(tmp_path / "out.json"),
                   "--plot", str(tmp_path / "curve.png"))
    assert done.returncode == 0, done.stderr
    assert f"wrote {tmp_path / 'curve.png'}" in done.stdout
    again = descent("plot", str(tmp_path / "out.json"), "-o", str(tmp_path / "again.png"))
    assert again.returncode == 0 and "wrote" in again.stdout, again.stderr
    for picture in ("curve.png", "again.png"):
        assert (tmp_path / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_one_line_error(descent("plot", str(tmp_path / "out.json"), "-o",
                                  str(tmp_path / "x.png"), "--swept", "optimizer"), 2,
                          "--swept optimizer", "learning_rate")
    assert_one_line_error(descent("plot", str(tmp_path / "out.json"), str(sweep), "-o",
                                  str(tmp_path / "x.png")), 2, "on its own")
    assert_one_line_error(descent("sweep", str(sweep), "--plot", str(tmp_path / "x.txt")), 2,
                          "--plot", ".png")


def test_a_halving_result_draws_its_pruned_runs_apart(tmp_path: Path) -> None:
    """Pruned runs' losses are from fewer steps: hollow markers, off the curve and its regions."""
    from cli.plot_sweep import plot_sweep

    body = {**SWEEP, "search": {"method": "halving", "eta": 3, "min_steps": 30}}
    halving = loads(dumps(run_sweep_locally(body)))
    for curve in sweep_curves(halving, "learning_rate"):
        pruned = [value for value, _ in curve.pruned]
        assert pruned and not set(pruned) & set(curve.values)
        assert sorted(curve.values + curve.diverged + pruned) == RATES
        covered = {value for value in curve.values + curve.diverged
                   if any(region.first <= value <= region.last for region in curve.regions)}
        assert covered == set(curve.values + curve.diverged)
    picture = plot_sweep(halving, tmp_path / "halving.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
