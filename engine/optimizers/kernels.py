"""Compiled update kernels, one per optimizer family, mirroring ``torch.optim`` exactly.

Every kernel has the signature ``engine.kernels.OPTIMIZER_SIGNATURE``::

    kernel(params (R, d), grads (R, d), state (S, R, d), hyper (R, H), step int64, lr (R,))

and updates ``params`` and ``state`` in place. Each one is a line-by-line transcription of the
single-tensor code path of torch 2.13 (``torch/optim/<name>.py``, ``_single_tensor_<name>``,
``foreach=False``, ``capturable=False``, ``differentiable=False``, ``maximize=False``), with
the *same order of floating-point operations*, so that float64 trajectories agree with torch's
to rounding. The elementwise ATen ops used there compute, per element:

    a.add(b, alpha=s)            a + s * b
    a.addcmul(b, c, value=s)     a + (s * b) * c
    a.addcdiv(b, c, value=s)     a + (s * b) / c
    a.lerp(b, w)                 a + w * (b - a)        if |w| < 0.5
                                 b - (b - a) * (1 - w)  otherwise
    s / tensor (``__rtruediv__``)  tensor.reciprocal() * s

Scalars that torch computes in Python (bias corrections, step sizes) are computed here in the
same order with the step as a float (torch's ``state["step"]`` is a float tensor read with
``.item()``), so ``beta ** step`` is C ``pow`` in both.

No fastmath: LLVM must not contract ``a + s * b`` into a fused multiply-add that torch's scalar
loop does not do.
"""

from __future__ import annotations

import math

from engine.kernels import OPTIMIZER_SIGNATURE, compiled, flat
from engine.optimizers.base import hyper_columns


@compiled(inline="always")
def _lerp(start: float, end: float, weight: float) -> float:
    """ATen's ``lerp`` (aten/src/ATen/native/Lerp.h), the form chosen by the weight's size."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


@compiled(inline="always")
def _maximum(a: float, b: float) -> float:
    """``torch.maximum``: the larger, NaN if either is NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


@compiled(inline="always")
def _decay_and_moments(g, p, m, v, weight_decay, decoupled, lr_r, weight1, beta2, weight2):
    """The Adam family's common first half, in torch's order: weight decay (coupled: g += wd·p;
    decoupled: p *= 1 − lr·wd), then m = lerp(m, g, 1 − β1) and v = β2·v + (1 − β2)·g².
    Returns the new (g, p, m, v)."""
    if weight_decay != 0.0:
        if decoupled:
            p = p * (1.0 - lr_r * weight_decay)
        else:
            g = g + weight_decay * p
    return g, p, _lerp(m, g, weight1), v * beta2 + weight2 * g * g


SGD = hyper_columns("momentum", "dampening", "nesterov", "weight_decay")


@compiled(OPTIMIZER_SIGNATURE)
def sgd_update(params, grads, state, hyper, step, lr):
    """SGD (torch.optim.SGD). hyper: momentum, dampening, nesterov, weight_decay.

    g = grad + wd * p;  buf = g on the first step with momentum != 0, else
    buf = momentum * buf + (1 - dampening) * g;  g = g + momentum * buf (nesterov) or buf;
    p = p - lr * g.  state[0] = momentum buffer, state[1] = 1 once the buffer exists (torch
    creates it on the first step whose momentum is non-zero).
    """
    n_runs, dims = params.shape
    for r in range(n_runs):
        momentum = hyper[r, SGD.momentum]
        dampening = hyper[r, SGD.dampening]
        nesterov = hyper[r, SGD.nesterov] != 0.0
        weight_decay = hyper[r, SGD.weight_decay]
        neg_lr = -lr[r]
        for i in range(dims):
            g = grads[r, i]
            p = params[r, i]
            if weight_decay != 0.0:
                g = g + weight_decay * p
            if momentum != 0.0:
                if state[1, r, i] == 0.0:
                    buf = g
                    state[1, r, i] = 1.0
                else:
                    buf = state[0, r, i] * momentum + (1.0 - dampening) * g
                state[0, r, i] = buf
                if nesterov:
                    g = g + momentum * buf
                else:
                    g = buf
            params[r, i] = p + neg_lr * g


