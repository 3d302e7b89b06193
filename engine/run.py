"""The driver: prepares the loop's arrays once, advances ``run_segment`` in time slices, calls
the progress callback between slices (the only hook for progress and cancellation), draws each
epoch's shuffled order, and assembles one ``RunResult`` per run.

``run_group`` runs R prepared runs that share an objective and an optimizer family in one
vectorised loop (a sweep); ``run_spec`` is the single-run convenience.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.analysis import nearest_stationary_points
from engine.build import DEFAULT_LIMITS, DatasetLoader, Limits, PreparedRun, resolve_spec
from engine.kernels import native, no_closure, no_hessian, no_update
from engine.loop import (
    ACTIVE,
    ACTIVE_RUNS,
    ALL_STOPPED,
    CANCELLED,
    EPOCH_ENDED,
    EPOCHS_DONE,
    MAX_EPOCHS,
    MAX_STEPS,
    PRUNED,
    RECORD_INDEX,
    STEP,
    OptimizerArrays,
    Point,
    Problem,
    Records,
    Schedule,
    StepLimits,
    Stops,
    final_loss_and_grad,
    initial_counters,
    run_segment,
)
from engine.optimizers.layout import parameter_layout
from engine.result import STOP_REASONS, RunResult
from engine.schedules import (
    learning_rate_table,
    momentum_table,
    plateau_initial_state,
    plateau_settings,
)
from engine.spec import JobSpec

SEGMENT_SECONDS = 0.1  # callback cadence: cancellation is seen well within a second
NOISE_BUFFER_FLOATS = 1 << 20


@dataclass(frozen=True)
class Progress:
    """What the callback sees between slices."""

    step: int
    total_steps: int
    fraction: float
    loss: float | None
    runs_active: int
    elapsed_s: float


Callback = Callable[[Progress], bool]


class GroupError(ValueError):
    """Runs given to ``run_group`` cannot share one loop."""


def group_key(run: PreparedRun) -> tuple:
    """Runs with equal keys can share one vectorised loop: same objective, optimizer family,
    schedule shape, batching and limits. They may differ in start point, learning rate,
    hyperparameters, gradient-noise seed."""
    spec = run.spec
    schedule = shared_schedule(run)
    shuffle_seed = spec["seed"] if run.is_dataset_model and spec["shuffle"] else None
    return (
        id(run.objective),
        run.optimizer.name,
        repr(sorted(schedule.items())),
        spec["batching"], spec["batch_size"], spec["shuffle"], shuffle_seed,
        spec["max_steps"], spec["max_epochs"], spec["record_every"],
        spec["grad_tol"], spec["target_loss"], spec["gradient_noise"] > 0,
    )


def shared_schedule(run: PreparedRun) -> dict[str, Any]:
    """The run's schedule as its group's tables take it: a ``max_lr`` that is the run's own
    learning rate (onecycle's default, filled in by ``resolve_spec``) becomes ``None``, which
    the tables read as "each run's learning rate", so runs differing only in learning rate
    share a loop and each keeps its own peak."""
    schedule = dict(run.schedule)
    if schedule["name"] == "onecycle" and schedule["max_lr"] == run.learning_rate:
        schedule["max_lr"] = None
    return schedule


def run_spec(
    body: dict[str, Any] | JobSpec,
    callback: Callback | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    load_dataset: DatasetLoader | None = None,
) -> RunResult:
    """Validate, resolve and run one spec locally."""
    return run_group([resolve_spec(body, limits=limits, load_dataset=load_dataset)], callback)[0]


def run_group(runs: Sequence[PreparedRun], callback: Callback | None = None) -> list[RunResult]:
    """Run R compatible runs at once, vectorised over the run axis."""
    if not runs:
        return []
    first = runs[0]
    key = group_key(first)
    if any(group_key(run) != key for run in runs[1:]):
        raise GroupError("runs differ in objective, optimizer family, schedule or batching")
    return GroupLoop(runs).run(callback)


# The loop's arrays with a run axis, and which axis it is: what ``GroupLoop.release`` shrinks.
RUN_AXIS_ARRAYS = {
    "labels": 0, "noise_scales": 0, "params": 0, "hyper": 0, "state": 1, "lr_table": 0, "lr": 0,
    "plateau_state": 0, "grad": 0, "loss": 0, "full_grad": 0, "full_loss": 0,
    "stop_step": 0, "stop_code": 0, "final_params": 0, "final_lr": 0, "epoch_loss": 1,
    "evaluations": 0, "final_evaluations": 0,
}
# The record arrays (points, R, …): when they shrink only the rows written so far are copied,
# into uninitialised arrays (rows past RECORD_INDEX are written before anything reads them):
# copying or zeroing the unwritten rows took a third of a halving sweep over 81 rates.
RECORD_ARRAYS = ("record_params", "record_loss", "record_grad_norm", "record_lr")


def _with_final(records: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Per run (the second axis of ``records``, grid points first), its records then its
    ``last`` value: shape (runs, points + 1, …)."""
    out = np.empty((len(last), len(records) + 1, *records.shape[2:]), dtype=records.dtype)
    out[:, :-1] = records.swapaxes(0, 1)
    out[:, -1] = last
    return out


class GroupLoop:
    """The arrays of one group run, allocated once. ``run`` takes every run to its end;
    a sweep's successive halving instead ``advance``s to a step, ranks ``current_losses``,
    ``release``s the runs it stops, and ``finish``es the rest. ``labels`` (the caller's
    numbers for the runs, ``0…R-1`` by default) follow the rows as runs leave."""

    def __init__(self, runs: Sequence[PreparedRun], labels: Sequence[int] | None = None) -> None:
        first = runs[0]
        spec = first.spec
        objective = first.objective
        self.runs = runs
        self.objective = objective
        R, d = len(runs), objective.dims
        self.R, self.d = R, d
        n = objective.n_samples
        self.n_samples = n
        self.batch_size = int(spec["batch_size"]) if n else 1
        self.full_batch = (not n) or self.batch_size >= n
        self.steps_per_epoch = -(-n // self.batch_size) if n else 0
        max_steps = int(spec["max_steps"])
        self.epoch_limited = False
        if n and spec["max_epochs"] is not None:
            epoch_steps = int(spec["max_epochs"]) * self.steps_per_epoch
            if epoch_steps <= max_steps:
                max_steps, self.epoch_limited = epoch_steps, True
        self.max_steps = max_steps
        self.record_every = int(spec["record_every"])
        self.shuffle = bool(spec["shuffle"]) and n > 0 and not self.full_batch
        self.rng = np.random.default_rng(spec["seed"])
        self.noise_scales = np.array([run.spec["gradient_noise"] for run in runs], dtype=float)
        self.noise_rngs = [np.random.default_rng(run.spec["seed"]) for run in runs]

        optimizer = first.optimizer
        hessian = None
        if optimizer.needs_hessian:  # compiled on first use (a formula's), so only when needed
            from engine.objectives.hessians import hessian_kernel

            hessian = hessian_kernel(objective)
        self.kernels = (  # objective, Hessian, update, closure update (engine.loop)
            native(objective.kernel),
            native(hessian or no_hessian),
            native(no_update if optimizer.closure else optimizer.kernel),
            native(optimizer.kernel if optimizer.closure else no_closure),
        )
        self.closure = int(optimizer.closure)
        self.evaluations = np.zeros(R, dtype=np.int64)  # a closure optimizer's extra ones
        self.final_evaluations = np.zeros(R, dtype=np.int64)
        self.params = np.ascontiguousarray(np.stack([run.init for run in runs]), dtype=float)
        self.hyper = np.ascontiguousarray(np.stack([run.hyper for run in runs]), dtype=float)
        base_lr = np.array([run.learning_rate for run in runs], dtype=float)
        self.state = first.optimizer.init_state(self.hyper, R, d, parameter_layout(objective),
                                                base_lr)
        schedule = shared_schedule(first)
        self.plateau = schedule["name"] == "plateau"
        if self.plateau:
            self.lr_table = np.zeros((R, 1))
            self.plateau_settings = np.ascontiguousarray(plateau_settings(schedule), dtype=float)
            self.plateau_state = plateau_initial_state(self.plateau_settings, R)
        else:
            self.lr_table = np.ascontiguousarray(
                learning_rate_table(schedule, base_lr, max_steps + 1, max_steps=max_steps), dtype=float
            )
            self.plateau_settings = np.zeros(0)
            self.plateau_state = np.zeros((R, 3))
        self.lr = base_lr.copy()
        momentum = momentum_table(schedule, max_steps + 1, max_steps=max_steps)
        self.momentum_table = (
            np.zeros(0) if momentum is None else np.ascontiguousarray(momentum, dtype=float)
        )
        self.momentum_column = (
            -1 if first.optimizer.momentum_column is None else int(first.optimizer.momentum_column)
        )

        self.grad = np.zeros((R, d))
        self.loss = np.zeros(R)
        self.full_grad = np.zeros((R, d))
        self.full_loss = np.zeros(R)
        self.all_samples = np.arange(n, dtype=np.int64)
        self.order = self.all_samples.copy()
        if self.shuffle:
            self.order = self.rng.permutation(n).astype(np.int64)

        points = max_steps // self.record_every + 2
        self.record_step = np.zeros(points, dtype=np.int64)
        self.record_params = np.zeros((points, R, d))
        self.record_loss = np.zeros((points, R))
        self.record_grad_norm = np.zeros((points, R))
        self.record_lr = np.zeros((points, R))
        self.stop_step = np.full(R, -1, dtype=np.int64)
        self.stop_code = np.full(R, ACTIVE, dtype=np.int64)
        self.final_params = np.zeros((R, d))
        self.final_lr = np.zeros(R)
        epochs = (max_steps // self.steps_per_epoch + 2) if n else 0
        self.epoch_loss = np.full((epochs, R), np.nan)
        self.counters = initial_counters(R)
        grad_tol = spec["grad_tol"]  # shared by the group (group_key)
        self.grad_tol = -1.0 if grad_tol is None else float(grad_tol)
        target = spec["target_loss"]
        self.target_loss = np.nan if target is None else float(target)
        self.labels = np.arange(R) if labels is None else np.asarray(labels, dtype=np.int64)
        self.chunk = 256  # steps per segment when there is a callback; adapts to SEGMENT_SECONDS
        self._groups: tuple | None = None  # the loop's argument groups that rarely change
        self.started = time.perf_counter()

    def _noise(self, steps: int) -> np.ndarray:
        if not self.noise_scales.any():
            return np.zeros((0, self.R, self.d))
        noise = np.empty((steps, self.R, self.d))
        for r, rng in enumerate(self.noise_rngs):
            noise[:, r, :] = rng.standard_normal((steps, self.d))
            noise[:, r, :] *= self.noise_scales[r]
        return noise

    def _segment(self, end: int) -> int:
        if self._groups is None:  # built once, and again when runs leave (``release``)
            self._groups = (
                tuple(OptimizerArrays(self.hyper, self.state, self.evaluations, self.closure)),
                tuple(Schedule(self.lr_table, self.lr, self.momentum_table, self.momentum_column,
                               self.plateau_settings, self.plateau_state)),
                tuple(Records(self.record_step, self.record_params, self.record_loss,
                              self.record_grad_norm, self.record_lr, self.epoch_loss)),
                tuple(Stops(self.stop_step, self.stop_code, self.final_params, self.final_lr,
                            self.final_evaluations)),
                np.zeros((0, self.R, self.d)),  # no gradient noise
            )
        optimizer, schedule, records, stops, quiet = self._groups
        noise = self._noise(end - int(self.counters[STEP])) if self.noise_scales.any() else quiet
        problem = Problem(self.objective.consts, self.objective.data, self.all_samples,
                          self.order, self.batch_size, int(self.full_batch))  # order: per epoch
        point = Point(self.params, self.grad, self.loss, self.full_grad, self.full_loss, noise,
                      1.0 if noise.shape[0] else 0.0)
        limits = StepLimits(end, self.max_steps, self.record_every, self.grad_tol,
                            self.target_loss)
        return int(run_segment(*self.kernels, tuple(problem), optimizer, schedule, tuple(point),
                               tuple(limits), records, stops, self.counters))

    def run(self, callback: Callback | None) -> list[RunResult]:
        """Every run to its end (``max_steps``, ``max_epochs`` or its own stop)."""
        cancelled = not self.advance(self.max_steps, callback)
        return self.finish(cancelled)

    def advance(self, until: int, callback: Callback | None) -> bool:
        """Step the active runs up to step ``until`` (at most ``max_steps``); False when the
        callback cancelled. Stopping at ``until`` and going on later gives the same runs as
        never stopping: segments are only ever cut between steps."""
        until = min(until, self.max_steps)
        noise_cap = max(1, NOISE_BUFFER_FLOATS // max(1, self.R * self.d))
        while self.counters[STEP] < until and self.counters[ACTIVE_RUNS] > 0:
            step = int(self.counters[STEP])
            if callback is None and not self.noise_scales.any():
                end = until
            else:
                end = min(until, step + min(self.chunk, noise_cap))
            tick = time.perf_counter()
            status = self._segment(end)
            spent = time.perf_counter() - tick
            done = int(self.counters[STEP]) - step
            if done > 0 and spent < SEGMENT_SECONDS / 2:
                self.chunk = min(self.chunk * 2, 1 << 24)
            elif spent > SEGMENT_SECONDS * 2:
                self.chunk = max(16, self.chunk // 2)
            if status == EPOCH_ENDED and self.shuffle:
                self.order = self.rng.permutation(self.n_samples).astype(np.int64)
            if status == ALL_STOPPED or self.counters[STEP] >= self.max_steps:
                break  # done: nothing left to report or cancel (a job's outcome says the rest)
            if callback is not None and not callback(self._progress()):
                return False
        return True

    @property
    def step(self) -> int:
        """Updates made so far by the runs still active."""
        return int(self.counters[STEP])

    def current_losses(self) -> np.ndarray:
        """Each run's full loss where it is now: at its current point while active, at its
        final point once stopped (what a result made now would report)."""
        where = np.where((self.stop_code == ACTIVE)[:, None], self.params, self.final_params)
        return self.objective.evaluate(where)[0] if self.R else np.zeros(0)

    def release(self, rows: np.ndarray) -> list[RunResult]:
        """The results of ``rows`` (those still active are stopped here, ``pruned``), which
        then leave the loop: the remaining runs go on in smaller arrays, so that pruned and
        finished runs cost nothing more. ``labels`` follows the rows."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return []
        results = self._close(rows, PRUNED)
        keep = np.setdiff1d(np.arange(self.R), rows)
        for name, axis in RUN_AXIS_ARRAYS.items():
            setattr(self, name, np.ascontiguousarray(np.take(getattr(self, name), keep, axis=axis)))
        written = int(self.counters[RECORD_INDEX])
        for name in RECORD_ARRAYS:
            records = getattr(self, name)
            smaller = np.empty((records.shape[0], len(keep), *records.shape[2:]))
            smaller[:written] = records[:written, keep]
            setattr(self, name, smaller)
        self.runs = [self.runs[k] for k in keep]
        self.noise_rngs = [self.noise_rngs[k] for k in keep]
        self.R = len(keep)
        self._groups = None
        return results

    def _progress(self) -> Progress:
        step = int(self.counters[STEP])
        rows = int(self.counters[RECORD_INDEX])
        loss = float(self.record_loss[rows - 1, 0]) if rows else None
        return Progress(
            step=step,
            total_steps=self.max_steps,
            fraction=step / self.max_steps,
            loss=loss if loss is None or np.isfinite(loss) else None,
            runs_active=int(self.counters[ACTIVE_RUNS]),
            elapsed_s=time.perf_counter() - self.started,
        )

    def finish(self, cancelled: bool) -> list[RunResult]:
        """Every remaining run's result; the active ones end here (cancelled, or at their
        step or epoch limit)."""
        end_code = CANCELLED if cancelled else (MAX_EPOCHS if self.epoch_limited else MAX_STEPS)
        return self._close(np.arange(self.R), end_code) if self.R else []

    def _trajectories(self, rows: np.ndarray, final_loss: np.ndarray,
                      final_grad_norm: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Each of ``rows``' trajectory: its grid points before its stop, then its final point
        (always kept, SPEC.md §8). Runs stopped after as many grid points are copied out
        together, one copy a column (a sweep's runs mostly stop together)."""
        records = int(self.counters[RECORD_INDEX])
        stops = self.stop_step[rows]
        kept = np.searchsorted(self.record_step[:records], stops, side="left")
        trajectories: list[dict[str, np.ndarray]] = [{} for _ in rows]
        for count in np.unique(kept).tolist():
            same = np.flatnonzero(kept == count)
            block = rows[same]
            columns = {
                "step": _with_final(self.record_step[:count, None], stops[same]),
                "params": _with_final(self.record_params[:count, block], self.final_params[block]),
                "loss": _with_final(self.record_loss[:count, block], final_loss[same]),
                "grad_norm": _with_final(self.record_grad_norm[:count, block],
                                         final_grad_norm[same]),
                "lr": _with_final(self.record_lr[:count, block], self.final_lr[block]),
            }
            for j, position in enumerate(same.tolist()):
                trajectories[position] = {name: column[j] for name, column in columns.items()}
        return trajectories

    def _close(self, rows: np.ndarray, end_code: int) -> list[RunResult]:
        """Stop the active runs among ``rows`` with ``end_code`` at the current step, then
        assemble the results of all ``rows``."""
        step = int(self.counters[STEP])
        ending = rows[self.stop_code[rows] == ACTIVE]
        self.stop_code[ending] = end_code
        self.stop_step[ending] = step
        self.final_params[ending] = self.params[ending]
        self.final_evaluations[ending] = self.evaluations[ending]
        self.counters[ACTIVE_RUNS] -= len(ending)
        column = min(step, self.lr_table.shape[1] - 1)
        self.final_lr[ending] = self.lr[ending] if self.plateau else self.lr_table[ending, column]
        final_loss, final_grad = final_loss_and_grad(
            self.objective, self.final_params, rows, self.stop_step, self.counters,
            self.full_loss, self.full_grad,
        )
        final_grad_norm = np.linalg.norm(final_grad, axis=1)
        epochs_done = int(self.counters[EPOCHS_DONE])
        if self.n_samples and self.full_batch and epochs_done > 0:
            is_ending = np.isin(rows, ending)
            self.epoch_loss[epochs_done - 1, ending] = final_loss[is_ending]
        elapsed = time.perf_counter() - self.started
        trajectories = self._trajectories(rows, final_loss, final_grad_norm)
        nearest = nearest_stationary_points(self.objective, self.final_params[rows])
        results = []
        for position, r in enumerate(rows):
            # the optimizer's reported state (ASGD's average) is the run's own only if it
            # stopped at the loop's last step: the loop goes on updating a stopped run's row
            optimizer = self.runs[r].optimizer
            own = self.stop_step[r] == step
            reported_state = {name: self.state[slot, r].copy() if own else None
                              for name, slot in optimizer.reported_state}
            reported_state |= {name: report(self.state[:, r], int(self.stop_step[r])) if own
                               else None for name, report in optimizer.reports}
            stop = int(self.stop_step[r])
            run_epochs = None
            epoch_loss = None
            if self.n_samples:
                run_epochs = stop / self.steps_per_epoch
                epoch_loss = self.epoch_loss[: stop // self.steps_per_epoch, r].copy()
            results.append(RunResult(
                stop_reason=STOP_REASONS[int(self.stop_code[r])],
                steps=stop,
                epochs=run_epochs,
                trajectory=trajectories[position],
                final={
                    "params": self.final_params[r].copy(),
                    "loss": float(final_loss[position]),
                    "grad_norm": float(final_grad_norm[position]),
                    # the objective evaluations the updates made (more than steps for L-BFGS)
                    "function_evaluations": stop + int(self.final_evaluations[r]),
                    **reported_state,
                },
                epoch_loss=epoch_loss,
                nearest_stationary_point=nearest[position],
                elapsed_s=elapsed,
                spec=self.runs[r].spec,
            ))
        return results
