"""The compiled run loop: R runs of one objective and one optimizer family, stepped together.

``run_segment`` advances every active run until a step budget, the end of an epoch (so the
driver can draw the next shuffled order) or the end of all runs, recording into arrays the
driver preallocated: it allocates nothing per step. Objective and optimizer kernels arrive as
first-class functions (``engine.kernels``), so this function is compiled once and cached.

Per step k (the point after k updates), for each active run:
1. loss and gradient at the point (analytic, or the mean over this step's batch);
2. if the point is on the record grid (k % record_every == 0): record params, the full loss,
   the full gradient's norm and the lr of update k;
3. stopping checks on the full loss and gradient (every step for analytic functions and full
   batches, at recorded points otherwise): divergence, grad_tol, target_loss;
4. the update with lr of update k (schedule table, plateau, OneCycle momentum), then the
   plateau scheduler steps on the loss of step 1. A closure optimizer (L-BFGS, Newton:
   ``engine.kernels.CLOSURE_SIGNATURE``; the loop gets placeholders for the kernels it does
   not call) gets the objective, its Hessian kernel and the step's batch, and may
   evaluate again within the update; it counts those evaluations per run (``evaluations``,
   snapshot into ``final_evaluations`` when a run stops: the loop goes on moving a stopped
   run's row).

The arguments come in groups by role, each a plain tuple (fields as the ``NamedTuple`` classes
below list them; the driver builds the named form and passes ``tuple(group)``, which numba
types fast, where a named tuple would cost microseconds per call): the four kernels, then
``Problem``, ``OptimizerArrays``, ``Schedule``, ``Point``, ``StepLimits``, ``Records``, ``Stops``
and the counters.

Full passes (mini-batches): the full loss and gradient over every sample, which records and
stopping checks need at grid points and ``epoch_loss`` at the end of each epoch, are computed
once per point: ``full_loss``/``full_grad`` hold the pass at step ``counters[FULL_PASS_STEP]``,
so a record at the point where an epoch ended, and the final point of a run that ends there
(:func:`final_loss_and_grad`), take that pass instead of making it again.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import types

from engine.kernels import (
    ClosureKernel,
    HessianKernel,
    IndexVector,
    Matrix,
    ObjectiveKernel,
    OptimizerKernel,
    Tensor3,
    Vector,
    compiled,
    flat,
)
from engine.schedules import plateau_step

# Stop codes, shared with engine.result.STOP_REASONS (same order). PRUNED is never set here: the
# driver sets it between segments when a sweep's successive halving stops a run (engine.sweep).
ACTIVE, MAX_STEPS, MAX_EPOCHS, GRAD_TOL, TARGET_LOSS, DIVERGED, CANCELLED, PRUNED = range(8)
DIVERGENCE_LOSS = 1e30

# Counters shared between segments (int64 vector, built by ``initial_counters``).
# FULL_PASS_STEP: the step whose point ``full_loss``/``full_grad`` hold (-1: none yet).
STEP, RECORD_INDEX, EPOCH_POSITION, EPOCHS_DONE, ACTIVE_RUNS, FULL_PASS_STEP = range(6)
# Status returned by a segment.
SEGMENT_DONE, EPOCH_ENDED, ALL_STOPPED = range(3)

_I64 = types.int64
_F64 = types.float64
_I64Vector = types.int64[::1]



class Problem(NamedTuple):
    """What the loss is evaluated on: the objective's constants and samples, the sample order
    of this epoch, the batch size and whether one batch holds every sample (0/1)."""

    consts: np.ndarray  # (C,)
    data: np.ndarray  # (n, m)
    all_samples: np.ndarray  # (n,) int64
    order: np.ndarray  # (n,) int64
    batch_size: int
    full_batch: int


class OptimizerArrays(NamedTuple):
    """The optimizer's per-run arrays, and which of its kernels the loop calls (``closure``
    0/1: the update kernel or the closure kernel); ``evaluations`` (R,) int64 counts a closure
    kernel's extra evaluations."""

    hyper: np.ndarray  # (R, H)
    state: np.ndarray  # (S, R, d)
    evaluations: np.ndarray  # (R,) int64
    closure: int


