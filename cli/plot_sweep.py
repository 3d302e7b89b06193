"""``descent plot`` of a sweep result (docs/spec.md §10): the final loss against the swept value,
log axes, one curve per group (the runs that share every other swept value: one curve per
optimizer for a grid over optimizer × learning_rate), diverged runs marked along the top, each
group's best run highlighted — the learning-rate lesson in one picture (too small crawls, too
large oscillates or diverges).

The swept value is ``learning_rate`` when the grid has it, else the first numeric grid key
(``--swept`` picks another). ``sweep_curves`` computes what is drawn, so tests read it directly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.errors import EXIT_BAD_INPUT
from engine.sweep import best_per_group


@dataclass
class SweepCurve:
    """One group's runs, by swept value: finite final losses, the values that diverged, and
    the best run's value and loss."""

    label: str
    values: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    diverged: list[float] = field(default_factory=list)
    best: tuple[float, float] | None = None


def is_sweep_result(document: Any) -> bool:
    return isinstance(document, dict) and "runs" in document and "table" in document


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def swept_key(document: dict[str, Any], wanted: str | None = None) -> str:
    """The key drawn along x: ``wanted``, else ``learning_rate``, else the first numeric one."""
    keys = list(dict.fromkeys(key for run in document["runs"] for key in run["overrides"]))
    numeric = [key for key in keys
               if all(_numeric(run["overrides"].get(key)) for run in document["runs"])]
    if wanted is not None:
        if wanted not in numeric:
            raise ValueError(f"--swept {wanted}: not a numeric swept value of this sweep "
                             f"(those are: {', '.join(numeric) or 'none'})")
        return wanted
    if not numeric:
        raise ValueError("the sweep has no numeric swept value to draw along x")
    return "learning_rate" if "learning_rate" in numeric else numeric[0]


def sweep_curves(document: dict[str, Any], swept: str) -> list[SweepCurve]:
    """One curve per group of runs sharing every swept value but ``swept``."""
    runs = sorted(document["runs"], key=lambda run: run["index"])
    others = list(dict.fromkeys(key for run in runs for key in run["overrides"] if key != swept))
    best = {json.dumps(entry["key"], sort_keys=True): entry
            for entry in best_per_group(runs, others, {})}
    curves: dict[str, SweepCurve] = {}
    for run in runs:
        key = {name: run["overrides"].get(name) for name in others}
        label = ", ".join(f"{name}={value}" for name, value in key.items()) or "all runs"
        curve = curves.setdefault(json.dumps(key, sort_keys=True), SweepCurve(label))
        value = float(run["overrides"][swept])
        final = run.get("final") or {}
        loss = final.get("loss")
        if run["stop_reason"] == "diverged" or loss is None or not math.isfinite(loss):
            if run["stop_reason"] != "cancelled":
                curve.diverged.append(value)
            continue
        curve.values.append(value)
        curve.losses.append(float(loss))
    for name, curve in curves.items():
        winner = best[name]
        if winner["run"] is not None:
            run = next(run for run in runs if run["index"] == winner["run"])
            curve.best = (float(run["overrides"][swept]), float(winner["final_loss"]))
    return list(curves.values())


def plot_sweep(document: dict[str, Any], output: str | Path, *, swept: str | None = None,
               title: str = "", dpi: int = 80) -> Path:
    """Draw the final loss against the swept value into ``output``."""
    from cli.plot import PlotError, _pyplot, save_figure

    try:
        key = swept_key(document, swept)
    except ValueError as error:
        raise PlotError(str(error), EXIT_BAD_INPUT) from None
    curves = sweep_curves(document, key)
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(7.5, 4.8), dpi=dpi)
    finite = [loss for curve in curves for loss in curve.losses]
    positive = [loss for loss in finite if loss > 0]
    log_y = bool(positive) and len(positive) == len(finite)
    top = max(finite, default=1.0) * (10 if log_y else 1.1) if finite else 1.0
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"] * 10
    for position, (colour, curve) in enumerate(zip(colours, curves)):
        order = sorted(range(len(curve.values)), key=curve.values.__getitem__)
        axis.plot([curve.values[i] for i in order], [curve.losses[i] for i in order], "o-",
                  color=colour, markersize=3, label=curve.label)
        if curve.diverged:
            lane = top * 2.0 ** position if log_y else top * (1 + 0.03 * position)  # one each
            axis.plot(curve.diverged, [lane] * len(curve.diverged), "x", color=colour,
                      markersize=8)
        if curve.best is not None:
            axis.plot(*curve.best, "*", color=colour, markersize=15, markeredgecolor="black")
    values = [value for curve in curves for value in curve.values + curve.diverged]
    if values and min(values) > 0 and max(values) / min(values) >= 10:
        axis.set_xscale("log")
    if log_y:
        axis.set_yscale("log")
    if any(curve.diverged for curve in curves):
        axis.axhline(top, color="grey", linewidth=0.5, linestyle=":")
        axis.annotate("× diverged", (0.01, 0.97), xycoords="axes fraction", fontsize=8,
                      va="top", color="grey")
    axis.set_xlabel(key)
    axis.set_ylabel("final loss")
    axis.set_title(title or f"final loss against {key} (★ best of each)", fontsize=10)
    axis.legend(fontsize=8)
    return save_figure(figure, output, dpi)
