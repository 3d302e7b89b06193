"""The compiled-kernel contract every objective and optimizer implements.

The run loop (``engine/loop.py``) is one numba-compiled function. Objectives and optimizers
are handed to it as *first-class functions* of a fixed signature, so the loop is compiled
once (and cached on disk) no matter how many objectives or optimizers exist: numba types an
``njit`` dispatcher with one explicit signature as ``FunctionType(signature)`` and calls it
through a pointer. A kernel is also callable from plain Python with NumPy arrays.

Shapes follow DESIGN.md: a leading run axis R. Every array is float64 and C-contiguous.

Objective kernel ``(x, consts, data, batch, loss_out, grad_out) -> None``
    x         (R, d)  the points (one per run)
    consts    (C,)    the function's own constants (a, b, A, a flattened matrix, ...)
    data      (n, m)  dataset models: one sample per row (features then target); (0, 0) otherwise
    batch     (b,)    int64 sample indices this evaluation averages over; analytic functions ignore it
    loss_out  (R,)    written: the loss at each point (the mean over ``batch`` for dataset models)
    grad_out  (R, d)  written: the gradient at each point

Optimizer kernel ``(params, grads, state, hyper, step, lr) -> None``
    params  (R, d)     updated in place (no per-step allocation)
    grads   (R, d)     the gradient at ``params`` (read only)
    state   (S, R, d)  the optimizer's buffers (S slots), updated in place
    hyper   (R, H)     hyperparameters per run, in the order the optimizer declares them
    step    int64      the 1-based number of this update (torch's ``state["step"]`` after +1)
    lr      (R,)       the learning rate of this update, per run
"""

from __future__ import annotations

from numba import types

Matrix = types.float64[:, ::1]
Vector = types.float64[::1]
Tensor3 = types.float64[:, :, ::1]
IndexVector = types.int64[::1]

OBJECTIVE_SIGNATURE = types.void(Matrix, Vector, Matrix, IndexVector, Vector, Matrix)
OPTIMIZER_SIGNATURE = types.void(Matrix, Matrix, Tensor3, Matrix, types.int64, Vector)

ObjectiveKernel = types.FunctionType(OBJECTIVE_SIGNATURE)
OptimizerKernel = types.FunctionType(OPTIMIZER_SIGNATURE)

__all__ = [
    "OBJECTIVE_SIGNATURE",
    "OPTIMIZER_SIGNATURE",
    "IndexVector",
    "Matrix",
    "ObjectiveKernel",
    "OptimizerKernel",
    "Tensor3",
    "Vector",
]
