"""Update kernels of optimizers that look at whole parameter tensors, not only coordinates:

    lamb        pytorch_optimizer 4.1.0, ``Lamb.update`` (``foreach=False``): a trust ratio
                ‖p‖ / ‖update‖ per tensor
    adafactor   torch 2.13, ``torch.optim._adafactor._single_tensor_adafactor``: a step scaled
                by each tensor's RMS, and a second moment factored into row and column averages
                for every 2-D tensor

Each is a transcription of its reference with the same order of floating-point operations
(norms are sums of squares in index order; the references' vectorised reductions may round
the last bit differently, far below the 1e-9 the goldens demand). The tensors are those of
``engine.optimizers.layout``: two state slots hold, at each coordinate, the end of its tensor
and its column count (0 for a vector). Kernels follow ``engine.kernels.OPTIMIZER_SIGNATURE``.
"""

from __future__ import annotations

import math

import numpy as np

from engine.kernels import OPTIMIZER_SIGNATURE, compiled, flat
from engine.optimizers.base import hyper_columns
from engine.optimizers.elementwise_references import rectification
from engine.optimizers.kernels import _lerp, _shared_row

LAMB_CLAMP = 10.0  # pytorch_optimizer's Lamb.clamp: the weight norm is clamped to [0, 10]


@compiled(inline="always")
def _trust_step(weight_squares, update_squares, step_size, eps, adam):  # pragma: no cover
    """Lamb's step for one tensor: -step_size times the trust ratio ‖w‖ / (‖update‖ + eps),
    ‖w‖ clamped to [0, 10] and the ratio 1 when either norm is 0 or in Adam mode."""
    weight_norm = min(max(math.sqrt(weight_squares), 0.0), LAMB_CLAMP)
    update_norm = math.sqrt(update_squares)
    trust = 1.0
    if weight_norm != 0.0 and update_norm != 0.0 and not adam:
        trust = weight_norm / (update_norm + eps)
    return -step_size * trust


@compiled(inline="always")
def _lamb_update_value(p, m, v, rectified, step_size, eps, coupled_decay):
    """The reference's ``update`` tensor at one coordinate (whose norm the trust ratio uses)."""
    if rectified == 1:
        return p + -step_size * m / (math.sqrt(v) + eps)
    if rectified == 2:
        return p + -step_size * m
    update = m / (math.sqrt(v) + eps)
    if coupled_decay != 0.0:
        update = update + coupled_decay * p
    return update


@compiled(inline="always")
def _global_gradient_scale(grads, ends, r, dims, max_grad_norm, eps):
    """Lamb's ``pre_norm`` factor, as pytorch_optimizer computes it: each tensor's gradient norm
    (float64) rounded to float32, squared and summed in float32, then
    clamp(max_grad_norm / (sqrt(sum) + eps), max=1) in float32 (``a / t`` is
    ``t.reciprocal() * a``)."""
    total = np.float32(0.0)
    start = 0
    while start < dims:
        end = int(ends[r, start])
        squares = 0.0
        for i in range(start, end):
            squares += grads[r, i] * grads[r, i]
        norm = np.float32(math.sqrt(squares))
        total = np.float32(total + np.float32(norm * norm))
        start = end
    root = np.float32(np.float32(np.sqrt(total)) + np.float32(eps))
    scale = np.float32(np.float32(np.float32(1.0) / root) * np.float32(max_grad_norm))
    return float(min(scale, np.float32(1.0)))


LAMB = hyper_columns(
    "beta1", "beta2", "weight_decay", "weight_decouple", "fixed_decay", "rectify",
    "degenerated_to_sgd", "n_sma_threshold", "grad_averaging", "max_grad_norm", "adam",
    "pre_norm", "eps",
)