@compiled(inline="always")
def _shared_row(hyper) -> bool:
    """Whether every run has the first run's hyperparameters (a sweep of learning rates, start
    points or seeds): then per-run scalars are computed once and the update vectorises. Each row
    is compared with the one before it, a unit-stride pass over the flat table."""
    # numba's stub types a call of an intrinsic as its typing function (typingctx first),
    # returning Never, where compiled code calls flat(array) and gets the view
    table = flat(hyper)  # type: ignore[call-arg, var-annotated]
    width = hyper.shape[1]
    differs = False
    for k in range(width, table.shape[0]):
        differs |= table[k] != table[k - width]
    return not differs


ADAM = hyper_columns("beta1", "beta2", "eps", "weight_decay", "amsgrad")
ADAMW = ADAM  # adam_update and adamw_update share _adam_core


@compiled(inline="always")
def _adam_rows(params, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, hyper, lr, first, stop,
               dims, decoupled, bias_correction1, bias_correction2_sqrt):
    """Adam's update of runs ``first``..``stop - 1``, with the hyperparameters of ``first``.

    The arrays are flat views (``flat``) and ``dims`` a compile-time constant where the caller
    can make it one: with ``first`` the constant 0 too, LLVM sees unit-stride rows and
    vectorises the loop over runs."""
    beta1 = hyper[first, ADAM.beta1]
    beta2 = hyper[first, ADAM.beta2]
    eps = hyper[first, ADAM.eps]
    weight_decay = hyper[first, ADAM.weight_decay]
    amsgrad = hyper[first, ADAM.amsgrad] != 0.0
    weight1 = 1.0 - beta1
    weight2 = 1.0 - beta2
    for r in range(first, stop):
        lr_r = lr[r]
        neg_step_size = -(lr_r / bias_correction1)
        for i in range(dims):
            k = r * dims + i
            _, p, m, v = _decay_and_moments(grads[k], params[k], exp_avg[k], exp_avg_sq[k],
                                            weight_decay, decoupled, lr_r, weight1, beta2,
                                            weight2)
            exp_avg[k] = m
            exp_avg_sq[k] = v
            if amsgrad:
                v = _maximum(max_exp_avg_sq[k], v)
                max_exp_avg_sq[k] = v
            denom = math.sqrt(v) / bias_correction2_sqrt + eps
            params[k] = p + neg_step_size * m / denom


@compiled(inline="always")
def _adam_core(params, grads, state, hyper, step, lr, decoupled):
    t = float(step)
    n_runs, dims = params.shape
    flat_params, flat_grads = flat(params), flat(grads)
    exp_avg, exp_avg_sq, max_exp_avg_sq = flat(state[0]), flat(state[1]), flat(state[2])
    bias_correction1 = 1.0 - hyper[0, ADAM.beta1] ** t
    bias_correction2_sqrt = (1.0 - hyper[0, ADAM.beta2] ** t) ** 0.5
    if _shared_row(hyper):
        if dims == 2:  # all runs as one block, from the constant 0, 2 wide: vectorised
            _adam_rows(flat_params, flat_grads, exp_avg, exp_avg_sq, max_exp_avg_sq, hyper, lr,
                       0, n_runs, 2, decoupled, bias_correction1, bias_correction2_sqrt)
        else:
            _adam_rows(flat_params, flat_grads, exp_avg, exp_avg_sq, max_exp_avg_sq, hyper, lr,
                       0, n_runs, dims, decoupled, bias_correction1, bias_correction2_sqrt)
        return
    for r in range(n_runs):  # one by one; the bias corrections (three pow()) change with betas
        if r > 0 and hyper[r, ADAM.beta1] != hyper[r - 1, ADAM.beta1]:
            bias_correction1 = 1.0 - hyper[r, ADAM.beta1] ** t
        if r > 0 and hyper[r, ADAM.beta2] != hyper[r - 1, ADAM.beta2]:
            bias_correction2_sqrt = (1.0 - hyper[r, ADAM.beta2] ** t) ** 0.5
        _adam_rows(flat_params, flat_grads, exp_avg, exp_avg_sq, max_exp_avg_sq, hyper, lr,
                   r, r + 1, dims, decoupled, bias_correction1, bias_correction2_sqrt)


