"""``descent plot``: pictures of runs — the objective's contour with the trajectories on it,
start and end marked, its known stationary points marked by kind, and the loss curves (log
scale) beside it.

Inputs are result documents (SPEC.md §8) written by ``descent run -o``, which carry the resolved
spec under ``"spec"`` (``--spec SPEC.json`` supplies or overrides it), or lesson files from
``examples/`` (format in ``examples/README.md``), which are run on the spot.

One row of panels per objective (results on the same function, parameters and data share a
row). A row shows:

- 2 parameters (a 2-D function, or a dataset model with two parameters such as one-feature
  linear regression's (w, b)): the contour of the objective, evaluated with ``Objective.value``
  on a grid, with logarithmically spaced levels when the surface spans decades;
- 1 parameter: the curve f(x) with the iterates on it;
- more parameters: no surface, loss curves only;
- then the loss per step (per update), and for dataset models also the loss per epoch.

matplotlib is an optional dependency (``pip install 'descent[plot]'``); it is imported only
here, with the non-interactive Agg backend.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    check_output_path,
    json_kind,
)
from cli.errors import read_json as read_json_file
from cli.plot_sweep import is_sweep_result, plot_sweep

IMAGE_FORMATS = (".png", ".svg", ".pdf")

MAX_EPOCH_DOTS = 20  # beyond this many epochs the end-of-epoch dots only clutter the curve
GRID_POINTS = 160  # per axis: smooth contours, still a fraction of a second per surface
MAX_PLOTTED_POINTS = 20000  # a longer trajectory is thinned evenly (first and last kept)
COLORS = ("#d62728", "#000000", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
SURFACE_COLORS = ("#ffffff", "#dfe6ef", "#9fb0c8", "#5d7291")  # low (valleys) light, walls dark
STATIONARY_STYLE = {  # kind -> (marker, face colour, size, legend text)
    "global": ("*", "#ffd700", 190, "global minimum"),
    "local": ("o", "#ffffff", 60, "local minimum"),
    "saddle": ("X", "#ff00ff", 80, "saddle"),
    "maximum": ("^", "#ff4500", 70, "maximum"),
    "degenerate": ("D", "#aaaaaa", 50, "degenerate"),
}


class PlotError(CommandError):
    """A problem the user can fix (missing file, no spec, no matplotlib); ``exit_code`` is what
    the command returns."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message, exit_code)


@dataclass
class Curve:
    """One run to draw: its result document (SPEC.md §8; arrays or lists with ``None`` for
    non-finite numbers), the resolved spec it came from, and a legend label (empty: derived
    from what differs between the runs of a row)."""

    document: dict[str, Any]
    spec: dict[str, Any]
    label: str = ""
    source: str = ""


@dataclass
class Row:
    """Runs on one objective: one row of panels."""

    title: str
    curves: list[Curve] = field(default_factory=list)


# --- inputs --------------------------------------------------------------------------------------
def read_json(path: str | Path) -> Any:
    """A JSON file, or ``PlotError`` naming the file (missing, a directory, not JSON)."""
    try:
        return read_json_file(path, "a result")
    except CommandError as error:
        raise PlotError(str(error), error.exit_code) from None


def is_lesson(document: Any) -> bool:
    """A lesson file (``examples/``) has ``figures``; a result document has ``trajectory``."""
    return isinstance(document, dict) and "figures" in document and "trajectory" not in document


def lesson_specs(lesson: dict[str, Any]) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """The figures of a lesson file as ``(title, [(label, spec), …])``: each run's spec is the
    figure's ``base`` updated (shallowly, field by field) by the run's entries other than
    ``label``."""
    figures = []
    for number, figure in enumerate(lesson["figures"]):
        base = figure.get("base", {})
        runs = []
        for index, run in enumerate(figure["runs"]):
            overrides = {key: value for key, value in run.items() if key != "label"}
            runs.append((run.get("label", f"run {index}"), {**base, **overrides}))
        figures.append((figure.get("title", f"figure {number + 1}"), runs))
    return figures