@compiled(inline="always")
def _lamb_one_tensor_rows(params, grads, exp_avg, exp_avg_sq, scratch, hyper, lr, n_runs, dims,
                          bias_correction1):
    """Lamb over flat views when every run has the same hyperparameters, one tensor of ``dims``
    coordinates per run, no rectify and no pre_norm (a sweep on a function): the general
    kernel's arithmetic in one pass per run, which LLVM vectorises across runs."""
    beta1 = hyper[0, LAMB.beta1]
    beta2 = hyper[0, LAMB.beta2]
    weight_decay = hyper[0, LAMB.weight_decay]
    decouple = hyper[0, LAMB.weight_decouple] != 0.0
    fixed_decay = hyper[0, LAMB.fixed_decay] != 0.0
    grad_averaging = hyper[0, LAMB.grad_averaging] != 0.0
    adam = hyper[0, LAMB.adam] != 0.0
    eps = hyper[0, LAMB.eps]
    beta3 = 1.0 - beta1 if grad_averaging else 1.0
    weight2 = 1.0 - beta2
    decays = weight_decay != 0.0 and decouple
    coupled_decay = weight_decay if (not decouple and weight_decay > 0.0) else 0.0
    for r in range(n_runs):
        lr_r = lr[r]
        step_size = lr_r / bias_correction1
        shrink = 1.0 - weight_decay * (1.0 if fixed_decay else lr_r) * 1.0
        weight_squares = 0.0
        update_squares = 0.0
        for i in range(dims):
            k = r * dims + i
            g = grads[k]
            m = exp_avg[k] * beta1 + beta3 * g
            v = exp_avg_sq[k] * beta2 + weight2 * g * g
            exp_avg[k] = m
            exp_avg_sq[k] = v
            p = params[k] * shrink if decays else params[k]
            params[k] = p
            update = _lamb_update_value(p, m, v, 0, step_size, eps, coupled_decay)
            scratch[k] = update
            weight_squares += p * p
            update_squares += update * update
        coefficient = _trust_step(weight_squares, update_squares, step_size, eps, adam)
        for i in range(dims):
            k = r * dims + i
            params[k] = params[k] + coefficient * scratch[k]


@compiled(OPTIMIZER_SIGNATURE)
def lamb_update(params, grads, state, hyper, step, lr):
    """Lamb (pytorch_optimizer.Lamb). hyper: beta1, beta2, weight_decay, weight_decouple,
    fixed_decay, rectify, degenerated_to_sgd, n_sma_threshold, grad_averaging, max_grad_norm,
    adam, pre_norm, eps.

    pre_norm: g *= min(1, max_grad_norm / (‖g‖ + eps)) over all tensors;
    m = beta1 · m + (1 − beta1 if grad_averaging else 1) · g;  v = beta2 · v + (1 − beta2) · g²;
    decoupled weight decay p *= 1 − wd · (1 if fixed_decay else lr);
    u = m / (sqrt(v) + eps) (+ wd · p when coupled), or RAdam's rectified step;
    per tensor, trust = min(‖p‖, 10) / (‖u‖ + eps) (1 if either norm is 0, or with adam);
    p = p − lr / (1 − beta1^t) · trust · u.  state: m, v, u (scratch), the layout's tensor ends
    and column counts."""
    t = float(step)
    n_runs, dims = params.shape
    ends = state[3]
    bias_correction1 = rt = n_sma = 0.0
    shared = _shared_row(hyper)  # a sweep's runs share the per-step scalars
    if (shared and ends[0, 0] == dims and hyper[0, LAMB.rectify] == 0.0
            and hyper[0, LAMB.pre_norm] == 0.0):
        bias_correction1 = 1.0 - math.pow(hyper[0, LAMB.beta1], t)
        flat_params, flat_grads = flat(params), flat(grads)
        exp_avg, exp_avg_sq, scratch = flat(state[0]), flat(state[1]), flat(state[2])
        if dims == 2:
            _lamb_one_tensor_rows(flat_params, flat_grads, exp_avg, exp_avg_sq, scratch, hyper,
                                  lr, n_runs, 2, bias_correction1)
        else:
            _lamb_one_tensor_rows(flat_params, flat_grads, exp_avg, exp_avg_sq, scratch, hyper,
                                  lr, n_runs, dims, bias_correction1)
        return
    for r in range(n_runs):
        new_row = r == 0
        if not shared and r > 0:
            for column in range(hyper.shape[1]):
                new_row |= hyper[r, column] != hyper[r - 1, column]
        beta1 = hyper[r, LAMB.beta1]
        beta2 = hyper[r, LAMB.beta2]
        weight_decay = hyper[r, LAMB.weight_decay]
        decouple = hyper[r, LAMB.weight_decouple] != 0.0
        fixed_decay = hyper[r, LAMB.fixed_decay] != 0.0
        rectify = hyper[r, LAMB.rectify] != 0.0
        degenerated_to_sgd = hyper[r, LAMB.degenerated_to_sgd] != 0.0
        threshold = hyper[r, LAMB.n_sma_threshold]
        grad_averaging = hyper[r, LAMB.grad_averaging] != 0.0
        max_grad_norm = hyper[r, LAMB.max_grad_norm]
        adam = hyper[r, LAMB.adam] != 0.0
        pre_norm = hyper[r, LAMB.pre_norm] != 0.0
        eps = hyper[r, LAMB.eps]
        lr_r = lr[r]
        beta3 = 1.0 - beta1 if grad_averaging else 1.0
        weight2 = 1.0 - beta2
        if new_row:
            bias_correction1 = 1.0 - math.pow(beta1, t)
            rt, n_sma = rectification(rectify, t, beta2, threshold, degenerated_to_sgd)
        step_size = (lr_r * rt if rectify else lr_r) / bias_correction1
        scale = 1.0
        if pre_norm and max_grad_norm != 0.0:
            scale = _global_gradient_scale(grads, ends, r, dims, max_grad_norm, eps)
        shrink = 1.0 - weight_decay * (1.0 if fixed_decay else lr_r) * 1.0
        decays = weight_decay != 0.0 and decouple
        coupled_decay = weight_decay if (not decouple and weight_decay > 0.0) else 0.0
        rectified = 0
        if rectify:
            rectified = 1 if n_sma >= threshold else 2
        start = 0
        while start < dims:
            end = int(ends[r, start])
            for i in range(start, end):
                g = grads[r, i]
                if pre_norm:
                    g = g * scale
                state[0, r, i] = state[0, r, i] * beta1 + beta3 * g
                state[1, r, i] = state[1, r, i] * beta2 + weight2 * g * g
                if decays:
                    params[r, i] = params[r, i] * shrink
            if rectify and step_size <= 0.0:
                start = end
                continue
            weight_squares = 0.0
            update_squares = 0.0
            for i in range(start, end):
                p = params[r, i]
                update = _lamb_update_value(p, state[0, r, i], state[1, r, i], rectified,
                                            step_size, eps, coupled_decay)
                weight_squares += p * p
                update_squares += update * update
                # kept for the step below: the update, or the rectified step's denominator
                state[2, r, i] = math.sqrt(state[1, r, i]) + eps if rectified == 1 else update
            coefficient = _trust_step(weight_squares, update_squares, step_size, eps, adam)
            for i in range(start, end):
                p = params[r, i]
                if rectified == 1:
                    params[r, i] = p + coefficient * state[0, r, i] / state[2, r, i]
                elif rectified == 2:
                    params[r, i] = p + coefficient * state[0, r, i]
                else:
                    params[r, i] = p + coefficient * state[2, r, i]
            start = end


