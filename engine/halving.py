"""Successive halving for sweeps (docs/spec.md §9.1.1): ``"search": {"method": "halving",
"eta": 3, "min_steps": 50}``.

Every run takes ``min_steps``; then, in each ``best_by`` group (the whole sweep without
``best_by``), the best ⌈n/eta⌉ of the n runs still in the race go on to ``eta × min_steps``,
and so on: the rungs are ``min_steps × eta^k`` below ``max_steps``, then ``max_steps``
(successive halving, Jamieson & Talwalkar 2016, "Non-stochastic best arm identification and
hyperparameter optimization", in the form with a minimum resource and a reduction factor eta
that Hyperband, Li et al. 2018, runs as its inner loop; the resource here is steps). Runs are
ranked by their full loss at the rung, diverged or non-finite ones last, ties by sweep index.
A run that stopped by itself
(``grad_tol``, ``target_loss``, ``diverged``) keeps its result and its place in the ranking,
so it holds a slot while its loss is among the best; a run dropped while still going stops
there with ``stop_reason: "pruned"`` and its partial trajectory.

The groups' loops (``engine.run.GroupLoop``) all advance to a rung, the ranking is made
across them (a ``best_by`` group may span several loops), and the runs that stop leave their
loops, which go on with the rest in smaller arrays: no run starts over, and each survivor's
trajectory is the one its spec gives as a job.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.build import PreparedRun, error_location
from engine.errors import SpecError
from engine.loop import ACTIVE, DIVERGED
from engine.result import RunResult
from engine.run import GroupLoop, Progress
from engine.spec import MAX_COUNT


class HalvingSearch(BaseModel):
    """A sweep's ``search``: successive halving (docs/spec.md §9.1.1)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"method": "halving", "eta": 3, "min_steps": 50}]})

    method: Literal["halving"] = Field(description="The search method: `halving` (successive "
                                       "halving).")
    eta: Annotated[int, Field(ge=2, le=MAX_COUNT)] = Field(
        default=3, description="At each rung the best ⌈n/eta⌉ runs of each `best_by` group go "
        "on, and the next rung is eta times further.")
    min_steps: Annotated[int, Field(ge=1, le=MAX_COUNT)] = Field(
        description="The first rung: steps every run takes before any is pruned (at most "
        "`max_steps`). Longer costs more but ranks the runs on a longer horizon.")


def parse_search(value: Any) -> tuple[HalvingSearch | None, list[SpecError]]:
    """The body's ``search`` (None when absent), or the problems with it, named
    ``search.<field>``."""
    if value is None:
        return None, []
    try:
        return HalvingSearch.model_validate(value), []
    except ValidationError as error:
        return None, [SpecError(".".join(["search", *map(str, error_location(entry["loc"],
                                                                              entry["type"]))]),
                                entry["msg"])
                      for entry in error.errors(include_url=False)]


def halving_rungs(min_steps: int, eta: int, max_steps: int) -> list[int]:
    """The steps where the runs are ranked: ``min_steps × eta^k`` below ``max_steps``, then
    ``max_steps`` itself (where the survivors end)."""
    rungs = []
    rung = min_steps
    while rung < max_steps:
        rungs.append(rung)
        rung *= eta
    return [*rungs, max_steps]