class Schedule(NamedTuple):
    """The learning rate (and OneCycle's momentum) of each update: a table, or the plateau
    scheduler's settings and state; ``lr`` (R,) is the current one."""

    lr_table: np.ndarray  # (R, columns)
    lr: np.ndarray  # (R,)
    momentum_table: np.ndarray  # (steps,) or (0,)
    momentum_column: int  # the hyper column it overwrites (-1: none)
    plateau_settings: np.ndarray  # (P,) or (0,)
    plateau_state: np.ndarray  # (R, 3)


class Point(NamedTuple):
    """Where the runs are: the parameters, the loss and gradient of the step's batch there, the
    last full pass (mini-batches), and the gradient noise of this segment's steps."""

    params: np.ndarray  # (R, d)
    grad: np.ndarray  # (R, d)
    loss: np.ndarray  # (R,)
    full_grad: np.ndarray  # (R, d)
    full_loss: np.ndarray  # (R,)
    noise: np.ndarray  # (steps, R, d) or (0, R, d)
    noise_scale: float


class StepLimits(NamedTuple):
    """Where this segment ends and the group's limits (grad_tol -1: none; target_loss nan:
    none)."""

    segment_end: int
    max_steps: int
    record_every: int
    grad_tol: float
    target_loss: float


class Records(NamedTuple):
    """The trajectory at the record grid, and each epoch's loss."""

    step: np.ndarray  # (points,) int64
    params: np.ndarray  # (points, R, d)
    loss: np.ndarray  # (points, R)
    grad_norm: np.ndarray  # (points, R)
    lr: np.ndarray  # (points, R)
    epoch_loss: np.ndarray  # (epochs, R)


class Stops(NamedTuple):
    """Each run's stop: step, code, and its state there."""

    step: np.ndarray  # (R,) int64
    code: np.ndarray  # (R,) int64
    params: np.ndarray  # (R, d)
    lr: np.ndarray  # (R,)
    evaluations: np.ndarray  # (R,) int64


PROBLEM = types.Tuple((Vector, Matrix, IndexVector, IndexVector, _I64, _I64))
OPTIMIZER_ARRAYS = types.Tuple((Matrix, Tensor3, _I64Vector, _I64))
SCHEDULE = types.Tuple((Matrix, Vector, Vector, _I64, Vector, Matrix))
POINT = types.Tuple((Matrix, Matrix, Vector, Matrix, Vector, Tensor3, _F64))
STEP_LIMITS = types.Tuple((_I64, _I64, _I64, _F64, _F64))
RECORDS = types.Tuple((_I64Vector, Tensor3, Matrix, Matrix, Matrix, Matrix))
STOPS = types.Tuple((_I64Vector, _I64Vector, Matrix, Vector, _I64Vector))
# The kernels (the update or closure kernel the loop does not call: a placeholder), the groups,
# the counters. One signature: compiled once, cached on disk.
SEGMENT_SIGNATURE = _I64(
    ObjectiveKernel, HessianKernel, OptimizerKernel, ClosureKernel,
    PROBLEM, OPTIMIZER_ARRAYS, SCHEDULE, POINT, STEP_LIMITS, RECORDS, STOPS, _I64Vector,
)


def initial_counters(runs: int) -> np.ndarray:
    """The counters of a loop that has made no step yet, with ``runs`` active runs."""
    counters = np.zeros(FULL_PASS_STEP + 1, dtype=np.int64)
    counters[ACTIVE_RUNS] = runs
    counters[FULL_PASS_STEP] = -1
    return counters


