"""Schedule-Free AdamW and SGD (schedulefree 1.4.1: ``AdamWScheduleFree``, ``SGDScheduleFree``,
their per-parameter paths, ``foreach=False``) as closure optimizer kernels
(``engine.kernels.CLOSURE_SIGNATURE``, /work/coord/CLOSURE.md).

The reference keeps two sequences: ``z`` (the SGD/Adam iterate) and ``y``, where it takes the
gradient in train mode; its eval mode shows ``x = lerp(y, z, 1 − 1/beta1)``, the average the
method is about. A run's parameters here are ``x``: the loop records it and its loss, as the
reference's eval mode would report them; ``y`` and ``z`` live in the state, and the kernel takes
the gradient at ``y`` itself (one evaluation of the step's batch, the one the reference makes;
the loop's own evaluation at ``x`` is the recorded loss, so the update rule's count is one per
step and ``evaluations`` gains nothing).

Per step, with k = step − 1 and the run's lr (after any schedule):
    lr_k = lr · min(1, (k + 1) / warmup_steps);  lr_max = max(lr_max, lr_k)
    weight = (k + 1)^r · lr_max^weight_lr_power;  weight_sum += weight;  c = weight / weight_sum
    AdamW: v = beta2 v + (1 − beta2) g²;  g = g / (sqrt(v / (1 − beta2^(k+1))) + eps)
    g += weight_decay · y;  y = lerp(y, z, c) + lr_k (beta1 (1 − c) − 1) g;  z = z − lr_k g
    x = lerp(y, z, 1 − 1/beta1)
(SGD: the same without v and its normalisation, momentum in place of beta1). The scalars are
computed as the reference computes them in Python, the elementwise steps in ATen's order.
"""

from __future__ import annotations

import math

import numpy as np

from engine.kernels import CLOSURE_SIGNATURE, compiled
from engine.optimizers.base import Layout, hyper_columns
from engine.optimizers.kernels import _lerp

Y, Z, WEIGHT_SUM, LR_MAX, SECOND_MOMENT = range(5)
"""State slots: y, z, the per-run scalars weight_sum and lr_max (column 0), AdamW's v."""


def init_state(slots: int):
    """y and z start at the start point (the kernel's first call copies it in); weight_sum 0
    and lr_max −1, the reference's defaults."""
    def start(hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
              learning_rate: np.ndarray | None = None) -> np.ndarray:
        state = np.zeros((slots, n_runs, dims))
        state[LR_MAX, :, 0] = -1.0
        return state

    return start


@compiled(inline="always")
def _weights(state, r, lr_r, k, warmup_steps, r_power, weight_lr_power):
    """The reference's per-step scalars: (lr_k, c = weight / weight_sum)."""
    sched = (k + 1.0) / warmup_steps if k < warmup_steps else 1.0
    lr_k = lr_r * sched
    lr_max = max(lr_k, state[LR_MAX, r, 0])
    state[LR_MAX, r, 0] = lr_max
    weight = ((k + 1.0) ** r_power) * (lr_max**weight_lr_power)
    weight_sum = state[WEIGHT_SUM, r, 0] + weight
    state[WEIGHT_SUM, r, 0] = weight_sum
    ckp1 = weight / weight_sum if weight_sum != 0.0 else 0.0
    return lr_k, ckp1


@compiled(inline="always")
def _gradient_at_y(objective, consts, data, batch, params, grads, loss, state, step):
    """On the first step y = z = x (the reference clones z from the parameters); then the
    gradient at y, into ``grads`` (and ``loss``)."""
    n_runs, dims = params.shape
    if step == 1:
        for r in range(n_runs):
            for i in range(dims):
                state[Y, r, i] = params[r, i]
                state[Z, r, i] = params[r, i]
        return  # x = y: the loop's evaluation is the gradient at y
    objective(state[Y], consts, data, batch, loss, grads)


ADAMW_SCHEDULEFREE = hyper_columns(
    "beta1", "beta2", "eps", "weight_decay", "warmup_steps", "r", "weight_lr_power",
)


