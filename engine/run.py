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

from engine.build import DEFAULT_LIMITS, DatasetLoader, Limits, PreparedRun, resolve_spec
from engine.kernels import native
from engine.loop import (
    ACTIVE,
    ACTIVE_RUNS,
    ALL_STOPPED,
    CANCELLED,
    EPOCH_ENDED,
    EPOCHS_DONE,
    MAX_EPOCHS,
    MAX_STEPS,
    RECORD_INDEX,
    STEP,
    run_segment,
)
from engine.result import RunResult
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
    schedule = {k: v for k, v in run.schedule.items() if k not in ("max_lr",)}
    shuffle_seed = spec["seed"] if run.is_dataset_model and spec["shuffle"] else None
    return (
        id(run.objective),
        run.optimizer.name,
        repr(sorted(schedule.items())),
        spec["batching"], spec["batch_size"], spec["shuffle"], shuffle_seed,
        spec["max_steps"], spec["max_epochs"], spec["record_every"],
        spec["grad_tol"], spec["target_loss"], spec["gradient_noise"] > 0,
    )


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
    return _GroupLoop(runs).run(callback)


class _GroupLoop:
    """The arrays of one group run, allocated once."""

    def __init__(self, runs: Sequence[PreparedRun]) -> None:
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

        self.params = np.ascontiguousarray(np.stack([run.init for run in runs]), dtype=float)
        self.hyper = np.ascontiguousarray(np.stack([run.hyper for run in runs]), dtype=float)
        self.state = first.optimizer.init_state(self.hyper, R, d)
        base_lr = np.array([run.learning_rate for run in runs], dtype=float)
        schedule = first.schedule
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
        self.counters = np.zeros(5, dtype=np.int64)
        self.counters[ACTIVE_RUNS] = R
        grad_tol = spec["grad_tol"]  # shared by the group (group_key)
        self.grad_tol = -1.0 if grad_tol is None else float(grad_tol)
        target = spec["target_loss"]
        self.target_loss = np.nan if target is None else float(target)

    def _noise(self, steps: int) -> np.ndarray:
        if not self.noise_scales.any():
            return np.zeros((0, self.R, self.d))
        noise = np.empty((steps, self.R, self.d))
        for r, rng in enumerate(self.noise_rngs):
            noise[:, r, :] = rng.standard_normal((steps, self.d))
            noise[:, r, :] *= self.noise_scales[r]
        return noise

    def _segment(self, end: int) -> int:
        noise = self._noise(end - int(self.counters[STEP]))
        return int(
            run_segment(
                native(self.objective.kernel), self.objective.consts, self.objective.data,
                self.all_samples, self.order, self.batch_size, self.full_batch,
                native(self.runs[0].optimizer.kernel), self.hyper, self.state,
                self.params, self.grad, self.loss, self.full_grad, self.full_loss,
                self.lr_table, self.lr, self.momentum_table, self.momentum_column,
                self.plateau_settings, self.plateau_state,
                noise, 1.0 if noise.shape[0] else 0.0,
                self.counters, end, self.max_steps, self.record_every,
                self.grad_tol, self.target_loss,
                self.record_step, self.record_params, self.record_loss,
                self.record_grad_norm, self.record_lr,
                self.stop_step, self.stop_code, self.final_params, self.final_lr,
                self.epoch_loss,
            )
        )

    def run(self, callback: Callback | None) -> list[RunResult]:
        started = time.perf_counter()
        chunk = 256
        cancelled = False
        noise_cap = max(1, NOISE_BUFFER_FLOATS // max(1, self.R * self.d))
        while self.counters[STEP] < self.max_steps and self.counters[ACTIVE_RUNS] > 0:
            step = int(self.counters[STEP])
            if callback is None and not self.noise_scales.any():
                end = self.max_steps
            else:
                end = min(self.max_steps, step + min(chunk, noise_cap))
            tick = time.perf_counter()
            status = self._segment(end)
            spent = time.perf_counter() - tick
            done = int(self.counters[STEP]) - step
            if done > 0 and spent < SEGMENT_SECONDS / 2:
                chunk = min(chunk * 2, 1 << 24)
            elif spent > SEGMENT_SECONDS * 2:
                chunk = max(16, chunk // 2)
            if status == EPOCH_ENDED and self.shuffle:
                self.order = self.rng.permutation(self.n_samples).astype(np.int64)
            if status == ALL_STOPPED or self.counters[STEP] >= self.max_steps:
                break  # done: nothing left to report or cancel (a job's outcome says the rest)
            if callback is not None and not callback(self._progress(started)):
                cancelled = True
                break
        return self._finish(started, cancelled)

    def _progress(self, started: float) -> Progress:
        step = int(self.counters[STEP])
        rows = int(self.counters[RECORD_INDEX])
        loss = float(self.record_loss[rows - 1, 0]) if rows else None
        return Progress(
            step=step,
            total_steps=self.max_steps,
            fraction=step / self.max_steps,
            loss=loss if loss is None or np.isfinite(loss) else None,
            runs_active=int(self.counters[ACTIVE_RUNS]),
            elapsed_s=time.perf_counter() - started,
        )

    def _finish(self, started: float, cancelled: bool) -> list[RunResult]:
        step = int(self.counters[STEP])
        active = self.stop_code == ACTIVE
        end_code = CANCELLED if cancelled else (MAX_EPOCHS if self.epoch_limited else MAX_STEPS)
        self.stop_code[active] = end_code
        self.stop_step[active] = step
        self.final_params[active] = self.params[active]
        column = min(step, self.lr_table.shape[1] - 1)
        self.final_lr[active] = self.lr[active] if self.plateau else self.lr_table[active, column]
        final_loss, final_grad = self.objective.evaluate(self.final_params)
        final_grad_norm = np.linalg.norm(final_grad, axis=1)
        epochs_done = int(self.counters[EPOCHS_DONE])
        if self.n_samples and self.full_batch and epochs_done > 0:
            self.epoch_loss[epochs_done - 1, active] = final_loss[active]
        elapsed = time.perf_counter() - started
        rows = int(self.counters[RECORD_INDEX])
        results = []
        for r, run in enumerate(self.runs):
            stop = int(self.stop_step[r])
            kept = int(np.searchsorted(self.record_step[:rows], stop, side="left"))
            run_epochs = None
            epoch_loss = None
            if self.n_samples:
                run_epochs = stop / self.steps_per_epoch
                epoch_loss = self.epoch_loss[: stop // self.steps_per_epoch, r]
            results.append(
                RunResult.from_records(
                    stop_code=int(self.stop_code[r]),
                    steps=stop,
                    epochs=run_epochs,
                    record_step=self.record_step[:kept],
                    record_params=self.record_params[:kept, r, :],
                    record_loss=self.record_loss[:kept, r],
                    record_grad_norm=self.record_grad_norm[:kept, r],
                    record_lr=self.record_lr[:kept, r],
                    final_params=self.final_params[r],
                    final_loss=float(final_loss[r]),
                    final_grad_norm=float(final_grad_norm[r]),
                    final_lr=float(self.final_lr[r]),
                    epoch_loss=epoch_loss,
                    elapsed_s=elapsed,
                    objective=self.objective,
                    spec=run.spec,
                )
            )
        return results