@compiled(inline="always")
def _inverse_rms(variance, eps1):
    """torch's ``var_estimate.clamp_(min=eps1 * eps1).rsqrt_()`` at one coordinate."""
    return 1.0 / math.sqrt(max(variance, eps1 * eps1))


ADAFACTOR = hyper_columns("beta2_decay", "eps1", "eps2", "d", "weight_decay")


@compiled(inline="always")
def _adafactor_vector_rows(params, grads, variance, scratch, hyper, lr, n_runs, dims,
                           one_minus_beta2, inverse_root_t):
    """Adafactor over flat views when every run has the same hyperparameters and one vector
    of ``dims`` coordinates (a sweep on a function): the general kernel's arithmetic, which
    LLVM vectorises across runs."""
    eps1 = hyper[0, ADAFACTOR.eps1]
    eps2 = hyper[0, ADAFACTOR.eps2]
    clip = hyper[0, ADAFACTOR.d]
    weight_decay = hyper[0, ADAFACTOR.weight_decay]
    root_size = math.sqrt(float(dims))
    for r in range(n_runs):
        lr_r = lr[r]
        rho = min(lr_r, inverse_root_t)
        shrink = 1.0 - lr_r * weight_decay
        squares = 0.0
        update_squares = 0.0
        for i in range(dims):
            k = r * dims + i
            p = params[k]
            squares += p * p
            if weight_decay != 0.0:
                params[k] = p * shrink
            g = grads[k]
            v = _lerp(variance[k], g * g, one_minus_beta2)
            variance[k] = v
            update = _inverse_rms(v, eps1) * g
            scratch[k] = update
            update_squares += update * update
        alpha = max(eps2, math.sqrt(squares) / root_size) * rho
        coefficient = -alpha / max(1.0, math.sqrt(update_squares) / (root_size * clip))
        for i in range(dims):
            k = r * dims + i
            params[k] = params[k] + coefficient * scratch[k]