def survivors(n: int, eta: int) -> int:
    """How many of ``n`` runs go on past a rung: ⌈n/eta⌉ (at least one)."""
    return -(-n // eta)


def planned_run_steps(group_sizes: Sequence[int], rungs: Sequence[int], eta: int) -> int:
    """The run-steps halving spends when no run stops by itself: each group's n runs take the
    first rung's steps, ⌈n/eta⌉ of them the next rung's, and so on."""
    total = 0
    for size in group_sizes:
        racing, reached = size, 0
        for rung in rungs:
            total += racing * (rung - reached)
            reached, racing = rung, survivors(racing, eta)
    return total


def search_errors(search: HalvingSearch, limits: Sequence[int],
                  max_steps_field: str) -> list[SpecError]:
    """Halving needs one ``max_steps`` for every run (``limits``: the rungs are shared), named
    ``max_steps_field`` when they differ, and ``min_steps`` no larger."""
    if len(set(limits)) > 1:
        return [SpecError(max_steps_field, "a halving search ranks every run at the same steps, "
                          f"so all runs need one max_steps; these have {min(limits)} to "
                          f"{max(limits)}")]
    if limits and search.min_steps > limits[0]:
        return [SpecError("search.min_steps", f"{search.min_steps} is over max_steps "
                          f"({limits[0]}); min_steps must be at most max_steps")]
    return []


HalvingProgress = Callable[[int, float], bool]
"""``(runs_done, fraction) -> keep_going``."""


def _standing(diverged: bool, loss: float, index: int) -> tuple[int, float, int]:
    """Sort key: finite losses first (lowest first), diverged or non-finite last, then index."""
    usable = not diverged and math.isfinite(loss)
    return (0, loss, index) if usable else (1, 0.0, index)


def _keep_the_best(racing: Sequence[Sequence[int]], standing: dict[int, tuple[int, float, int]],
                   eta: int) -> tuple[list[list[int]], set[int]]:
    """Each bracket's best ⌈n/eta⌉ runs (by ``standing``), and the runs that drop out."""
    kept, dropped = [], set()
    for members in racing:
        ranked = sorted(members, key=standing.__getitem__)
        kept.append(ranked[:survivors(len(ranked), eta)])
        dropped.update(ranked[len(kept[-1]):])
    return kept, dropped


def run_halving(runs: Sequence[PreparedRun], groups: Sequence[Sequence[int]],
                brackets: Sequence[Sequence[int]], indices: Sequence[int],
                search: HalvingSearch,
                progress: HalvingProgress | None = None) -> list[RunResult]:
    """Run the sweep's ``runs`` (vectorised in ``groups``, positions in ``runs``) with
    successive halving inside each bracket (positions; one per ``best_by`` group); results in
    the order of ``runs``. ``indices`` are the runs' sweep indices (ties in the ranking).
    ``progress`` returning False cancels: runs still going end ``cancelled``."""
    results: list[RunResult | None] = [None] * len(runs)
    if not runs:
        return []
    eta = search.eta
    rungs = halving_rungs(search.min_steps, eta, int(runs[0].spec["max_steps"]))
    planned = max(1, planned_run_steps([len(bracket) for bracket in brackets], rungs, eta))
    loops = [GroupLoop([runs[k] for k in group], labels=group) for group in groups]
    racing: list[list[int]] = [list(bracket) for bracket in brackets]
    spent = 0
    cancelled = False

    def take(labels: np.ndarray, done: Sequence[RunResult]) -> None:
        for label, result in zip(labels, done):
            results[int(label)] = result

    def runs_done() -> int:
        return sum(result is not None for result in results)

    for rung in rungs:
        for loop in loops:
            start, width = loop.step, int(np.count_nonzero(loop.stop_code == ACTIVE))

            def relay(update: Progress, start: int = start, width: int = width,
                      before: int = spent) -> bool:
                assert progress is not None
                fraction = (before + (update.step - start) * width) / planned
                return progress(runs_done(), min(1.0, fraction))

            cancelled = not loop.advance(rung, relay if progress is not None else None)
            spent += (loop.step - start) * width
            if cancelled:
                break
        if cancelled or rung == rungs[-1]:
            break
        for loop in loops:
            if loop.step >= loop.max_steps:  # at its own end (max_epochs): nothing to prune
                take(loop.labels.copy(), loop.finish(cancelled=False))
        loops = [loop for loop in loops if loop.step < loop.max_steps]
        standing = {position: _standing(result.stop_reason == "diverged",
                                        float(result.final["loss"]), indices[position])
                    for position, result in enumerate(results) if result is not None}
        for loop in loops:
            for label, code, loss in zip(loop.labels, loop.stop_code, loop.current_losses()):
                standing[int(label)] = _standing(code == DIVERGED, float(loss), indices[label])
        racing, dropped = _keep_the_best(racing, standing, eta)
        for loop in loops:
            leaving = np.flatnonzero([int(label) in dropped or code != ACTIVE
                                      for label, code in zip(loop.labels, loop.stop_code)])
            take(loop.labels[leaving].copy(), loop.release(leaving))
        loops = [loop for loop in loops if loop.R]
    for loop in loops:
        take(loop.labels.copy(), loop.finish(cancelled))
    if progress is not None and not cancelled:
        progress(runs_done(), 1.0)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def search_summary(search: dict[str, Any], entries: Sequence[dict[str, Any]],
                   max_steps: int) -> dict[str, Any]:
    """What halving spent: ``run_steps`` (the steps all runs took together) against
    ``full_grid_run_steps`` (every run to ``max_steps``), and their ratio."""
    spent = sum(int(entry["steps"]) for entry in entries)
    full = len(entries) * max_steps
    return {
        "method": search["method"], "eta": search["eta"], "min_steps": search["min_steps"],
        "rungs": halving_rungs(search["min_steps"], search["eta"], max_steps),
        "run_steps": spent, "full_grid_run_steps": full,
        "run_steps_fraction": round(spent / full, 4) if full else None,
    }


__all__ = ["HalvingSearch", "halving_rungs", "parse_search", "planned_run_steps", "run_halving",
           "search_errors", "search_summary", "survivors"]
