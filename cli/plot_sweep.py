"""``descent plot`` of a sweep result (docs/spec.md §10): the final loss against the swept value,
log axes, one curve per group (the runs that share every other swept value: one curve per
optimizer for a grid over optimizer × learning_rate), diverged runs marked along the top, each
group's best run highlighted — the learning-rate lesson in one picture (too small crawls, too
large oscillates or diverges).

The swept value is ``learning_rate`` when the grid has it, else the first numeric grid key
(``--swept`` picks another). ``sweep_curves`` computes what is drawn, so tests read it directly.

Under the curves a strip names each curve's regions along the swept axis, computed from the
result (``curve_regions``): **converge** around the best run, where the final loss is within a
third of the curve's loss range (in decades) of the best; **crawl** below it (too small a step:
the loss has not come down yet); **oscillate** above it without diverging (too large a step:
the run bounces, Adam's case); **diverge** where runs diverged. Runs a halving search pruned
are drawn as hollow markers (their losses are from fewer steps) and left out of the regions.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli.errors import EXIT_BAD_INPUT
from engine.sweep import best_per_group

REGIONS = ("crawl", "converge", "oscillate", "diverge")
"""The regions of a learning-rate curve, in the order they come along the rate axis."""
REGION_COLOURS = {"crawl": "#c6dbef", "converge": "#c7e9c0", "oscillate": "#fdd0a2",
                  "diverge": "#fcbba1"}
CONVERGE_SHARE = 1 / 3
"""converge: within this share of the curve's loss range (in decades) of its best loss."""
LOSS_FLOOR = 1e-300  # a loss of exactly 0 (a minimum reached) taken as this on the log scale


@dataclass(frozen=True)
class Region:
    """A stretch of one curve: the region's name and the swept values of its first and last
    run."""

    name: str
    first: float
    last: float


@dataclass
class SweepCurve:
    """One group's runs, by swept value: finite final losses, the values that diverged, the
    runs a halving search pruned, the best run's value and loss, and the regions."""

    label: str
    values: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    diverged: list[float] = field(default_factory=list)
    pruned: list[tuple[float, float]] = field(default_factory=list)
    best: tuple[float, float] | None = None
    regions: list[Region] = field(default_factory=list)


def curve_regions(values: list[float], losses: list[float],
                  diverged: list[float]) -> list[Region]:
    """The curve's runs by swept value, named (see the module's docstring) and merged into
    stretches: converge is the unbroken stretch around the best run within ``CONVERGE_SHARE``
    of the loss range of the best, crawl the finite runs below it, oscillate those above it."""
    runs = sorted([(value, math.log10(max(loss, LOSS_FLOOR))) for value, loss in
                   zip(values, losses)] + [(value, math.inf) for value in diverged])
    finite = [level for _, level in runs if math.isfinite(level)]
    names = ["diverge"] * len(runs)
    if finite:
        best, worst = min(finite), max(finite)
        threshold = best + CONVERGE_SHARE * (worst - best)
        centre = next(k for k, (_, level) in enumerate(runs) if level == best)
        low = high = centre
        while low > 0 and runs[low - 1][1] <= threshold:
            low -= 1
        while high < len(runs) - 1 and runs[high + 1][1] <= threshold:
            high += 1
        for k, (_, level) in enumerate(runs):
            if math.isfinite(level):
                names[k] = "crawl" if k < low else "oscillate" if k > high else "converge"
    regions: list[Region] = []
    for (value, _), name in zip(runs, names):
        if regions and regions[-1].name == name:
            regions[-1] = Region(name, regions[-1].first, value)
        else:
            regions.append(Region(name, value, value))
    return regions


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
        if run["stop_reason"] == "pruned":
            curve.pruned.append((value, float(loss)))
            continue
        curve.values.append(value)
        curve.losses.append(float(loss))
    for name, curve in curves.items():
        winner = best[name]
        if winner["run"] is not None:
            run = next(run for run in runs if run["index"] == winner["run"])
            curve.best = (float(run["overrides"][swept]), float(winner["final_loss"]))
        curve.regions = curve_regions(curve.values, curve.losses, curve.diverged)
    return list(curves.values())


def _draw_regions(axis: Any, curves: list[SweepCurve], colours: list[str], log_x: bool) -> None:
    """One lane per curve: its regions as coloured spans, named where they are wide enough.
    A run's span reaches halfway to its neighbours (in decades on a log axis)."""
    def to_axis(value: float) -> float:
        return math.log10(value) if log_x else value

    def from_axis(position: float) -> float:
        return 10 ** position if log_x else position

    values = sorted({value for curve in curves for value in curve.values + curve.diverged})
    if not values:
        return
    places = [to_axis(value) for value in values]
    gap = (places[-1] - places[0]) / (len(places) - 1) if len(places) > 1 else 1.0
    borders = [places[0] - gap / 2,
               *((a + b) / 2 for a, b in itertools.pairwise(places)), places[-1] + gap / 2]
    left_of = {value: borders[k] for k, value in enumerate(values)}
    right_of = {value: borders[k + 1] for k, value in enumerate(values)}
    inches_per_unit = 6.5 / (borders[-1] - borders[0])  # the strip is about 6.5 inches wide
    for lane, (colour, curve) in enumerate(zip(colours, curves)):
        bottom = len(curves) - 1 - lane
        for region in curve.regions:
            left, right = left_of[region.first], right_of[region.last]
            axis.axvspan(from_axis(left), from_axis(right), ymin=bottom / len(curves),
                         ymax=(bottom + 1) / len(curves), color=REGION_COLOURS[region.name],
                         linewidth=0)
            if (right - left) * inches_per_unit > 0.05 * len(region.name):  # the text fits
                axis.text(from_axis((left + right) / 2), bottom + 0.5, region.name,
                          ha="center", va="center", fontsize=6.5)
        if lane:
            axis.axhline(bottom + 1, color="white", linewidth=1.5)
        axis.text(-0.01, bottom + 0.5, curve.label.split("=")[-1], ha="right", va="center",
                  fontsize=7, color=colour, transform=axis.get_yaxis_transform())
    axis.set_xlim(from_axis(borders[0]), from_axis(borders[-1]))
    axis.set_ylim(0, len(curves))
    axis.set_yticks([])


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
    figure, (axis, strip) = pyplot.subplots(
        2, 1, sharex=True, figsize=(7.5, 4.8 + 0.18 * len(curves)), dpi=dpi,
        gridspec_kw={"height_ratios": [4.8, 0.18 * len(curves) + 0.1]})
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
        if curve.pruned:
            axis.plot(*zip(*curve.pruned), "o", markerfacecolor="none", color=colour,
                      markersize=4)
        if curve.best is not None:
            axis.plot(*curve.best, "*", color=colour, markersize=15, markeredgecolor="black")
    values = [value for curve in curves for value in curve.values + curve.diverged]
    log_x = bool(values) and min(values) > 0 and max(values) / min(values) >= 10
    if log_x:
        axis.set_xscale("log")
    _draw_regions(strip, curves, colours, log_x)
    if log_y:
        axis.set_yscale("log")
    if any(curve.diverged for curve in curves):
        axis.axhline(top, color="grey", linewidth=0.5, linestyle=":")
        axis.annotate("× diverged", (0.01, 0.97), xycoords="axes fraction", fontsize=8,
                      va="top", color="grey")
    strip.set_xlabel(key)
    axis.set_ylabel("final loss")
    axis.set_title(title or f"final loss against {key} (★ best of each)", fontsize=10)
    axis.legend(fontsize=8)
    return save_figure(figure, output, dpi)