@compiled(OPTIMIZER_SIGNATURE)
def adafactor_update(params, grads, state, hyper, step, lr):
    """Adafactor (torch.optim.Adafactor). hyper: beta2_decay, eps1, eps2, d, weight_decay.

    Per tensor P with n entries: w = t^beta2_decay;  alpha = max(eps2, ‖P‖/√n) · min(lr, 1/√t);
    P *= 1 − lr · wd;  a vector's second moment V = lerp(V, g², w), a matrix's row and column
    means of g² are averaged the same way into R and C and V = R Cᵀ / max(mean(R), eps1);
    U = g / sqrt(max(V, eps1²));  P = P − alpha / max(1, ‖U‖ / (√n · d)) · U.
    state: V (vectors), R and C (at the start of the matrix's coordinates), U (scratch), the
    layout's tensor ends and column counts."""
    t = float(step)
    n_runs, dims = params.shape
    ends = state[4]
    columns = state[5]
    # torch's x ** 0.5 (C pow) of a whole number is its correctly rounded square root (checked
    # for every count below 5e7): sqrt costs a fraction of pow, paid per run and tensor
    inverse_root_t = 1.0 / math.sqrt(t)
    one_minus_beta2 = 0.0
    if _shared_row(hyper) and ends[0, 0] == dims and columns[0, 0] == 0.0:
        one_minus_beta2 = t**hyper[0, ADAFACTOR.beta2_decay]
        flat_params, flat_grads = flat(params), flat(grads)
        variance, scratch = flat(state[0]), flat(state[3])
        if dims == 2:
            _adafactor_vector_rows(flat_params, flat_grads, variance, scratch, hyper, lr,
                                   n_runs, 2, one_minus_beta2, inverse_root_t)
        else:
            _adafactor_vector_rows(flat_params, flat_grads, variance, scratch, hyper, lr,
                                   n_runs, dims, one_minus_beta2, inverse_root_t)
        return
    for r in range(n_runs):
        beta2_decay = hyper[r, ADAFACTOR.beta2_decay]
        eps1 = hyper[r, ADAFACTOR.eps1]
        eps2 = hyper[r, ADAFACTOR.eps2]
        clip = hyper[r, ADAFACTOR.d]
        weight_decay = hyper[r, ADAFACTOR.weight_decay]
        lr_r = lr[r]
        # a sweep's runs share it
        if r == 0 or beta2_decay != hyper[r - 1, ADAFACTOR.beta2_decay]:
            one_minus_beta2 = t**beta2_decay
        rho = min(lr_r, inverse_root_t)
        shrink = 1.0 - lr_r * weight_decay
        start = 0
        while start < dims:
            end = int(ends[r, start])
            size = end - start
            cols = int(columns[r, start])
            root_size = math.sqrt(float(size))
            squares = 0.0
            for i in range(start, end):
                squares += params[r, i] * params[r, i]
            alpha = max(eps2, math.sqrt(squares) / root_size) * rho
            if weight_decay != 0.0:
                for i in range(start, end):
                    params[r, i] = params[r, i] * shrink
            update_squares = 0.0
            row_mean = 1.0
            if cols == 0:
                for i in range(start, end):
                    g = grads[r, i]
                    variance = _lerp(state[0, r, i], g * g, one_minus_beta2)
                    state[0, r, i] = variance
                    update = _inverse_rms(variance, eps1) * g
                    state[3, r, i] = update
                    update_squares += update * update
            else:
                rows = size // cols
                row_sum = 0.0
                for row in range(rows):
                    total = 0.0
                    for col in range(cols):
                        g = grads[r, start + row * cols + col]
                        total += g * g
                    norm = math.sqrt(total)
                    row_var = _lerp(state[1, r, start + row], norm * norm / cols,
                                    one_minus_beta2)
                    state[1, r, start + row] = row_var
                    row_sum += row_var
                for col in range(cols):
                    total = 0.0
                    for row in range(rows):
                        g = grads[r, start + row * cols + col]
                        total += g * g
                    norm = math.sqrt(total)
                    state[2, r, start + col] = _lerp(state[2, r, start + col],
                                                     norm * norm / rows, one_minus_beta2)
                row_mean = max(row_sum / rows, eps1)
                for row in range(rows):
                    for col in range(cols):
                        i = start + row * cols + col
                        variance = state[1, r, start + row] * state[2, r, start + col] / row_mean
                        update = _inverse_rms(variance, eps1) * grads[r, i]
                        state[3, r, i] = update
                        update_squares += update * update
            denom = max(1.0, math.sqrt(update_squares) / (root_size * clip))
            coefficient = -alpha / denom
            for i in range(start, end):
                params[r, i] = params[r, i] + coefficient * state[3, r, i]
            start = end
