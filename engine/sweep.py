"""Sweeps (SPEC.md §9.1): many runs from one base spec, run as few vectorised loops as possible.

A sweep body is ``{"base": {job spec}, "grid": {key: [values…], …}, "overrides": [{…}, …]}``.
``grid`` keys are spec fields (``learning_rate``, ``optimizer``, ``init``, ``seed``, …) or
optimizer hyperparameters written ``optimizer.<name>``. The runs are the Cartesian product of
the grid in the order its keys are given, the last key varying fastest (``itertools.product``
order), then each entry of ``overrides`` as one more run. An empty grid with overrides gives only
the overrides; an empty grid without overrides gives the base alone.

Every run is validated (``resolve_spec``) before anything runs. Runs that name the same
function, parameters and data share one ``Objective`` object, so runs that also agree on the
optimizer family, schedule shape, batching and limits (``engine.run.group_key``) go through one
``run_group`` call, vectorised over the run axis. A run inside a sweep gives the same result as
the same spec run alone: each row of the run axis is updated independently. With ``search``
(successive halving, ``engine.halving``) the groups advance together from rung to rung and the
runs that rank low are pruned between segments.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.budgets import check_sweep_budget
from engine.build import DatasetLoader, Limits, PreparedRun, parse_spec, resolve_spec
from engine.errors import SpecError, SpecErrors
from engine.halving import HalvingSearch, parse_search, run_halving, search_errors, search_summary
from engine.jsonio import canonical
from engine.result import RunResult, shrink_trajectory
from engine.run import Progress, group_key, run_group
from engine.spec import JobSpec

MAX_SWEEP_RUNS = 10_000
"""Default cap on the runs of one sweep (the service makes it configurable)."""
MAX_REPORTED_ERRORS = 50
"""A sweep whose base is wrong fails the same way in every run: report each problem once."""
SWEEP_FIELDS = ("base", "grid", "overrides", "best_by", "search")
HYPER_PREFIX = "optimizer."
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class SweepRunSpec:
    """One run of a sweep before validation: its index, what it changes, its whole spec."""

    index: int
    overrides: dict[str, Any]
    spec: dict[str, Any]
    grid_positions: dict[str, int] = field(default_factory=dict)  # grid key -> value index


@dataclass
class PreparedSweep:
    """Validated runs (``runs[k]`` is run ``indices[k]`` of the sweep) and their groups."""

    indices: list[int]
    overrides: list[dict[str, Any]]
    runs: list[PreparedRun]
    groups: list[list[int]]  # positions in ``runs``, one list per shared loop
    search: HalvingSearch | None = None
    brackets: list[list[int]] = field(default_factory=list)  # positions, one per best_by group

    @property
    def runs_total(self) -> int:
        return len(self.runs)


@dataclass(frozen=True)
class SweepProgress:
    """What a sweep's callback sees: runs finished so far, and the overall fraction. ``step`` and
    ``total_steps`` count runs, so a progress bar written for jobs shows ``runs done/total``."""

    runs_done: int
    runs_total: int
    fraction: float
    loss: float | None

    @property
    def step(self) -> int:
        return self.runs_done

    @property
    def total_steps(self) -> int:
        return self.runs_total


SweepCallback = Callable[[SweepProgress], bool]


# --- shape of the sweep body -----------------------------------------------------------------

def check_sweep_body(body: Any) -> tuple[dict[str, Any], dict[str, list[Any]], list[dict[str, Any]]]:
    """``(base, grid, overrides)`` of a sweep body, or ``SpecErrors`` naming each bad part."""
    if not isinstance(body, dict):
        raise SpecErrors([SpecError("", "a sweep is an object {base, grid, overrides}")])
    errors: list[SpecError] = []
    for name in body:
        if name not in SWEEP_FIELDS:
            errors.append(SpecError(str(name), f"unknown field; a sweep has {', '.join(SWEEP_FIELDS)}"))
    base = body.get("base")
    if not isinstance(base, dict):
        errors.append(SpecError("base", "the base job spec (an object) is required"))
    grid = body.get("grid") or {}
    if not isinstance(grid, dict):
        errors.append(SpecError("grid", "must be an object {field: [values…]}"))
        grid = {}
    spec_fields = set(JobSpec.model_fields)
    for key, values in grid.items():
        if key.startswith(HYPER_PREFIX):
            if not key[len(HYPER_PREFIX):]:
                errors.append(SpecError(f"grid.{key}", "name the hyperparameter: optimizer.<name>"))
        elif key not in spec_fields:
            errors.append(SpecError(
                f"grid.{key}", f"'{key}' is not a job spec field or optimizer.<hyperparameter>"))
        if not isinstance(values, list) or not values:
            errors.append(SpecError(f"grid.{key}", "must be a non-empty list of values"))
    overrides = body.get("overrides") or []
    if not isinstance(overrides, list):
        errors.append(SpecError("overrides", "must be a list of objects {field: value}"))
        overrides = []
    for k, entry in enumerate(overrides):
        if not isinstance(entry, dict):
            errors.append(SpecError(f"overrides[{k}]", "must be an object {field: value}"))
            continue
        for key in entry:
            if not key.startswith(HYPER_PREFIX) and key not in spec_fields:
                errors.append(SpecError(
                    f"overrides[{k}].{key}", f"'{key}' is not a job spec field or "
                    "optimizer.<hyperparameter>"))
    best_by = body.get("best_by")
    if best_by is not None and (not isinstance(best_by, list) or not all(
            isinstance(key, str) and key in grid for key in best_by)):
        errors.append(SpecError("best_by", "must be a list of grid keys, e.g. [\"optimizer\"] "
                                f"(the grid has {', '.join(map(str, grid)) or 'none'})"))
    errors.extend(parse_search(body.get("search"))[1])
    if errors:
        raise SpecErrors(errors)
    assert isinstance(base, dict)  # else an error above named it
    return base, grid, overrides


def count_runs(body: dict[str, Any]) -> int:
    """How many runs a (shape-checked) sweep body makes, without expanding it."""
    _, grid, overrides = check_sweep_body(body)
    product = math.prod(len(values) for values in grid.values()) if grid else 0
    if not grid and not overrides:
        product = 1
    return product + len(overrides)


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The base spec with these changes: whole fields first, then ``optimizer.<name>`` ones
    (which turn an optimizer name into ``{"name": …}``). The base is never modified."""
    spec = dict(base)
    for key, value in overrides.items():
        if not key.startswith(HYPER_PREFIX):
            spec[key] = value
    for key, value in overrides.items():
        if key.startswith(HYPER_PREFIX):
            optimizer = spec.get("optimizer", "sgd")
            optimizer = {"name": optimizer} if isinstance(optimizer, str) else dict(optimizer or {})
            optimizer[key[len(HYPER_PREFIX):]] = value
            spec["optimizer"] = optimizer
    return spec


