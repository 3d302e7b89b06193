"""Update kernels of optimizers from outside torch.optim that work coordinate by coordinate,
each a transcription of its reference implementation (docs/spec.md §4.1) with the same order of
floating-point operations, as ``engine.optimizers.kernels`` does for torch:

    lion        lion_pytorch 0.2.5, ``lion_pytorch.Lion`` (``update_fn``)
    adabelief   pytorch_optimizer 4.1.0, ``AdaBelief._step_per_param`` (``foreach=False``)

Kernels follow ``engine.kernels.OPTIMIZER_SIGNATURE``. When every run has the same
hyperparameters (a sweep of learning rates or start points) the per-step scalars are computed
once and the rows are updated in one pass over flat views, which LLVM vectorises across runs.
"""

from __future__ import annotations

import math

from engine.kernels import OPTIMIZER_SIGNATURE, compiled, flat
from engine.optimizers.base import hyper_columns
from engine.optimizers.kernels import _lerp, _maximum, _shared_row


@compiled(inline="always")
def _sign(value: float) -> float:
    """``torch.sgn`` of a real number: ±1, and 0 (or NaN) itself."""
    if value > 0.0:
        return 1.0
    if value < 0.0:
        return -1.0
    return value


LION = hyper_columns("beta1", "beta2", "weight_decay", "decoupled_weight_decay")


@compiled(inline="always")
def _lion_rows(params, grads, exp_avg, hyper, lr, init_lr, first, stop, dims):
    beta1 = hyper[first, LION.beta1]
    beta2 = hyper[first, LION.beta2]
    weight_decay = hyper[first, LION.weight_decay]
    decoupled = hyper[first, LION.decoupled_weight_decay] != 0.0
    weight1 = 1.0 - beta1
    weight2 = 1.0 - beta2
    for r in range(first, stop):
        lr_r = lr[r]
        decay = weight_decay / init_lr[r * dims] if decoupled else weight_decay
        shrink = 1.0 - lr_r * decay
        neg_lr = -lr_r
        for i in range(dims):
            k = r * dims + i
            g = grads[k]
            m = exp_avg[k]
            p = params[k] * shrink
            params[k] = p + neg_lr * _sign(m * beta1 + weight1 * g)
            exp_avg[k] = m * beta2 + weight2 * g


@compiled(OPTIMIZER_SIGNATURE)
def lion_update(params, grads, state, hyper, step, lr):
    """Lion (lion_pytorch.Lion). hyper: beta1, beta2, weight_decay, decoupled_weight_decay.

    p = p * (1 − lr * wd) (decoupled: wd / the constructor's lr);
    p = p − lr * sign(beta1 * m + (1 − beta1) * g);  m = beta2 * m + (1 − beta2) * g.
    state: m, the constructor's lr (per-run scalar at column 0)."""
    n_runs, dims = params.shape
    flat_params, flat_grads = flat(params), flat(grads)
    exp_avg, init_lr = flat(state[0]), flat(state[1])
    if step == 1:
        for r in range(n_runs):
            if init_lr[r * dims] == 0.0:  # not given by init_state: the first update's lr
                init_lr[r * dims] = lr[r]
    if _shared_row(hyper):
        if dims == 2:
            _lion_rows(flat_params, flat_grads, exp_avg, hyper, lr, init_lr, 0, n_runs, 2)
        else:
            _lion_rows(flat_params, flat_grads, exp_avg, hyper, lr, init_lr, 0, n_runs, dims)
        return
    for r in range(n_runs):
        _lion_rows(flat_params, flat_grads, exp_avg, hyper, lr, init_lr, r, r + 1, dims)


@compiled(inline="always")
def rectification(rectify, t, beta2, threshold, degenerated_to_sgd):
    """pytorch_optimizer's ``get_rectify_step_size`` without the lr: (r_t, N_sma), the step
    size being lr · r_t. Without rectify (1, 0); with it r_t is the RAdam rectification when
    N_sma ≥ threshold, else 1 (degenerated_to_sgd) or −1 (no update)."""
    if not rectify:
        return 1.0, 0.0
    n_sma_max = 2.0 / (1.0 - beta2) - 1.0
    beta2_t = beta2**t
    n_sma = n_sma_max - 2.0 * t * beta2_t / (1.0 - beta2_t)
    if n_sma >= threshold:
        rt = math.sqrt((1.0 - beta2_t) * (n_sma - 4.0) / (n_sma_max - 4.0) * (n_sma - 2.0)
                       / n_sma * n_sma_max / (n_sma_max - 2.0))
    elif degenerated_to_sgd:
        rt = 1.0
    else:
        rt = -1.0
    return rt, n_sma