def final_loss_and_grad(objective, final_params: np.ndarray, rows: np.ndarray,
                        stop_step: np.ndarray, counters: np.ndarray, full_loss: np.ndarray,
                        full_grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The full loss and gradient at the final points of ``rows`` (loss ``(len(rows),)``,
    gradient ``(len(rows), d)``): a run whose final point is where the loop made its last full
    pass (it stopped at the current step, which ended an epoch or was recorded) takes that
    pass; the others are evaluated, in one call. The same numbers either way: a kernel treats
    each run on its own."""
    step = counters[STEP]
    reused = (stop_step[rows] == step) & (counters[FULL_PASS_STEP] == step)
    loss = np.empty(len(rows))
    grad = np.empty((len(rows), final_params.shape[1]))
    loss[reused] = full_loss[rows[reused]]
    grad[reused] = full_grad[rows[reused]]
    if not reused.all():
        loss[~reused], grad[~reused] = objective.evaluate(final_params[rows[~reused]])
    return loss, grad


@compiled(inline="always")
def _squared_norm(flat_grad, flat_params, row, dims):  # pragma: no cover - compiled
    """Σ g² over one run's row of the flat arrays, or nan when a gradient entry or a parameter
    is not finite: one pass serves both the divergence check and the recorded norm."""
    total = 0.0
    poison = 0.0
    for j in range(dims):
        total += flat_grad[row + j] * flat_grad[row + j]
        poison += flat_params[row + j] * 0.0
    return total + poison


@compiled(inline="always")
def _diverged(loss, squared_norm):  # pragma: no cover - compiled
    return not (math.isfinite(loss) and abs(loss) <= DIVERGENCE_LOSS and math.isfinite(squared_norm))


@compiled(inline="always")
def _stop_code(loss, squared, point_loss, point_squared, checkable, grad_tol, check_target,
               target_loss):  # pragma: no cover - compiled
    """Why a run stops at this point (ACTIVE: it goes on). ``loss``/``squared`` are at this
    step's batch; ``point_*`` are the full loss and gradient, valid when ``checkable``."""
    if _diverged(loss, squared):
        return DIVERGED
    if checkable:
        if _diverged(point_loss, point_squared):
            return DIVERGED
        if grad_tol >= 0.0 and math.sqrt(point_squared) <= grad_tol:
            return GRAD_TOL
        if check_target and point_loss <= target_loss:
            return TARGET_LOSS
    return ACTIVE


@compiled(inline="always")
def _runs_stopping(flat_grad, flat_params, loss, flat_point_grad, point_loss, stop_code,
                   checkable, grad_tol, check_target, target_loss, dims):  # pragma: no cover - compiled
    """How many active runs stop at this point: a branch-free pass over flat views, with
    ``dims`` a compile-time constant where the caller can make it one, which LLVM vectorises
    across runs. Only when it finds some does the loop look at runs one by one."""
    count = 0
    for r in range(loss.shape[0]):
        row = r * dims
        code = _stop_code(loss[r], _squared_norm(flat_grad, flat_params, row, dims), point_loss[r],
                          _squared_norm(flat_point_grad, flat_params, row, dims), checkable,
                          grad_tol, check_target, target_loss)
        count += (stop_code[r] == ACTIVE) & (code != ACTIVE)
    return count


@compiled(SEGMENT_SIGNATURE)
def run_segment(  # pragma: no cover - compiled
    objective, hessian, update, closure_update,
    problem, optimizer, schedule, point, limits, records, stops, counters,
):
    consts, data, all_samples, order, batch_size, full_batch = problem
    hyper, state, evaluations, closure = optimizer
    lr_table, lr, momentum_table, momentum_column, plateau_settings, plateau_state = schedule
    params, grad, loss, full_grad, full_loss, noise, noise_scale = point
    segment_end, max_steps, record_every, grad_tol, target_loss = limits
    record_step, record_params, record_loss, record_grad_norm, record_lr, epoch_loss = records
    stop_step, stop_code, final_params, final_lr, final_evaluations = stops
    runs = params.shape[0]
    dims = params.shape[1]
    n_samples = all_samples.shape[0]
    dataset = n_samples > 0
    use_plateau = plateau_settings.shape[0] > 0
    use_momentum_table = momentum_table.shape[0] > 0
    table_columns = lr_table.shape[1]
    check_target = not math.isnan(target_loss)
    first_step = counters[STEP]
    flat_params = flat(params)
    flat_grad = flat(grad)
    flat_full_grad = flat(full_grad)

    while counters[STEP] < segment_end:
        step = counters[STEP]
        position = counters[EPOCH_POSITION]
        # 1. loss and gradient at the current point (no batch variable: assigning an array in
        # the loop costs two reference-count updates a step)
        batch_end = min(position + batch_size, n_samples)
        if dataset and not full_batch:
            objective(params, consts, data, order[position:batch_end], loss, grad)
        else:
            objective(params, consts, data, all_samples, loss, grad)

        if not use_plateau and (step < table_columns or step == first_step):
            column = min(step, table_columns - 1)
            for r in range(runs):
                lr[r] = lr_table[r, column]

        on_grid = step % record_every == 0
        exact = (not dataset) or full_batch
        if dataset and full_batch and step > 0:
            for r in range(runs):
                epoch_loss[step - 1, r] = loss[r]
        if on_grid and not exact and counters[FULL_PASS_STEP] != step:
            objective(params, consts, data, all_samples, full_loss, full_grad)
            counters[FULL_PASS_STEP] = step
        checkable = exact or on_grid
        point_loss = loss if exact else full_loss
        flat_point_grad = flat_grad if exact else flat_full_grad

        # 2. record
        if on_grid:
            row = counters[RECORD_INDEX]
            record_step[row] = step
            for r in range(runs):
                for j in range(dims):
                    record_params[row, r, j] = params[r, j]
                record_loss[row, r] = point_loss[r]
                record_grad_norm[row, r] = math.sqrt(
                    _squared_norm(flat_point_grad, flat_params, r * dims, dims)
                )
                record_lr[row, r] = lr[r]
            counters[RECORD_INDEX] = row + 1

        # 3. stopping checks
        if dims == 2:
            stopping = _runs_stopping(flat_grad, flat_params, loss, flat_point_grad, point_loss,
                                      stop_code, checkable, grad_tol, check_target, target_loss, 2)
        else:
            stopping = _runs_stopping(flat_grad, flat_params, loss, flat_point_grad, point_loss,
                                      stop_code, checkable, grad_tol, check_target, target_loss,
                                      dims)
        for r in range(runs if stopping > 0 else 0):
            if stop_code[r] != ACTIVE:
                continue
            code = _stop_code(
                loss[r], _squared_norm(flat_grad, flat_params, r * dims, dims), point_loss[r],
                _squared_norm(flat_point_grad, flat_params, r * dims, dims), checkable,
                grad_tol, check_target, target_loss,
            )
            if code != ACTIVE:
                stop_code[r] = code
                stop_step[r] = step
                for j in range(dims):
                    final_params[r, j] = params[r, j]
                final_lr[r] = lr[r]
                final_evaluations[r] = evaluations[r]
                counters[ACTIVE_RUNS] -= 1
        if counters[ACTIVE_RUNS] == 0:
            return ALL_STOPPED

        # 4. update
        if noise_scale > 0.0:
            k = step - first_step
            for r in range(runs):
                for j in range(dims):
                    grad[r, j] += noise_scale * noise[k, r, j]
        if use_momentum_table and momentum_column >= 0:
            value = momentum_table[min(step, momentum_table.shape[0] - 1)]
            for r in range(runs):
                hyper[r, momentum_column] = value
        if closure:  # ``loss`` stays the step's start (the plateau scheduler steps on it)
            if dataset and not full_batch:  # the closure evaluates the step's batch
                closure_update(objective, hessian, consts, data, order[position:batch_end],
                               params, grad, loss, state, hyper, step + 1, lr, evaluations)
            else:
                closure_update(objective, hessian, consts, data, all_samples, params, grad,
                               loss, state, hyper, step + 1, lr, evaluations)
        else:
            update(params, grad, state, hyper, step + 1, lr)
        if use_plateau:
            plateau_step(lr, loss, plateau_state, plateau_settings)
        counters[STEP] = step + 1

        if dataset and not full_batch:
            position += batch_size
            if position >= n_samples:
                counters[EPOCH_POSITION] = 0
                epoch = counters[EPOCHS_DONE]
                objective(params, consts, data, all_samples, full_loss, full_grad)
                counters[FULL_PASS_STEP] = step + 1
                for r in range(runs):
                    epoch_loss[epoch, r] = full_loss[r]
                counters[EPOCHS_DONE] = epoch + 1
                if counters[STEP] < max_steps:
                    return EPOCH_ENDED
            else:
                counters[EPOCH_POSITION] = position
        elif dataset:
            counters[EPOCHS_DONE] += 1
    return SEGMENT_DONE