@compiled(OPTIMIZER_SIGNATURE)
def adam_update(params, grads, state, hyper, step, lr):
    """Adam (torch.optim.Adam). hyper: beta1, beta2, eps, weight_decay, amsgrad.

    g = grad + wd * p;  m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g;
    v_hat = max(v_max, v) with amsgrad;  denom = sqrt(v_hat) / sqrt(1 - beta2^t) + eps;
    p = p - (lr / (1 - beta1^t)) * m / denom.  state: m, v, v_max.
    """
    _adam_core(params, grads, state, hyper, step, lr, False)


@compiled(OPTIMIZER_SIGNATURE)
def adamw_update(params, grads, state, hyper, step, lr):
    """AdamW (torch.optim.AdamW): Adam with decoupled weight decay p = p * (1 - lr * wd)
    applied before the moments instead of adding wd * p to the gradient."""
    _adam_core(params, grads, state, hyper, step, lr, True)


RMSPROP = hyper_columns("alpha", "eps", "weight_decay", "momentum", "centered")


@compiled(OPTIMIZER_SIGNATURE)
def rmsprop_update(params, grads, state, hyper, step, lr):
    """RMSprop (torch.optim.RMSprop). hyper: alpha, eps, weight_decay, momentum, centered.

    g = grad + wd * p;  s = alpha * s + (1 - alpha) * g * g;  centered: a = lerp(a, g, 1 - alpha),
    avg = sqrt(s - a * a) + eps, else avg = sqrt(s) + eps;  momentum > 0: buf = momentum * buf +
    g / avg, p = p - lr * buf;  else p = p - lr * g / avg.  state: s, a, buf.
    """
    n_runs, dims = params.shape
    for r in range(n_runs):
        alpha = hyper[r, RMSPROP.alpha]
        eps = hyper[r, RMSPROP.eps]
        weight_decay = hyper[r, RMSPROP.weight_decay]
        momentum = hyper[r, RMSPROP.momentum]
        centered = hyper[r, RMSPROP.centered] != 0.0
        neg_lr = -lr[r]
        weight = 1.0 - alpha
        for i in range(dims):
            g = grads[r, i]
            p = params[r, i]
            if weight_decay != 0.0:
                g = g + weight_decay * p
            square_avg = state[0, r, i] * alpha + weight * g * g
            state[0, r, i] = square_avg
            if centered:
                grad_avg = _lerp(state[1, r, i], g, weight)
                state[1, r, i] = grad_avg
                avg = math.sqrt(square_avg + -1.0 * grad_avg * grad_avg)
            else:
                avg = math.sqrt(square_avg)
            avg = avg + eps
            if momentum > 0.0:
                buf = state[2, r, i] * momentum + 1.0 * g / avg
                state[2, r, i] = buf
                params[r, i] = p + neg_lr * buf
            else:
                params[r, i] = p + neg_lr * g / avg


ADAGRAD = hyper_columns("lr_decay", "weight_decay", "initial_accumulator_value", "eps")


