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
   plateau scheduler steps on the loss of step 1.
"""

from __future__ import annotations

import math

from numba import types

from engine.kernels import (
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

# Stop codes, shared with engine.result.STOP_REASONS (same order).
ACTIVE, MAX_STEPS, MAX_EPOCHS, GRAD_TOL, TARGET_LOSS, DIVERGED, CANCELLED = range(7)
DIVERGENCE_LOSS = 1e30

# Counters shared between segments (int64 vector).
STEP, RECORD_INDEX, EPOCH_POSITION, EPOCHS_DONE, ACTIVE_RUNS = range(5)
# Status returned by a segment.
SEGMENT_DONE, EPOCH_ENDED, ALL_STOPPED = range(3)

_I64 = types.int64
_F64 = types.float64
_I64Vector = types.int64[::1]

SEGMENT_SIGNATURE = _I64(
    ObjectiveKernel, Vector, Matrix, IndexVector, IndexVector, _I64, _I64,  # objective, batching
    OptimizerKernel, Matrix, Tensor3,  # optimizer
    Matrix, Matrix, Vector, Matrix, Vector,  # params, grad, loss, full_grad, full_loss
    Matrix, Vector, Vector, _I64, Vector, Matrix,  # lr table, lr, momentum, plateau
    Tensor3, _F64,  # gradient noise
    _I64Vector, _I64, _I64, _I64, _F64, _F64,  # counters, limits, tolerances
    _I64Vector, Tensor3, Matrix, Matrix, Matrix,  # record arrays
    _I64Vector, _I64Vector, Matrix, Vector,  # stop arrays and final state
    Matrix,  # epoch loss
)


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
    objective, consts, data, all_samples, order, batch_size, full_batch,
    optimizer, hyper, state,
    params, grad, loss, full_grad, full_loss,
    lr_table, lr, momentum_table, momentum_column, plateau_settings, plateau_state,
    noise, noise_scale,
    counters, segment_end, max_steps, record_every, grad_tol, target_loss,
    record_step, record_params, record_loss, record_grad_norm, record_lr,
    stop_step, stop_code, final_params, final_lr, epoch_loss,
):
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
        # 1. loss and gradient at the current point
        if dataset and not full_batch:
            end = min(position + batch_size, n_samples)
            objective(params, consts, data, order[position:end], loss, grad)
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
        if on_grid and not exact:
            objective(params, consts, data, all_samples, full_loss, full_grad)
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
        optimizer(params, grad, state, hyper, step + 1, lr)
        if use_plateau:
            plateau_step(lr, loss, plateau_state, plateau_settings)
        counters[STEP] = step + 1

        if dataset and not full_batch:
            position += batch_size
            if position >= n_samples:
                counters[EPOCH_POSITION] = 0
                epoch = counters[EPOCHS_DONE]
                objective(params, consts, data, all_samples, full_loss, full_grad)
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