def run_lesson(lesson: dict[str, Any]) -> list[Row]:
    """Run every spec of a lesson file through the engine: one ``Row`` per figure."""
    from engine import resolve_spec, run_group

    rows = []
    for title, runs in lesson_specs(lesson):
        row = Row(title)
        for label, spec in runs:
            prepared = resolve_spec(spec)
            result = run_group([prepared])[0]
            _OBJECTIVES[_objective_key(result.spec)] = prepared.objective
            row.curves.append(Curve(result.to_document(), result.spec, label))
        rows.append(row)
    return rows


def _run_lesson_file(path: str, lesson: dict[str, Any]) -> list[Row]:
    """``run_lesson``, with a lesson file's mistakes reported as ``PlotError`` naming it."""
    from engine import SpecErrors

    try:
        return run_lesson(lesson)
    except SpecErrors as errors:
        problems = "; ".join(f"{e.field or '(spec)'}: {e.message}" for e in errors.errors)
        raise PlotError(f"{path}: a run's spec is invalid: {problems}", EXIT_BAD_INPUT) from None
    except (AttributeError, KeyError, TypeError) as error:
        raise PlotError(f"{path} is not a lesson file as examples/README.md describes "
                        f"({type(error).__name__}: {error})", EXIT_BAD_INPUT) from None


def load_rows(paths: Sequence[str], spec_path: str | None = None) -> tuple[str, list[Row]]:
    """Read result documents and lesson files into rows (results grouped by objective, in the
    order first seen); also returns a title (the lesson's, when there is one)."""
    override = read_json(spec_path) if spec_path else None
    if override is not None and not isinstance(override, dict):
        raise PlotError(f"{spec_path} is not a job spec (a JSON object)", EXIT_BAD_INPUT)
    title = ""
    rows: list[Row] = []
    by_objective: dict[str, Row] = {}
    for path in paths:
        document = read_json(path)
        if is_lesson(document):
            title = title or str(document.get("lesson", ""))
            rows.extend(_run_lesson_file(path, document))
            continue
        if not isinstance(document, dict):
            raise PlotError(f"{path} is not a result document or a lesson file: those are JSON "
                            f"objects, not {json_kind(document)}", EXIT_BAD_INPUT)
        if "trajectory" not in document:
            raise PlotError(
                f"{path} is neither a result document (no 'trajectory') nor a lesson file",
                EXIT_BAD_INPUT,
            )
        spec = override if override is not None else document.get("spec")
        if spec is None:
            raise PlotError(
                f"{path} carries no spec, so the objective cannot be drawn: write it with "
                "`descent run SPEC.json -o RESULT.json` or pass --spec SPEC.json",
                EXIT_BAD_INPUT,
            )
        key = _objective_key(spec)
        if key not in by_objective:
            by_objective[key] = Row(_function_title(spec))
            rows.append(by_objective[key])
        by_objective[key].curves.append(Curve(document, spec, source=Path(path).stem))
    return title, rows


# --- the objective behind a spec ------------------------------------------------------------------
_OBJECTIVES: dict[str, Any] = {}


def _objective_key(spec: dict[str, Any]) -> str:
    return json.dumps(
        [spec.get("function"), spec.get("function_params") or {}, spec.get("data")],
        sort_keys=True,
    )


def objective_of(spec: dict[str, Any]) -> Any:
    """The engine's ``Objective`` for a spec (built once per function, parameters and data)."""
    key = _objective_key(spec)
    if key not in _OBJECTIVES:
        from engine import SpecErrors, resolve_spec

        try:
            _OBJECTIVES[key] = resolve_spec(spec).objective
        except SpecErrors as errors:
            problems = "; ".join(f"{e.field or '(spec)'}: {e.message}" for e in errors.errors)
            raise PlotError(f"the spec cannot be resolved: {problems}", EXIT_BAD_INPUT) from None
    return _OBJECTIVES[key]


def stationary_points(objective: Any) -> list[tuple[np.ndarray, float, str]]:
    """Known stationary points as ``(params, value, kind)``: the catalogue's, else (formulas)
    those ``engine.analysis`` finds in the bounds; none when neither is available."""
    points = [
        (np.asarray(p.params, float), float(p.value), p.kind) for p in objective.stationary_points
    ]
    if points or objective.n_samples or not objective.bounds:
        return points
    try:
        from engine.analysis import find_stationary_points

        found = find_stationary_points(objective, objective.bounds)
    except (ImportError, ArithmeticError, ValueError, TypeError):
        # the markers are a nicety here: a picture without them beats no picture
        return []
    return [(np.asarray(p["params"], float), float(p["value"]), str(p["kind"])) for p in found]