@compiled(OPTIMIZER_SIGNATURE)
def adagrad_update(params, grads, state, hyper, step, lr):
    """Adagrad (torch.optim.Adagrad). hyper: lr_decay, weight_decay, initial_accumulator_value,
    eps.

    clr = lr / (1 + (t - 1) * lr_decay);  g = grad + wd * p;  s = s + g * g;
    p = p - clr * g / (sqrt(s) + eps).  state: s (starts at initial_accumulator_value).
    """
    t = float(step)
    n_runs, dims = params.shape
    for r in range(n_runs):
        lr_decay = hyper[r, ADAGRAD.lr_decay]
        weight_decay = hyper[r, ADAGRAD.weight_decay]
        eps = hyper[r, ADAGRAD.eps]
        neg_clr = -(lr[r] / (1.0 + (t - 1.0) * lr_decay))
        for i in range(dims):
            g = grads[r, i]
            p = params[r, i]
            if weight_decay != 0.0:
                g = g + weight_decay * p
            state_sum = state[0, r, i] + 1.0 * g * g
            state[0, r, i] = state_sum
            std = math.sqrt(state_sum) + eps
            params[r, i] = p + neg_clr * g / std


ADADELTA = hyper_columns("rho", "eps", "weight_decay")


@compiled(OPTIMIZER_SIGNATURE)
def adadelta_update(params, grads, state, hyper, step, lr):
    """Adadelta (torch.optim.Adadelta). hyper: rho, eps, weight_decay.

    g = grad + wd * p;  s = rho * s + (1 - rho) * g * g;
    delta = sqrt(u + eps) / sqrt(s + eps) * g;  u = rho * u + (1 - rho) * delta * delta;
    p = p - lr * delta.  state: s, u.
    """
    n_runs, dims = params.shape
    for r in range(n_runs):
        rho = hyper[r, ADADELTA.rho]
        eps = hyper[r, ADADELTA.eps]
        weight_decay = hyper[r, ADADELTA.weight_decay]
        neg_lr = -lr[r]
        weight = 1.0 - rho
        for i in range(dims):
            g = grads[r, i]
            p = params[r, i]
            if weight_decay != 0.0:
                g = g + weight_decay * p
            square_avg = state[0, r, i] * rho + weight * g * g
            state[0, r, i] = square_avg
            std = math.sqrt(square_avg + eps)
            delta = math.sqrt(state[1, r, i] + eps)
            delta = delta / std
            delta = delta * g
            state[1, r, i] = state[1, r, i] * rho + weight * delta * delta
            params[r, i] = p + neg_lr * delta


ADAMAX = hyper_columns("beta1", "beta2", "eps", "weight_decay")


@compiled(OPTIMIZER_SIGNATURE)
def adamax_update(params, grads, state, hyper, step, lr):
    """Adamax (torch.optim.Adamax). hyper: beta1, beta2, eps, weight_decay.

    g = grad + wd * p;  m = lerp(m, g, 1 - beta1);  u = max(beta2 * u, |g| + eps);
    p = p - (lr / (1 - beta1^t)) * m / u.  state: m, u.
    """
    t = float(step)
    n_runs, dims = params.shape
    for r in range(n_runs):
        beta1 = hyper[r, ADAMAX.beta1]
        beta2 = hyper[r, ADAMAX.beta2]
        eps = hyper[r, ADAMAX.eps]
        weight_decay = hyper[r, ADAMAX.weight_decay]
        neg_clr = -(lr[r] / (1.0 - beta1**t))
        weight1 = 1.0 - beta1
        for i in range(dims):
            g = grads[r, i]
            p = params[r, i]
            if weight_decay != 0.0:
                g = g + weight_decay * p
            m = _lerp(state[0, r, i], g, weight1)
            state[0, r, i] = m
            exp_inf = _maximum(state[1, r, i] * beta2, abs(g) + eps)
            state[1, r, i] = exp_inf
            params[r, i] = p + neg_clr * m / exp_inf


NADAM = hyper_columns(
    "beta1", "beta2", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay",
)