def expand_sweep(body: dict[str, Any], *, max_runs: int = MAX_SWEEP_RUNS) -> list[SweepRunSpec]:
    """Every run's spec, in sweep order; ``SpecErrors`` on a bad shape or over ``max_runs``."""
    total = count_runs(body)
    if total > max_runs:
        raise SpecErrors([SpecError(
            "grid", f"the sweep has {total} runs, over this server's cap of {max_runs} runs "
            "per sweep; split it or shorten the grid")])
    base, grid, overrides = check_sweep_body(body)
    runs: list[SweepRunSpec] = []
    if grid or not overrides:
        keys = list(grid)
        for positions in itertools.product(*(range(len(grid[key])) for key in keys)):
            changes = {key: grid[key][j] for key, j in zip(keys, positions)}
            runs.append(SweepRunSpec(len(runs), changes, apply_overrides(base, changes),
                                     dict(zip(keys, positions))))
    for entry in overrides:
        runs.append(SweepRunSpec(len(runs), dict(entry), apply_overrides(base, entry)))
    return runs


# --- validation and grouping -----------------------------------------------------------------

def _blame(run: SweepRunSpec, error: SpecError) -> str:
    """The sweep field to name for a run's spec error: the grid value that caused it
    (``grid.learning_rate[2]``), the run whose override caused it (``runs[7].max_steps``),
    else the base (``base.max_steps``)."""
    def caused_by(key: str) -> bool:
        return error.field == key or error.field.startswith(key + ".")

    for key, position in run.grid_positions.items():
        if caused_by(key):
            return f"grid.{key}[{position}]"
    if not run.grid_positions and any(caused_by(key) for key in run.overrides):
        return f"runs[{run.index}].{error.field}"
    return f"base.{error.field}" if error.field else "base"


def _max_steps_field(body: dict[str, Any], runs: Sequence[SweepRunSpec]) -> str:
    """Where the runs' differing ``max_steps`` come from: the grid, else the first extra run
    that sets one unlike the first run's."""
    if "max_steps" in (body.get("grid") or {}):
        return "grid.max_steps"
    setters = [run for run in runs if "max_steps" in run.overrides]
    first = runs[0].spec.get("max_steps") if runs else None
    differing = [run for run in setters if run.overrides["max_steps"] != first] or setters
    return f"runs[{differing[0].index}].max_steps" if differing else "base.max_steps"