def _function_title(spec: dict[str, Any]) -> str:
    function = spec.get("function")
    if isinstance(function, dict):
        return f"f = {function.get('expression')}"
    params = {k: v for k, v in (spec.get("function_params") or {}).items() if v is not None}
    detail = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{function}({detail})" if detail else str(function)


# --- labels ---------------------------------------------------------------------------------------
def _describe(spec: dict[str, Any]) -> dict[str, str]:
    """What tells runs on one objective apart, as short texts."""
    optimizer = spec.get("optimizer", "sgd")
    if isinstance(optimizer, dict):
        name = str(optimizer.get("name", "sgd"))
        if name == "sgd" and optimizer.get("momentum"):
            name = f"momentum {optimizer['momentum']:g}" + (
                " nesterov" if optimizer.get("nesterov") else ""
            )
        elif name == "sgd":
            name = "gd"
    else:
        name = str(optimizer)
    batching = spec.get("batching", "full")
    if batching == "minibatch":
        batching = f"mini-batch {spec.get('batch_size')}"
    init = spec.get("init")
    return {
        "optimizer": name,
        "lr": "" if spec.get("learning_rate") is None else f"lr {spec['learning_rate']:g}",
        "batching": str(batching),
        "init": "" if init is None else "start (" + ", ".join(f"{v:g}" for v in init) + ")",
        "noise": f"noise σ={spec['gradient_noise']:g}" if spec.get("gradient_noise") else "",
    }


def _labels(curves: Sequence[Curve]) -> list[str]:
    """The given labels; else the describing fields that differ across the row (optimizer and
    learning rate when nothing differs, the file name when even those agree)."""
    described = [_describe(curve.spec) for curve in curves]
    differing = [k for k in described[0] if len({d[k] for d in described}) > 1]
    labels = []
    for curve, description in zip(curves, described):
        if curve.label:
            text = curve.label
        elif differing:
            text = ", ".join(description[k] for k in differing if description[k])
        elif len(curves) > 1 and curve.source:
            text = curve.source
        else:
            text = ", ".join(v for v in (description["optimizer"], description["lr"]) if v)
        if curve.document.get("stop_reason") == "diverged" and "diverge" not in text:
            text += " — diverged"
        labels.append(text)
    return labels


