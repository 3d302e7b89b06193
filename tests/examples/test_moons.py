"""Lesson 8 (examples/08_moons.json, docs/tour.md): GD, momentum and Adam train the same MLP on
the moons from the same start at the same learning rate; what the tour's picture shows is
asserted here on the engine's output."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from cli.plot import Curve, Row, lesson_specs
from docs.boundaries import accuracy, mlp_outputs, plot_boundaries
from engine import RunResult, resolve_spec, run_spec

LESSON = Path(__file__).resolve().parents[2] / "examples" / "08_moons.json"


@cache
def runs() -> dict[str, tuple[RunResult, np.ndarray, np.ndarray]]:
    """label -> (result, X, y) of the lesson's one figure."""
    ((_, specs),) = lesson_specs(json.loads(LESSON.read_text()))
    out = {}
    for label, spec in specs:
        data = resolve_spec(spec).objective.data
        out[label] = (run_spec(spec), data[:, :-1], data[:, -1])
    return out


def test_the_three_start_alike_and_adam_ends_lowest() -> None:
    results = {label: result for label, (result, _, _) in runs().items()}
    gd, momentum, adam = results["GD"], results["momentum 0.9"], results["Adam"]
    for result in results.values():
        assert result.stop_reason == "max_steps" and result.steps == 200
        assert result.spec["learning_rate"] == 0.1 and result.spec["data"]["n_samples"] == 200
    starts = [np.asarray(result.trajectory["params"][0]) for result in results.values()]
    assert all(np.array_equal(start, starts[0]) for start in starts)  # the seed's draw
    assert starts[0].size == 2 * 8 + 8 + 8 * 2 + 2  # 42 parameters
    # the tour's numbers: 0.27, 0.055, 0.001
    assert 0.2 < gd.final["loss"] < 0.35
    assert 0.03 < momentum.final["loss"] < 0.08
    assert adam.final["loss"] < 0.002
    assert adam.final["loss"] < momentum.final["loss"] / 10 < gd.final["loss"] / 10


def test_the_boundaries_gd_nearly_straight_momentum_and_adam_around_the_moons() -> None:
    shares = {label: accuracy(result.spec, np.asarray(result.final["params"]), X, y)
              for label, (result, X, y) in runs().items()}
    assert 0.85 <= shares["GD"] <= 0.92  # a near-linear boundary misses the moons' tips
    assert shares["momentum 0.9"] >= 0.98
    assert shares["Adam"] == 1.0


@pytest.mark.parametrize("label", ["GD", "momentum 0.9", "Adam"])
def test_the_pictures_forward_pass_is_the_engines(label: str) -> None:
    """The cross-entropy of the picture's outputs is the engine's final loss."""
    result, X, y = runs()[label]
    outputs = mlp_outputs(result.spec, np.asarray(result.final["params"]), X)
    top = outputs.max(axis=1)
    log_sum = top + np.log(np.exp(outputs - top[:, None]).sum(axis=1))
    loss = np.mean(log_sum - outputs[np.arange(len(y)), y.astype(int)])
    assert loss == pytest.approx(result.final["loss"], rel=1e-12)


def test_the_picture_is_drawn(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    row = Row("moons", [Curve(result.to_document(), result.spec, label)
                        for label, (result, _, _) in runs().items()])
    image = plot_boundaries([row], tmp_path / "moons.png", title="moons")
    assert image.stat().st_size > 5_000