def _objective_key(spec: dict[str, Any]) -> bytes:
    """Runs with equal keys can share one Objective: same function, parameters and data.
    Inline data is keyed by identity (runs copied from one base share the very same lists), so
    a large dataset is never serialised to compare it."""
    data = spec.get("data")
    if isinstance(data, dict) and "X" in data:
        data_key: Any = ("inline", id(data))
    else:
        data_key = data
    return canonical([spec.get("function"), spec.get("function_params") or {}, data_key])


def _caching_loader(load_dataset: DatasetLoader | None) -> DatasetLoader | None:
    """Fetch each dataset once per sweep, however many runs name it."""
    if load_dataset is None:
        return None
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def load(dataset_id: str) -> tuple[np.ndarray, np.ndarray]:
        if dataset_id not in cache:
            cache[dataset_id] = load_dataset(dataset_id)
        return cache[dataset_id]

    return load


def prepare_sweep(
    body: dict[str, Any],
    *,
    limits: Limits = DEFAULT_LIMITS,
    load_dataset: DatasetLoader | None = None,
    max_runs: int = MAX_SWEEP_RUNS,
    indices: Iterable[int] | None = None,
) -> PreparedSweep:
    """Expand and validate the sweep (all runs, or only ``indices``), share objectives, group.

    Raises ``SpecErrors`` listing each distinct problem once, named ``grid.<key>[i]`` or
    ``runs[i].<field>``; nothing has run then.
    """
    expanded = expand_sweep(body, max_runs=max_runs)
    chosen = expanded if indices is None else [expanded[i] for i in indices]
    loader = _caching_loader(load_dataset)
    errors: list[SpecError] = []
    seen: set[tuple[str, str]] = set()
    prepared: list[PreparedRun] = []
    objectives: dict[bytes, Any] = {}
    for run in chosen:
        try:
            resolved = resolve_spec(run.spec, limits=limits, load_dataset=loader)
        except SpecErrors as problems:
            for problem in problems.errors:
                blamed = _blame(run, problem)
                identity = (blamed, problem.message)
                if identity not in seen and len(errors) < MAX_REPORTED_ERRORS:
                    seen.add(identity)
                    errors.append(SpecError(blamed, problem.message))
            continue
        if errors:
            continue  # keep collecting errors, but stop holding objectives in memory
        shared = objectives.setdefault(_objective_key(run.spec), resolved.objective)
        resolved.objective = shared
        prepared.append(resolved)
    search = parse_search(body.get("search"))[0]
    if search is not None and not errors:
        errors.extend(search_errors(search, [int(run.spec["max_steps"]) for run in prepared],
                                    _max_steps_field(body, chosen)))
    if errors:
        raise SpecErrors(errors)
    if indices is None:  # the whole sweep, as submitted: its runs together (docs/spec.md §9.4)
        over_budget = check_sweep_budget([run.cost for run in prepared], limits.sweep_record_bytes)
        if over_budget is not None:
            raise SpecErrors([over_budget])
    return PreparedSweep(
        indices=[run.index for run in chosen],
        overrides=[run.overrides for run in chosen],
        runs=prepared,
        groups=group_runs(prepared),
        search=search,
        brackets=best_by_groups([run.overrides for run in chosen], body.get("best_by") or []),
    )


def best_by_groups(overrides: Sequence[dict[str, Any]], best_by: Sequence[str]) -> list[list[int]]:
    """Positions of the runs sharing their ``best_by`` values, groups in order of first
    appearance (all runs in one group without ``best_by``)."""
    groups: dict[bytes, list[int]] = {}
    for position, changes in enumerate(overrides):
        label = canonical({name: changes.get(name) for name in best_by})
        groups.setdefault(label, []).append(position)
    return list(groups.values())


def group_runs(runs: Sequence[PreparedRun]) -> list[list[int]]:
    """Positions of runs that can share one loop, groups in order of first appearance."""
    groups: dict[tuple, list[int]] = {}
    for position, run in enumerate(runs):
        groups.setdefault(group_key(run), []).append(position)
    return list(groups.values())


def split_groups(groups: Sequence[Sequence[int]], *, pieces: int, min_runs: int = 32,
                 max_runs: int = 2048) -> list[list[int]]:
    """Split groups into at least ``pieces`` chunks where possible (so every worker is busy),
    never below ``min_runs`` runs a chunk (vectorisation pays), never above ``max_runs``
    (memory of the record arrays)."""
    chunks = [list(group[start:start + max_runs]) for group in groups
              for start in range(0, len(group), max_runs)]
    while len(chunks) < pieces:
        largest = max(range(len(chunks)), key=lambda k: len(chunks[k]), default=None)
        if largest is None or len(chunks[largest]) < 2 * min_runs:
            break
        chunk = chunks.pop(largest)
        half = len(chunk) // 2
        chunks[largest:largest] = [chunk[:half], chunk[half:]]
    return chunks