# --- drawing --------------------------------------------------------------------------------------
def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotError(
            "descent plot needs matplotlib, which is not installed: "
            "pip install 'descent[plot]' (or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _column(document: dict[str, Any], name: str) -> np.ndarray:
    """A trajectory column as float64 (``None`` — a non-finite number in JSON — becomes NaN)."""
    return np.asarray(document["trajectory"][name], dtype=float)


def _thin(n: int) -> np.ndarray:
    if n <= MAX_PLOTTED_POINTS:
        return np.arange(n)
    return np.unique(np.rint(np.linspace(0, n - 1, MAX_PLOTTED_POINTS)).astype(int))


def _view_box(
    objective: Any, curves: Sequence[Curve], points: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The plotted box: every iterate of the runs that did not diverge, the iterates of
    diverging runs while they are inside the objective's bounds (so one run flying off does not
    shrink the rest to a dot), and the known stationary points inside the bounds; padded 8 %."""
    bounds = np.asarray(objective.bounds, float) if objective.bounds else None

    def within_bounds(cloud: np.ndarray) -> np.ndarray:
        if bounds is None:
            return cloud
        return cloud[np.all((cloud >= bounds[:, 0]) & (cloud <= bounds[:, 1]), axis=1)]

    clouds = []
    for curve in curves:
        params = _column(curve.document, "params")
        params = params[np.all(np.isfinite(params), axis=1)]
        clouds.append(within_bounds(params) if _diverged(curve) else params)
    clouds += [within_bounds(point[None, :]) for point in points]
    cloud = np.vstack([c for c in clouds if c.size] or [np.zeros((1, objective.dims))])
    low, high = cloud.min(axis=0), cloud.max(axis=0)
    span = high - low
    pad = np.where(span > 0, 0.08 * span, np.maximum(0.1 * np.abs(high), 0.5))
    return low - pad, high + pad


def _diverged(curve: Curve) -> bool:
    return curve.document.get("stop_reason") == "diverged"


def _contour_levels(z: np.ndarray) -> tuple[np.ndarray, bool]:
    """25 levels, spaced logarithmically in (z − min z): the floor of a bowl or a valley gets
    as many lines as its steep walls (linear when the surface is flat)."""
    finite = z[np.isfinite(z)]
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.array([low, low + 1.0]), False
    smallest = max(float(np.percentile(finite - low, 0.5)), (high - low) * 1e-6)
    return low + np.geomspace(smallest, high - low, 25), True


def _inside_prefix(xy: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The iterates up to and including the first that leaves the view (or is not finite):
    a diverging run is drawn until it flies off the picture, not as a scribble across it."""
    inside = np.all(np.isfinite(xy) & (xy >= low) & (xy <= high), axis=1)
    outside = np.flatnonzero(~inside)
    if not len(outside):
        return xy
    first = int(outside[0])
    if np.all(np.isfinite(xy[first])):
        return xy[: first + 1]
    return xy[:first]


def _parameter_names(objective: Any, spec: dict[str, Any]) -> list[str]:
    function = spec.get("function")
    if isinstance(function, dict) and function.get("variables"):
        return list(function["variables"])
    if getattr(objective, "parameter_names", ()):
        return list(objective.parameter_names)
    return [f"x{i + 1}" for i in range(objective.dims)]


def _draw_surface(axis: Any, objective: Any, row: Row, labels: list[str]) -> None:
    points = stationary_points(objective)
    names = _parameter_names(objective, row.curves[0].spec)
    low, high = _view_box(objective, row.curves, [p for p, _, _ in points])
    if objective.dims == 1:
        x = np.linspace(low[0], high[0], 400)
        axis.plot(x, objective.value(x[:, None]), color="#555555", lw=1.2)
        axis.set_xlabel(names[0])
        axis.set_ylabel("f")
    else:
        xs = np.linspace(low[0], high[0], GRID_POINTS)
        ys = np.linspace(low[1], high[1], GRID_POINTS)
        grid_x, grid_y = np.meshgrid(xs, ys)
        grid = np.ascontiguousarray(np.column_stack([grid_x.ravel(), grid_y.ravel()]))
        z = objective.value(grid).reshape(grid_x.shape)
        levels, logarithmic = _contour_levels(z)
        from matplotlib.colors import BoundaryNorm, LinearSegmentedColormap

        colormap = LinearSegmentedColormap.from_list("surface", SURFACE_COLORS)
        norm = BoundaryNorm(levels, 256, extend="both")
        axis.contourf(grid_x, grid_y, z, levels=levels, cmap=colormap, norm=norm, extend="both")
        axis.contour(grid_x, grid_y, z, levels=levels, colors="#ffffff", linewidths=0.4, alpha=0.6)
        axis.set_xlim(low[0], high[0])
        axis.set_ylim(low[1], high[1])
        axis.set_xlabel(names[0])
        axis.set_ylabel(names[1])
        axis.text(
            0.01, 0.01, "log-spaced levels" if logarithmic else "linear levels",
            transform=axis.transAxes, fontsize=7, color="#333333",
            bbox={"facecolor": "white", "alpha": 0.6, "lw": 0, "pad": 1},
        )
    for index, (curve, label) in enumerate(zip(row.curves, labels)):
        color = COLORS[index % len(COLORS)]
        params = _column(curve.document, "params")
        params = params[_thin(len(params))]
        if _diverged(curve):
            params = _inside_prefix(params, low, high)
        if objective.dims == 1:
            with np.errstate(all="ignore"):
                xy = np.column_stack([params[:, 0], objective.value(params)])
        else:
            xy = params[:, :2]
        if not len(xy):
            continue
        few = len(xy) <= 80
        width = max(2.4 - 0.4 * index, 1.0)  # later runs thinner: overlapping paths stay visible
        axis.plot(xy[:, 0], xy[:, 1], color=color, lw=width, marker="." if few else None,
                  ms=4, zorder=3)
        axis.plot(*xy[0], marker="o", ms=8, mfc="none", mec=color, mew=2, zorder=4)
        if not _diverged(curve):
            axis.plot(*xy[-1], marker="s", ms=6, color=color, mec="black", mew=0.8, zorder=6)
    shown: set[str] = set()
    for params, value, kind in points:
        if not np.all((params >= low) & (params <= high)):
            continue
        marker, face, size, text = STATIONARY_STYLE.get(kind, STATIONARY_STYLE["degenerate"])
        point = (params[0], value) if objective.dims == 1 else (params[0], params[1])
        axis.scatter(*point, marker=marker, s=size, c=face, edgecolors="black", linewidths=0.8,
                     zorder=5, label=None if text in shown else text)
        shown.add(text)
    axis.plot([], [], marker="o", ls="none", mfc="none", mec="black", label="start")
    axis.plot([], [], marker="s", ls="none", color="black", label="end")
    axis.legend(fontsize=7, loc="best", framealpha=0.8)


def _loss_offset(objective: Any) -> float:
    """The global minimum's value when known and non-zero (curves then show loss − f*, which
    a log scale can draw), else 0."""
    if objective.n_samples:
        return 0.0
    values = [value for _, value, kind in stationary_points(objective) if kind == "global"]
    return min(values) if values else 0.0


def _draw_losses(axes: list[Any], objective: Any, row: Row, labels: list[str]) -> None:
    offset = _loss_offset(objective)
    per_epoch = bool(objective.n_samples)
    losses = [_column(curve.document, "loss") - offset for curve in row.curves]
    # below f* by more than round-off means unbounded below (e.g. x² − y²): symlog, not log
    round_off = 1e-9 * max(1.0, abs(offset))
    positive = np.concatenate([loss[np.isfinite(loss) & (loss > 0)] for loss in losses])
    # a log scale cannot show 0: exact convergence is drawn a decade below the smallest loss
    floor = float(positive.min()) / 10 if positive.size else 1e-18
    for index, (curve, label) in enumerate(zip(row.curves, labels)):
        color = COLORS[index % len(COLORS)]
        keep = _thin(len(curve.document["trajectory"]["step"]))
        steps = _column(curve.document, "step")[keep]
        loss = losses[index][keep]
        with np.errstate(invalid="ignore"):
            clipped = np.where(loss < -round_off, loss, np.maximum(loss, floor))
            shown = np.where(np.isfinite(loss), clipped, np.nan)
        axes[0].plot(steps, shown, color=color, lw=max(2.2 - 0.3 * index, 1.0), label=label)
        if per_epoch:
            batch = int(curve.spec.get("batch_size") or objective.n_samples)
            steps_per_epoch = math.ceil(objective.n_samples / min(batch, objective.n_samples))
            axes[1].plot(steps / steps_per_epoch, shown, color=color, lw=1.0, label=label)
            epoch_loss = curve.document.get("epoch_loss")
            if epoch_loss is not None and 0 < len(epoch_loss) <= MAX_EPOCH_DOTS:
                values = np.asarray(epoch_loss, dtype=float)
                axes[1].plot(np.arange(1, len(values) + 1), np.maximum(values, floor),
                             ls="none", marker="o", ms=5, color=color, mec="black", mew=0.6)
    quantity = "loss" if offset == 0 else f"loss − f* (f* = {offset:.6g})"
    axes[0].set_xlabel("update (step)")
    axes[0].set_ylabel(quantity)
    axes[0].set_title("loss per update", fontsize=9)
    if per_epoch:
        axes[0].set_xscale("symlog", linthresh=1)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel(quantity)
        axes[1].set_title("loss per epoch", fontsize=9)
    finite = np.concatenate([loss[np.isfinite(loss)] for loss in losses])
    unbounded_below = bool(finite.size and finite.min() < -round_off)
    for axis in axes:
        if unbounded_below:  # below every known minimum (e.g. x² − y²): log both ways
            axis.set_yscale("symlog", linthresh=max(floor * 10, 1e-12))
        else:
            axis.set_yscale("log")
        axis.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=7, loc="best", framealpha=0.85)


