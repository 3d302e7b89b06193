"""Successive halving against the full grid (issue 14's target), engine-side.

    python -m bench.halving

For each of Rosenbrock, Himmelblau and Booth (from the catalogue's start points): 81
log-spaced learning rates from 1e-4 to 1 for each of gd, momentum and adam, ``max_steps``
2,700, once as a halving search (eta 3, ``min_steps`` 300, ``best_by`` optimizer) and once as
the full grid. The table sets each optimizer's chosen rate beside the grid's best. A choice
passes when its final loss is ≤ 2× the grid's best or ≤ 1e-3 × the loss at the start; the
run-steps fraction (target ≤ 30 %) is halving's steps over the grid's, per optimizer.
Wall times (best of 3 after a warm-up) are given as halving's over the grid's, in one process:
on these 2-D functions a step costs little next to the fixed cost of a run (validation, result
assembly, the nearest stationary point), so the time saved is far below the steps saved.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from engine.build import resolve_spec
from engine.sweep import run_sweep_locally

FUNCTIONS = ("rosenbrock", "himmelblau", "booth")
OPTIMIZERS = ("gd", "momentum", "adam")
RATES = [float(rate) for rate in np.logspace(-4, 0, 81)]
MAX_STEPS, ETA, MIN_STEPS = 2700, 3, 300
TARGET_FRACTION = 0.30


def sweep_body(function: str, min_steps: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"base": {"function": function, "max_steps": MAX_STEPS},
                            "grid": {"optimizer": list(OPTIMIZERS), "learning_rate": RATES},
                            "best_by": ["optimizer"]}
    if min_steps is not None:
        body["search"] = {"method": "halving", "eta": ETA, "min_steps": min_steps}
    return body


def start_loss(function: str) -> float:
    run = resolve_spec({"function": function})
    return float(run.objective.evaluate(run.init[None, :])[0][0])


def timed(body: dict[str, Any], repeats: int = 3) -> tuple[dict[str, Any], float]:
    """The sweep's result and its best wall time of ``repeats`` (after one warm-up run)."""
    result = run_sweep_locally(body)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run_sweep_locally(body)
        times.append(time.perf_counter() - started)
    return result, min(times)


def compare(function: str, min_steps: int) -> tuple[list[dict[str, Any]], float]:
    """One row per optimizer, and halving's time over the grid's."""
    halving, halving_s = timed(sweep_body(function, min_steps))
    grid, grid_s = timed(sweep_body(function, None))
    start = start_loss(function)
    rows = []
    for chosen, best in zip(halving["best"], grid["best"]):
        optimizer = chosen["key"]["optimizer"]
        members = [run for run in halving["runs"] if run["overrides"]["optimizer"] == optimizer]
        fraction = sum(run["steps"] for run in members) / (len(members) * MAX_STEPS)
        loss = chosen["final_loss"]
        passed = loss is not None and (loss <= 2 * best["final_loss"] or loss <= 1e-3 * start)
        rows.append({"function": function, "optimizer": optimizer,
                     "rate": chosen["learning_rate"], "loss": loss,
                     "grid_rate": best["learning_rate"], "grid_loss": best["final_loss"],
                     "start_loss": start, "passed": passed, "fraction": fraction})
    return rows, halving_s / grid_s


def number(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min-steps", type=int, default=MIN_STEPS,
                        help=f"the first rung (default {MIN_STEPS})")
    args = parser.parse_args()
    print(f"halving: 81 rates 1e-4..1, max_steps {MAX_STEPS}, eta {ETA}, "
          f"min_steps {args.min_steps}, best_by optimizer; against the full grid")
    print(f"{'function':<11}{'optimizer':<10}{'chosen lr':>10}{'its loss':>11}{'grid lr':>10}"
          f"{'grid loss':>11}{'start':>9}  {'pass':<5}{'run-steps':>9}")
    all_rows, time_ratios = [], []
    for function in FUNCTIONS:
        rows, ratio = compare(function, args.min_steps)
        all_rows += rows
        time_ratios.append(ratio)
        for row in rows:
            print(f"{row['function']:<11}{row['optimizer']:<10}{number(row['rate'], '10.3g')}"
                  f"{number(row['loss'], '11.3g')}{number(row['grid_rate'], '10.3g')}"
                  f"{number(row['grid_loss'], '11.3g')}{row['start_loss']:9.3g}  "
                  f"{'yes' if row['passed'] else 'NO':<5}{row['fraction']:9.1%}")
    spent = float(np.mean([row["fraction"] for row in all_rows]))
    passed = sum(row["passed"] for row in all_rows)
    print(f"choices passing: {passed}/{len(all_rows)}; run-steps: {spent:.1%} of the full grid "
          f"(target <= {TARGET_FRACTION:.0%}); wall time halving/grid: "
          + ", ".join(f"{name} {ratio:.2f}" for name, ratio in zip(FUNCTIONS, time_ratios)))


if __name__ == "__main__":
    main()