def sweep_chunks(prepared: PreparedSweep, *, pieces: int) -> list[list[int]]:
    """The sweep's pieces of work (positions in ``prepared.runs``), one task each: the groups
    split by ``split_groups``; with ``search``, each ``best_by`` group whole, since its runs
    are ranked against each other at every rung."""
    if prepared.search is not None:
        return [list(bracket) for bracket in prepared.brackets]
    return split_groups(prepared.groups, pieces=pieces)


# --- running ---------------------------------------------------------------------------------

def run_sweep(prepared: PreparedSweep,
              callback: SweepCallback | None = None) -> list[RunResult | None]:
    """Run every group; results in the order of ``prepared.runs``. A callback returning False
    cancels: the running group keeps its partial trajectories (``cancelled``), later groups
    do not run (they have no result: None). With ``search`` the groups run together, pruned
    at each rung (``engine.halving``)."""
    if prepared.search is not None:
        return _run_halving(prepared, callback)
    results: list[RunResult | None] = [None] * prepared.runs_total
    done = 0
    cancelled = False
    for group in prepared.groups:
        if cancelled:
            break
        size = len(group)

        def relay(progress: Progress, done: int = done, size: int = size) -> bool:
            nonlocal cancelled
            assert callback is not None  # relay is handed on only when there is a callback
            fraction = (done + progress.fraction * size) / prepared.runs_total
            keep_going = callback(SweepProgress(done, prepared.runs_total, fraction, progress.loss))
            cancelled = cancelled or not keep_going
            return keep_going

        group_results = run_group([prepared.runs[k] for k in group],
                                  relay if callback is not None else None)
        for position, result in zip(group, group_results):
            results[position] = result
        done += size
        if callback is not None and not cancelled:
            cancelled = not callback(SweepProgress(done, prepared.runs_total,
                                                   done / prepared.runs_total, None))
    return results


def _run_halving(prepared: PreparedSweep,
                 callback: SweepCallback | None) -> list[RunResult | None]:
    assert prepared.search is not None

    def relay(runs_done: int, fraction: float) -> bool:
        assert callback is not None  # relay is handed on only when there is a callback
        return callback(SweepProgress(runs_done, prepared.runs_total, fraction, None))

    return list(run_halving(prepared.runs, prepared.groups, prepared.brackets, prepared.indices,
                            prepared.search, relay if callback is not None else None))


def steps_to_target(summary: dict[str, Any]) -> int | None:
    """Steps a run took to reach its ``target_loss`` (None when not set or not reached)."""
    return int(summary["steps"]) if summary.get("stop_reason") == "target_loss" else None


def run_entry(index: int, overrides: dict[str, Any], summary: dict[str, Any] | None) -> dict[str, Any]:
    """One run of the sweep result (SPEC.md §9.1); a run that never ran (cancelled sweep) has
    ``stop_reason`` cancelled, 0 steps and no final point."""
    if summary is None:
        return {"index": index, "overrides": overrides, "stop_reason": "cancelled", "steps": 0,
                "epochs": None, "final": None, "nearest_stationary_point": None,
                "steps_to_target": None}
    return {"index": index, "overrides": overrides, "stop_reason": summary["stop_reason"],
            "steps": summary["steps"], "epochs": summary.get("epochs"), "final": summary["final"],
            "nearest_stationary_point": summary.get("nearest_stationary_point"),
            "steps_to_target": steps_to_target(summary)}


def comparison_table(entries: Sequence[dict[str, Any]]) -> list[int]:
    """Run indices, best (lowest) final loss first; then runs a halving search pruned (their
    losses are from fewer steps: the furthest first, then by loss); diverged or non-finite
    runs after every finite one, runs without a result last; ties by index."""
    def rank(entry: dict[str, Any]) -> tuple:
        final = entry.get("final")
        if final is None:
            return (3, 0, 0.0, entry["index"])
        loss = final.get("loss")
        if entry["stop_reason"] == "diverged" or loss is None or not math.isfinite(float(loss)):
            return (2, 0, 0.0, entry["index"])
        if entry["stop_reason"] == "pruned":
            return (1, -int(entry["steps"]), float(loss), entry["index"])
        return (0, 0, float(loss), entry["index"])

    return [entry["index"] for entry in sorted(entries, key=rank)]