def plot_rows(rows: Sequence[Row], output: str | Path, *, title: str = "", dpi: int = 80) -> Path:
    """Draw the rows (surface | loss per update [| loss per epoch]) into one PNG at ``output``."""
    if not rows or not any(row.curves for row in rows):
        raise PlotError("nothing to plot")
    pyplot = _pyplot()
    from matplotlib.gridspec import GridSpec

    layouts = []
    for row in rows:
        objective = objective_of(row.curves[0].spec)
        has_surface = objective.dims <= 2
        panels = int(has_surface) + 1 + int(bool(objective.n_samples))
        layouts.append((row, objective, has_surface, panels))
    columns = max(panels for *_, panels in layouts)
    width = 5.2 * columns
    height = 4.3 * len(rows) + (0.5 if title else 0.2)
    figure = pyplot.figure(figsize=(width, height), dpi=dpi)
    grid = GridSpec(len(rows), columns, figure=figure)
    for index, (row, objective, has_surface, panels) in enumerate(layouts):
        labels = _labels(row.curves)
        column = 0
        if has_surface:
            axis = figure.add_subplot(grid[index, 0])
            _draw_surface(axis, objective, row, labels)
            axis.set_title(row.title, fontsize=10)
            column = 1
        loss_axes = [figure.add_subplot(grid[index, column + k]) for k in range(panels - column)]
        _draw_losses(loss_axes, objective, row, labels)
        if not has_surface:
            loss_axes[0].set_title(f"{row.title}: loss per update", fontsize=10)
    if title:
        figure.suptitle(title, fontsize=12, fontweight="bold")
    return save_figure(figure, output, dpi)


