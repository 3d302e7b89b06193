"""Decision-boundary pictures (``make tour``): for a lesson whose runs train a classifier on
two-feature data (``examples/08_moons.json``), the loss per update beside each run's class
regions at its final parameters, with the samples and the share of them classified right.

Drawn with matplotlib as ``cli/plot.py`` draws the other lessons (its colours, ``save_figure``).
The forward pass follows the layout of docs/spec.md §3.3 (the mlp: W1 d×h row-major, b1 h,
W2 h×o row-major, b2 o); ``tests/examples/test_moons.py`` checks it against the engine's loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cli.plot import COLORS, Row, _pyplot, objective_of, save_figure

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0),
               "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}
RESOLUTION = 100
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def mlp_outputs(spec: dict[str, Any], params: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The outputs (n × o) of the resolved mlp ``spec`` with parameters ``params`` on ``X``."""
    options = spec["function_params"]
    d, h = X.shape[1], options["hidden"]
    o = (params.size - d * h - h) // (h + 1)
    W1 = params[: d * h].reshape(d, h)
    b1 = params[d * h: d * h + h]
    W2 = params[d * h + h: d * h + h + h * o].reshape(h, o)
    b2 = params[d * h + h + h * o:]
    return ACTIVATIONS[options["activation"]](X @ W1 + b1) @ W2 + b2


def accuracy(spec: dict[str, Any], params: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """The share of the samples whose largest output is their label."""
    return float(np.mean(mlp_outputs(spec, params, X).argmax(axis=1) == y))


def _draw_regions(axis: Any, spec: dict[str, Any], params: np.ndarray, X: np.ndarray,
                  y: np.ndarray) -> None:
    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (high - low)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], RESOLUTION)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], RESOLUTION)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    classes = mlp_outputs(spec, params, points).argmax(axis=1).reshape(grid_x.shape)
    from matplotlib.colors import ListedColormap

    count = int(y.max()) + 1
    axis.pcolormesh(xs, ys, classes, cmap=ListedColormap(CLASS_COLORS[:count]), alpha=0.25,
                    shading="nearest", vmin=-0.5, vmax=count - 0.5)
    axis.contour(xs, ys, classes, levels=np.arange(count - 1) + 0.5, colors="black",
                 linewidths=1.0)
    for label in range(count):
        chosen = y == label
        axis.scatter(X[chosen, 0], X[chosen, 1], s=12, color=CLASS_COLORS[label],
                     edgecolors="white", linewidths=0.4, label=f"class {label}")
    axis.set_xlabel("x₁")
    axis.set_ylabel("x₂")


def plot_boundaries(rows: Sequence[Row], output: str | Path, *, title: str = "",
                    dpi: int = 80) -> Path:
    """One row per figure: the loss per update of every run, then each run's class regions."""
    pyplot = _pyplot()
    columns = 1 + max(len(row.curves) for row in rows)
    figure, axes = pyplot.subplots(len(rows), columns, figsize=(4.4 * columns, 4.3 * len(rows)),
                                   dpi=dpi, squeeze=False)
    for row, row_axes in zip(rows, axes):
        objective = objective_of(row.curves[0].spec)
        X, y = objective.data[:, :-1], objective.data[:, -1]
        for index, curve in enumerate(row.curves):
            trajectory = curve.document["trajectory"]
            loss = np.asarray(trajectory["loss"], dtype=float)
            color = COLORS[index % len(COLORS)]
            row_axes[0].plot(trajectory["step"], loss, color=color, lw=2, label=curve.label)
            params = np.asarray(curve.document["final"]["params"], dtype=float)
            axis = row_axes[index + 1]
            _draw_regions(axis, curve.spec, params, X, y)
            axis.set_title(f"{curve.label}: loss {loss[-1]:.2g}, "
                           f"{accuracy(curve.spec, params, X, y):.0%} right", fontsize=10,
                           color=color)
        row_axes[0].set_yscale("log")
        row_axes[0].set_xlabel("update (step)")
        row_axes[0].set_ylabel("loss (cross-entropy)")
        row_axes[0].set_title(row.title, fontsize=10)
        row_axes[0].grid(True, alpha=0.3)
        row_axes[0].legend(fontsize=8)
        row_axes[1].legend(fontsize=7, loc="lower left")
    if title:
        figure.suptitle(title, fontsize=12, fontweight="bold")
    return save_figure(figure, output, dpi)