@compiled(inline="always")
def _move(params, state, r, i, g, decay, ckp1, y_step, lr_k, eval_weight):  # pragma: no cover
    """The update both references share, for entry i of run r given its (preconditioned)
    gradient g: decay at y, y toward z then along g, z along g, and the evaluation point x
    between them, which the trajectory records."""
    y = state[Y, r, i]
    z = state[Z, r, i]
    if decay != 0.0:
        g = g + decay * y
    y = _lerp(y, z, ckp1)
    y = y + y_step * g
    z = z - lr_k * g
    state[Y, r, i] = y
    state[Z, r, i] = z
    params[r, i] = _lerp(y, z, eval_weight)


@compiled(CLOSURE_SIGNATURE)
def adamw_schedulefree_step(objective, hessian, consts, data, batch, params, grads, loss, state,
                            hyper, step, lr, evaluations):
    """AdamWScheduleFree. hyper: beta1, beta2, eps, weight_decay, warmup_steps, r,
    weight_lr_power. state: y, z, weight_sum, lr_max, v."""
    _gradient_at_y(objective, consts, data, batch, params, grads, loss, state, step)
    n_runs, dims = params.shape
    k = float(step - 1)
    for r in range(n_runs):
        beta1 = hyper[r, ADAMW_SCHEDULEFREE.beta1]
        beta2 = hyper[r, ADAMW_SCHEDULEFREE.beta2]
        eps = hyper[r, ADAMW_SCHEDULEFREE.eps]
        decay = hyper[r, ADAMW_SCHEDULEFREE.weight_decay]
        lr_k, ckp1 = _weights(state, r, lr[r], k, hyper[r, ADAMW_SCHEDULEFREE.warmup_steps],
                              hyper[r, ADAMW_SCHEDULEFREE.r],
                              hyper[r, ADAMW_SCHEDULEFREE.weight_lr_power])
        bias_correction2 = 1.0 - beta2 ** (k + 1.0)
        weight2 = 1.0 - beta2
        y_step = lr_k * (beta1 * (1.0 - ckp1) - 1.0)
        eval_weight = 1.0 - 1.0 / beta1
        for i in range(dims):
            g = grads[r, i]
            v = state[SECOND_MOMENT, r, i] * beta2 + weight2 * g * g
            state[SECOND_MOMENT, r, i] = v
            g = g / (math.sqrt(v / bias_correction2) + eps)
            _move(params, state, r, i, g, decay, ckp1, y_step, lr_k, eval_weight)


SGD_SCHEDULEFREE = hyper_columns(
    "momentum", "weight_decay", "warmup_steps", "r", "weight_lr_power",
)


@compiled(CLOSURE_SIGNATURE)
def sgd_schedulefree_step(objective, hessian, consts, data, batch, params, grads, loss, state,
                          hyper, step, lr, evaluations):
    """SGDScheduleFree. hyper: momentum, weight_decay, warmup_steps, r, weight_lr_power.
    state: y, z, weight_sum, lr_max."""
    _gradient_at_y(objective, consts, data, batch, params, grads, loss, state, step)
    n_runs, dims = params.shape
    k = float(step - 1)
    for r in range(n_runs):
        momentum = hyper[r, SGD_SCHEDULEFREE.momentum]
        decay = hyper[r, SGD_SCHEDULEFREE.weight_decay]
        lr_k, ckp1 = _weights(state, r, lr[r], k, hyper[r, SGD_SCHEDULEFREE.warmup_steps],
                              hyper[r, SGD_SCHEDULEFREE.r],
                              hyper[r, SGD_SCHEDULEFREE.weight_lr_power])
        y_step = lr_k * (momentum * (1.0 - ckp1) - 1.0)
        eval_weight = 1.0 - 1.0 / momentum
        for i in range(dims):
            g = grads[r, i]
            _move(params, state, r, i, g, decay, ckp1, y_step, lr_k, eval_weight)