def save_figure(figure: Any, output: str | Path, dpi: int) -> Path:
    """Lay out, write (a PNG as a compact palette PNG) and close ``figure``."""
    figure.tight_layout()
    path = Path(output)
    figure.savefig(path, dpi=dpi)
    _pyplot().close(figure)
    if path.suffix.lower() == ".png":
        _compact_png(path)
    return path


def _compact_png(path: Path) -> None:
    """Re-save with a 256-colour palette: a third of the size, no visible change for a plot of
    flat fills and lines (pillow comes with matplotlib)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    palette.save(path, optimize=True)


# --- the command ----------------------------------------------------------------------------------
def _command_plot(args: argparse.Namespace) -> int:
    try:
        if Path(args.output).suffix.lower() not in IMAGE_FORMATS:
            raise PlotError(f"-o {args.output}: the picture is written as "
                            f"{', '.join(IMAGE_FORMATS)}; name it so", EXIT_BAD_INPUT)
        if args.dpi < 10 or args.dpi > 1000:
            raise PlotError(f"--dpi {args.dpi}: from 10 to 1000", EXIT_BAD_INPUT)
        check_output_path(args.output)
        documents = [read_json(path) for path in args.results]
        if any(is_sweep_result(document) for document in documents):
            if len(documents) != 1:
                raise PlotError("a sweep result is drawn on its own: give just that one file",
                                EXIT_BAD_INPUT)
            path = plot_sweep(documents[0], args.output, swept=args.swept, title=args.title or "",
                              dpi=args.dpi)
        else:
            if args.swept:
                raise PlotError("--swept is for a sweep result", EXIT_BAD_INPUT)
            title, rows = load_rows(args.results, args.spec)
            path = plot_rows(rows, args.output, title=args.title or title, dpi=args.dpi)
    except CommandError as error:
        print(f"descent plot: {error}", file=sys.stderr)
        return error.exit_code
    print(f"wrote {path}")
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``descent plot RESULT.json… [--spec SPEC.json] -o FILE.png`` to the subcommands."""
    plot = commands.add_parser(
        "plot",
        help="draw results: contour, trajectories, stationary points, loss curves",
        description="Draw result documents (from `descent run -o`) or run and draw a lesson "
        "file from examples/; or draw a sweep result (from `descent sweep -o`): final loss "
        "against the swept value, one curve per group. Needs matplotlib "
        "(pip install 'descent[plot]').",
    )
    plot.add_argument("results", nargs="+", metavar="RESULT.json",
                      help="result documents or lesson files")
    plot.add_argument("-o", "--output", required=True, metavar="FILE.png", help="the picture")
    plot.add_argument("--spec", metavar="SPEC.json",
                      help="the job spec to draw the objective from (overrides the results' own)")
    plot.add_argument("--title", help="a title over the picture")
    plot.add_argument("--dpi", type=int, default=80, help="resolution (default 80)")
    plot.add_argument("--swept", metavar="KEY", help="a sweep result: the swept value drawn "
                      "along x (default learning_rate, else the first numeric one)")
    plot.set_defaults(handler=_command_plot)