@compiled(OPTIMIZER_SIGNATURE)
def nadam_update(params, grads, state, hyper, step, lr):
    """NAdam (torch.optim.NAdam). hyper: beta1, beta2, eps, weight_decay, momentum_decay,
    decoupled_weight_decay.

    mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay));  prod_t = prod_{t-1} * mu_t;
    m, v as Adam;  denom = sqrt(v / (1 - beta2^t)) + eps;
    p = p - lr (1 - mu_t) / (1 - prod_t) * g / denom - lr mu_{t+1} / (1 - prod_t mu_{t+1}) * m / denom.
    state: m, v, mu_product (a per-run scalar, replicated along the row; starts at 1).
    """
    t = float(step)
    n_runs, dims = params.shape
    for r in range(n_runs):
        beta1 = hyper[r, NADAM.beta1]
        beta2 = hyper[r, NADAM.beta2]
        eps = hyper[r, NADAM.eps]
        weight_decay = hyper[r, NADAM.weight_decay]
        momentum_decay = hyper[r, NADAM.momentum_decay]
        decoupled = hyper[r, NADAM.decoupled_weight_decay] != 0.0
        lr_r = lr[r]
        bias_correction2 = 1.0 - beta2**t
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1.0) * momentum_decay)))
        mu_product = state[2, r, 0] * mu
        mu_product_next = mu_product * mu_next
        grad_coefficient = -lr_r * (1.0 - mu) / (1.0 - mu_product)
        avg_coefficient = (-lr_r * mu_next) / (1.0 - mu_product_next)
        weight1 = 1.0 - beta1
        weight2 = 1.0 - beta2
        for i in range(dims):
            g, p, m, v = _decay_and_moments(grads[r, i], params[r, i], state[0, r, i],
                                            state[1, r, i], weight_decay, decoupled, lr_r,
                                            weight1, beta2, weight2)
            state[0, r, i] = m
            state[1, r, i] = v
            state[2, r, i] = mu_product
            denom = math.sqrt(v / bias_correction2) + eps
            p = p + grad_coefficient * g / denom
            params[r, i] = p + avg_coefficient * m / denom


RADAM = hyper_columns("beta1", "beta2", "eps", "weight_decay", "decoupled_weight_decay")