ADABELIEF = hyper_columns(
    "beta1", "beta2", "weight_decay", "weight_decouple", "fixed_decay", "rectify",
    "n_sma_threshold", "degenerated_to_sgd", "ams_bound", "eps",
)


@compiled(inline="always")
def _adabelief_rows(params, grads, exp_avg, exp_avg_var, max_exp_avg_var, hyper, lr, first,
                    stop, dims, t):
    beta1 = hyper[first, ADABELIEF.beta1]
    beta2 = hyper[first, ADABELIEF.beta2]
    weight_decay = hyper[first, ADABELIEF.weight_decay]
    decouple = hyper[first, ADABELIEF.weight_decouple] != 0.0
    fixed_decay = hyper[first, ADABELIEF.fixed_decay] != 0.0
    rectify = hyper[first, ADABELIEF.rectify] != 0.0
    threshold = hyper[first, ADABELIEF.n_sma_threshold]
    degenerated_to_sgd = hyper[first, ADABELIEF.degenerated_to_sgd] != 0.0
    ams_bound = hyper[first, ADABELIEF.ams_bound] != 0.0
    eps = hyper[first, ADABELIEF.eps]
    weight1 = 1.0 - beta1
    weight2 = 1.0 - beta2
    bias_correction1 = 1.0 - math.pow(beta1, t)
    bias_correction2_sq = math.sqrt(1.0 - math.pow(beta2, t))
    rt, n_sma = rectification(rectify, t, beta2, threshold, degenerated_to_sgd)
    for r in range(first, stop):
        lr_r = lr[r]
        step_size = (lr_r * rt if rectify else lr_r) / bias_correction1
        shrink = 1.0 - weight_decay * (1.0 if fixed_decay else lr_r) * 1.0
        for i in range(dims):
            k = r * dims + i
            g = grads[k]
            p = params[k]
            if weight_decay != 0.0:
                if decouple:
                    p = p * shrink
                elif weight_decay > 0.0:
                    g = g + weight_decay * p
            m = _lerp(exp_avg[k], g, weight1)
            exp_avg[k] = m
            residual = g - m
            v = exp_avg_var[k] * beta2 + weight2 * residual * residual + eps
            exp_avg_var[k] = v
            if ams_bound:
                v = _maximum(max_exp_avg_var[k], v)
                max_exp_avg_var[k] = v
            denom = math.sqrt(v + 0.0) + 0.0
            if not rectify:
                params[k] = p + -step_size * m / (denom / bias_correction2_sq + eps)
            elif n_sma >= threshold:
                params[k] = p + -step_size * m / (denom + eps)
            elif step_size > 0.0:
                params[k] = p + -step_size * m
            else:
                params[k] = p


@compiled(OPTIMIZER_SIGNATURE)
def adabelief_update(params, grads, state, hyper, step, lr):
    """AdaBelief (pytorch_optimizer.AdaBelief). hyper: beta1, beta2, weight_decay,
    weight_decouple, fixed_decay, rectify, n_sma_threshold, degenerated_to_sgd, ams_bound, eps.

    weight decay (decoupled: p *= 1 − wd · (1 if fixed_decay else lr), else g += wd · p);
    m = lerp(m, g, 1 − beta1);  s = beta2 · s + (1 − beta2) · (g − m)² + eps;
    ŝ = max(ŝ, s) with ams_bound;  without rectify p = p − lr / (1 − beta1^t) · m /
    (sqrt(ŝ) / sqrt(1 − beta2^t) + eps); with it RAdam's rectified step (an SGD step, or none,
    while N_sma < n_sma_threshold).  state: m, s, ŝ."""
    t = float(step)
    n_runs, dims = params.shape
    flat_params, flat_grads = flat(params), flat(grads)
    exp_avg, exp_avg_var, max_exp_avg_var = flat(state[0]), flat(state[1]), flat(state[2])
    if _shared_row(hyper):
        if dims == 2:
            _adabelief_rows(flat_params, flat_grads, exp_avg, exp_avg_var, max_exp_avg_var,
                            hyper, lr, 0, n_runs, 2, t)
        else:
            _adabelief_rows(flat_params, flat_grads, exp_avg, exp_avg_var, max_exp_avg_var,
                            hyper, lr, 0, n_runs, dims, t)
        return
    for r in range(n_runs):
        _adabelief_rows(flat_params, flat_grads, exp_avg, exp_avg_var, max_exp_avg_var, hyper,
                        lr, r, r + 1, dims, t)