def best_per_group(entries: Sequence[dict[str, Any]], best_by: Sequence[str],
                   base: dict[str, Any]) -> list[dict[str, Any]]:
    """docs/spec.md §9.1.1: the best run of each group of runs sharing the ``best_by`` values,
    in the order the groups first appear: ``{"key", "run", "learning_rate", "final_loss"}``.
    Diverged runs, pruned runs (a halving search stopped them short) and runs without a result
    are never best: a group of only those has ``run`` None."""
    groups: dict[bytes, list[dict[str, Any]]] = {}
    keys: dict[bytes, dict[str, Any]] = {}
    for entry in entries:
        key = {name: entry["overrides"].get(name) for name in best_by}
        label = canonical(key)
        keys.setdefault(label, key)
        groups.setdefault(label, []).append(entry)
    best = []
    for label, members in groups.items():
        by_index = {entry["index"]: entry for entry in members}
        first = by_index[comparison_table(members)[0]]
        usable = first["final"] is not None and first["stop_reason"] not in ("diverged", "pruned") \
            and math.isfinite(float(first["final"]["loss"]))
        best.append({
            "key": keys[label], "run": first["index"] if usable else None,
            "learning_rate": first["overrides"].get("learning_rate",
                                                    base.get("learning_rate")) if usable else None,
            "final_loss": first["final"]["loss"] if usable else None,
        })
    return best


def sweep_result(body: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"runs", "table", "summary"}`` and, with ``best_by``, ``"best"`` (docs/spec.md §9.1)."""
    table = comparison_table(entries)
    result: dict[str, Any] = {"runs": entries, "table": table,
                              "summary": sweep_summary(entries, table)}
    if body.get("search"):
        result["summary"]["search"] = search_summary(body["search"], entries, _max_steps(body))
    if body.get("best_by"):
        result["best"] = best_per_group(entries, body["best_by"], body.get("base") or {})
    return result


def _max_steps(body: dict[str, Any]) -> int:
    """The one ``max_steps`` of a halving sweep's runs (validated to be one), from its first run."""
    return parse_spec(expand_sweep(body, max_runs=count_runs(body))[0].spec).max_steps


def sweep_summary(entries: Sequence[dict[str, Any]], table: Sequence[int]) -> dict[str, Any]:
    """The finished sweep at a glance: counts by stop reason and the best run."""
    reasons: dict[str, int] = {}
    for entry in entries:
        reasons[entry["stop_reason"]] = reasons.get(entry["stop_reason"], 0) + 1
    by_index = {entry["index"]: entry for entry in entries}
    best = by_index[table[0]] if table else None
    return {
        "runs": len(entries),
        "stop_reasons": reasons,
        "best": None if best is None or best["final"] is None else {
            "index": best["index"], "overrides": best["overrides"],
            "final_loss": best["final"]["loss"], "stop_reason": best["stop_reason"],
            "steps": best["steps"]},
    }


def run_sweep_locally(
    body: dict[str, Any],
    callback: SweepCallback | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    load_dataset: DatasetLoader | None = None,
    max_runs: int = MAX_SWEEP_RUNS,
    trajectories: Iterable[int] | bool = False,
    max_points: int | None = None,
) -> dict[str, Any]:
    """Validate and run a whole sweep here: ``{"runs": [...], "table": [...], "summary": {...}}``
    (SPEC.md §9.1). ``trajectories`` (True for all, or run indices) adds those runs'
    trajectories, shrunk to ``max_points``."""
    prepared = prepare_sweep(body, limits=limits, load_dataset=load_dataset, max_runs=max_runs)
    results = run_sweep(prepared, callback)
    wanted = set(prepared.indices) if trajectories is True else set(trajectories or ())
    entries = []
    for index, overrides, result in zip(prepared.indices, prepared.overrides, results):
        entry = run_entry(index, overrides, None if result is None else result.summary())
        if result is not None and index in wanted:
            entry["trajectory"] = shrink_trajectory(result.trajectory, max_points=max_points)
        entries.append(entry)
    return sweep_result(body, entries)


__all__ = [
    "MAX_SWEEP_RUNS",
    "PreparedSweep",
    "SweepProgress",
    "SweepRunSpec",
    "apply_overrides",
    "best_by_groups",
    "best_per_group",
    "check_sweep_body",
    "comparison_table",
    "count_runs",
    "expand_sweep",
    "group_runs",
    "prepare_sweep",
    "run_entry",
    "run_sweep",
    "run_sweep_locally",
    "split_groups",
    "steps_to_target",
    "sweep_chunks",
    "sweep_result",
    "sweep_summary",
]
