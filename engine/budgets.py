"""Budgets in bytes (docs/spec.md §9.4): what a run holds, counted before it runs.

A run's cost is what the worker allocates for it up front and what its result stores:

- the recorded trajectory, ``points × (dims + 3) × 8`` B (params, loss, grad_norm, lr per
  point; ``points = steps // record_every + 2``, as ``engine.run`` preallocates it);
- the schedule tables the run loop reads per step, ``(steps + 1) × 8`` B each: the lr column
  of every schedule but ``constant`` and ``plateau``, the momentum column of ``onecycle`` and
  ``cyclic`` when they cycle it, and one factor column per ``lambda`` / ``multiplicative``
  formula (members of a combinator included);
- the per-epoch losses of a dataset model, ``(steps // steps_per_epoch + 2) × 8`` B;
- the optimizer's state, ``slots × d × 8`` B (more for those that need it: L-BFGS's history of
  ``history_size`` pairs, Newton's d × d Hessian; ``OptimizerDef.floats_per_run``).

``steps`` is the most updates the run can make: ``max_steps``, or fewer when ``max_epochs``
ends it first. A generated data set costs ``n_samples × (n_features + 1) × 8`` B, counted
before it is drawn. Over a budget is a ``SpecError`` naming the field to change, with the
cost, the limit and a value that fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import SpecError
from engine.optimizers import OPTIMIZERS
from engine.schedules import MOMENTUM_CYCLING, TABLELESS, formula_tables

FLOAT_BYTES = 8
MIB = 1 << 20
DEFAULT_JOB_RECORD_BYTES = 256 * MIB
DEFAULT_SWEEP_RECORD_BYTES = 1024 * MIB
DEFAULT_GENERATED_DATA_BYTES = 64 * MIB


def byte_text(count: int) -> str:
    """``268435456`` -> ``268,435,456 B (256.0 MiB)``."""
    return f"{count:,} B ({count / MIB:,.1f} MiB)"


@dataclass(frozen=True)
class RunCost:
    """The bytes one run holds, by part."""

    steps: int
    points: int
    dims: int
    trajectory: int
    schedule_tables: int
    epoch_losses: int
    optimizer_state: int = 0

    @property
    def total(self) -> int:
        return self.trajectory + self.schedule_tables + self.epoch_losses + self.optimizer_state

    def text(self) -> str:
        parts = [(f"trajectory {self.points:,} points × ({self.dims} + 3) × 8 = "
                  f"{self.trajectory:,} B")]
        if self.schedule_tables:
            parts.append(f"schedule tables {self.schedule_tables:,} B")
        if self.epoch_losses:
            parts.append(f"epoch losses {self.epoch_losses:,} B")
        if self.optimizer_state:
            parts.append(f"optimizer state {self.optimizer_state:,} B")
        return ", ".join(parts)


def run_cost(spec: dict[str, Any], dims: int, n_samples: int) -> RunCost:
    """The cost of a resolved spec (``PreparedRun.spec``: batch_size and schedule filled)."""
    steps = int(spec["max_steps"])
    steps_per_epoch = 0
    if n_samples:
        steps_per_epoch = -(-n_samples // max(1, int(spec["batch_size"])))
        if spec["max_epochs"] is not None:
            steps = min(steps, int(spec["max_epochs"]) * steps_per_epoch)
    points = steps // int(spec["record_every"]) + 2
    schedule = spec["schedule"]
    tables = 0 if schedule["name"] in TABLELESS else 1 + formula_tables(schedule)
    if schedule["name"] in MOMENTUM_CYCLING and schedule.get("cycle_momentum"):
        tables += 1
    epochs = steps // steps_per_epoch + 2 if n_samples else 0
    return RunCost(
        steps=steps, points=points, dims=dims,
        trajectory=points * (dims + 3) * FLOAT_BYTES,
        schedule_tables=tables * (steps + 1) * FLOAT_BYTES,
        epoch_losses=epochs * FLOAT_BYTES,
        optimizer_state=OPTIMIZERS[spec["optimizer"]["name"]].floats_per_run(
            spec["optimizer"], dims) * FLOAT_BYTES,
    )


def check_run_budget(cost: RunCost, record_every: int, limit: int) -> SpecError | None:
    """A run over the job budget: blamed on ``record_every`` when the trajectory alone is
    over, else on ``max_steps`` (the tables grow with the steps, not with the recording)."""
    if cost.total <= limit:
        return None
    row = (cost.dims + 3) * FLOAT_BYTES
    room = (limit - cost.schedule_tables - cost.epoch_losses - cost.optimizer_state) // row - 2
    head = (f"this run would hold {byte_text(cost.total)} ({cost.text()}), over this server's "
            f"budget of {byte_text(limit)} per job (DESCENT_JOB_RECORD_BYTES)")
    if cost.optimizer_state > limit // 2:
        return SpecError("optimizer", f"{head}; most of it is the optimizer's state: choose one "
                         "that keeps less (a smaller history_size for lbfgs; a first-order "
                         "optimizer instead of newton on this many parameters)")
    if room >= 1:
        fitting = max(record_every, -(-cost.steps // room))
        while cost.steps // fitting + 2 > room + 2:
            fitting += 1
        return SpecError("record_every", f"{head}; raise record_every to {fitting:,} or more, "
                         "or lower max_steps")
    return SpecError("max_steps", f"{head}; lower max_steps (or max_epochs), or use a constant "
                     "or plateau schedule, which need no per-step table")


def check_sweep_budget(costs: Sequence[RunCost], limit: int) -> SpecError | None:
    """A sweep whose runs together are over the sweep budget."""
    total = sum(cost.total for cost in costs)
    if total <= limit:
        return None
    state = sum(cost.optimizer_state for cost in costs)
    advice = ("use fewer runs, or an optimizer that keeps less state (the optimizers' state is "
              f"{byte_text(state)} of it)" if state > total // 2
              else "use fewer runs, raise record_every or lower max_steps")
    return SpecError(
        "grid", f"the sweep's {len(costs):,} runs would hold {byte_text(total)} together, over "
        f"this server's budget of {byte_text(limit)} per sweep (DESCENT_SWEEP_RECORD_BYTES); "
        f"{advice}")


def generated_data_bytes(n_samples: int, n_features: int) -> int:
    return n_samples * (n_features + 1) * FLOAT_BYTES


def check_data_budget(n_samples: int, n_features: int, limit: int) -> SpecError | None:
    """A generated data set over its budget, refused before it is drawn."""
    cost = generated_data_bytes(n_samples, n_features)
    if cost <= limit:
        return None
    return SpecError(
        "data.n_samples", f"{n_samples:,} samples × ({n_features} features + 1) × 8 = "
        f"{byte_text(cost)}, over this server's budget of {byte_text(limit)} for a generated "
        f"data set (DESCENT_GENERATED_DATA_BYTES); lower n_samples to "
        f"{max(1, limit // ((n_features + 1) * FLOAT_BYTES)):,} or fewer, or n_features")