@compiled(OPTIMIZER_SIGNATURE)
def radam_update(params, grads, state, hyper, step, lr):
    """RAdam (torch.optim.RAdam). hyper: beta1, beta2, eps, weight_decay, decoupled_weight_decay.

    m, v as Adam;  rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t);
    if rho_t > 5: p = p - m / (1 - beta1^t) * lr * sqrt(1 - beta2^t) / (sqrt(v) + eps) * rect,
    rect = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t));
    else p = p - m / (1 - beta1^t) * lr.  state: m, v.
    """
    t = float(step)
    n_runs, dims = params.shape
    for r in range(n_runs):
        beta1 = hyper[r, RADAM.beta1]
        beta2 = hyper[r, RADAM.beta2]
        eps = hyper[r, RADAM.eps]
        weight_decay = hyper[r, RADAM.weight_decay]
        decoupled = hyper[r, RADAM.decoupled_weight_decay] != 0.0
        lr_r = lr[r]
        bias_correction1 = 1.0 - beta1**t
        beta2_power = beta2**t
        bias_correction2 = 1.0 - beta2_power
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * t * beta2_power / bias_correction2
        rectified = rho_t > 5.0
        rect = 0.0
        if rectified:
            rect = (
                (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
            ) ** 0.5
        bias_correction2_sqrt = bias_correction2**0.5
        weight1 = 1.0 - beta1
        weight2 = 1.0 - beta2
        for i in range(dims):
            _, p, m, v = _decay_and_moments(grads[r, i], params[r, i], state[0, r, i],
                                            state[1, r, i], weight_decay, decoupled, lr_r,
                                            weight1, beta2, weight2)
            state[0, r, i] = m
            state[1, r, i] = v
            update = m / bias_correction1 * lr_r
            if rectified:
                adaptive_lr = (1.0 / (math.sqrt(v) + eps)) * bias_correction2_sqrt
                update = update * adaptive_lr * rect
            params[r, i] = p + -1.0 * update


RPROP = hyper_columns("etaminus", "etaplus", "step_size_min", "step_size_max")


@compiled(OPTIMIZER_SIGNATURE)
def rprop_update(params, grads, state, hyper, step, lr):
    """Rprop (torch.optim.Rprop). hyper: etaminus, etaplus, step_size_min, step_size_max.

    Per coordinate, with s = sign(g · prev): the step size is multiplied by etaplus (s > 0),
    etaminus (s < 0) or 1 (s = 0) and clamped to [step_size_min, step_size_max]; where the
    factor equals etaminus the gradient is taken as 0; p = p − sign(g) · step_size; prev = g.
    state: prev, step_size (torch fills it with the group's lr at the first step: the learning
    rate of later steps, and so a schedule, does not change Rprop's steps)."""
    n_runs, dims = params.shape
    for r in range(n_runs):
        etaminus = hyper[r, RPROP.etaminus]
        etaplus = hyper[r, RPROP.etaplus]
        step_min = hyper[r, RPROP.step_size_min]
        step_max = hyper[r, RPROP.step_size_max]
        if step == 1:
            for i in range(dims):
                state[1, r, i] = lr[r]
        for i in range(dims):
            g = grads[r, i]
            product = g * state[0, r, i]
            factor = etaplus if product > 0.0 else (etaminus if product < 0.0 else 1.0)
            size = min(max(state[1, r, i] * factor, step_min), step_max)
            state[1, r, i] = size
            if factor == etaminus:
                g = 0.0
            if g > 0.0:
                params[r, i] = params[r, i] - size
            elif g < 0.0:
                params[r, i] = params[r, i] + size
            state[0, r, i] = g


ASGD = hyper_columns("lambd", "alpha", "t0", "weight_decay")


@compiled(OPTIMIZER_SIGNATURE)
def asgd_update(params, grads, state, hyper, step, lr):
    """ASGD (torch.optim.ASGD). hyper: lambd, alpha, t0, weight_decay.

    g = grad + wd * p;  p = p * (1 − lambd * eta);  p = p − eta * g;
    ax = ax + (p − ax) * mu (ax = p while mu = 1);  then eta = lr / (1 + lambd * lr * t)^alpha
    and mu = 1 / max(1, t − t0) for the next update.  state: ax, eta, mu (per-run scalars at
    column 0; torch starts eta at the group's lr and mu at 1 on the first step, so a schedule
    reaches eta one update late, as in torch)."""
    t = float(step)
    n_runs, dims = params.shape
    for r in range(n_runs):
        lambd = hyper[r, ASGD.lambd]
        alpha = hyper[r, ASGD.alpha]
        t0 = hyper[r, ASGD.t0]
        weight_decay = hyper[r, ASGD.weight_decay]
        lr_r = lr[r]
        if step == 1:
            state[1, r, 0] = lr_r
            state[2, r, 0] = 1.0
        eta = state[1, r, 0]
        mu = state[2, r, 0]
        decay = 1.0 - lambd * eta
        neg_eta = -eta
        for i in range(dims):
            g = grads[r, i]
            p = params[r, i]
            if weight_decay != 0.0:
                g = g + weight_decay * p
            p = p * decay
            p = p + neg_eta * g
            params[r, i] = p
            if mu != 1.0:
                state[0, r, i] = state[0, r, i] + (p - state[0, r, i]) * mu
            else:
                state[0, r, i] = p
        state[1, r, 0] = lr_r / ((1.0 + lambd * lr_r * t) ** alpha)
        state[2, r, 0] = 1.0 / max(1.0, t - t0)
