"""L-BFGS as a closure optimizer kernel (``engine.kernels.CLOSURE_SIGNATURE``): one call is one
``torch.optim.LBFGS.step(closure)`` of torch 2.13 (``torch/optim/lbfgs.py``), line for line,
with ``_strong_wolfe`` and ``_cubic_interpolate``, in float64.

Each run r is stepped on its own: the objective is evaluated on row views (``x[r:r+1]``), at
the trial points ``x + t·d`` of the line search or at the new point of a fixed step; ``loss``
is left as it came (the loss at the step's start, what ``step(closure)`` returns). The loop's
own evaluation at the step's start is torch's first ``closure()``; the kernel adds the others
to ``evaluations[r]``, so a run's evaluations are torch's ``state["func_evals"]``.

Hyperparameter columns (the registry declares them in this order): max_iter, max_eval (nan for
torch's None: ``max_iter * 5 // 4``), tolerance_grad, tolerance_change, history_size,
line_search_fn (0: None, 1: "strong_wolfe").

State slots (``_layout``; M is the largest history_size of the group):
``D`` the direction, ``PREV_GRAD`` torch's ``prev_flat_grad``, ``TRIAL`` the point a line
search evaluates, ``TRIAL_GRAD`` its gradient, ``PREVIOUS_GRAD``/``BRACKET_GRAD`` (two) the
line search's ``g_prev`` and ``bracket_g``; then the scalars (``SCALAR_*`` indices, laid along
the rows of as many slots as they need: M at index 0, n_iter, t, H_diag, prev_loss, the
history's length and oldest position, a loss buffer, ro[M], al[M]); then M slots of
``old_dirs`` (y) and M of ``old_stps`` (s), a ring buffer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.kernels import CLOSURE_SIGNATURE, compiled
from engine.optimizers.base import Layout, hyper_columns

LBFGS = hyper_columns(
    "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size",
    "line_search_fn",
)
D, PREV_GRAD, TRIAL, TRIAL_GRAD, PREVIOUS_GRAD, BRACKET_GRAD = 0, 1, 2, 3, 4, 5  # bracket: 5, 6
SCALAR_SLOT = 7
(SCALAR_CAPACITY, SCALAR_N_ITER, SCALAR_T, SCALAR_H_DIAG, SCALAR_PREV_LOSS, SCALAR_COUNT,
 SCALAR_HEAD, SCALAR_LOSS) = range(8)
FIXED_SCALARS = 8
STRONG_WOLFE = 1
C1, C2, WOLFE_TOLERANCE_CHANGE = 1e-4, 0.9, 1e-9  # _strong_wolfe's defaults (LBFGS passes none)


def init_state(hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
               learning_rate: np.ndarray | None = None) -> np.ndarray:
    """Zeros (torch's empty state: n_iter 0), room for the group's largest history."""
    capacity = int(hyper[:, LBFGS.history_size].max()) if n_runs else 1
    _, history = _layout(capacity, dims)
    state = np.zeros((history + 2 * capacity, n_runs, dims))
    state[SCALAR_SLOT, :, SCALAR_CAPACITY] = capacity
    return state


def state_size(config: dict[str, Any], dims: int) -> int:
    """The floats one run holds: the slots ``init_state`` allocates for its history_size."""
    capacity = int(config["history_size"])
    _, history = _layout(capacity, dims)
    return (history + 2 * capacity) * dims


@compiled(inline="always")
def _get(state, r, dims, index):  # pragma: no cover - compiled
    return state[SCALAR_SLOT + index // dims, r, index % dims]


@compiled(inline="always")
def _set(state, r, dims, index, value):  # pragma: no cover - compiled
    state[SCALAR_SLOT + index // dims, r, index % dims] = value


@compiled(inline="always")
def _dot(a, b):  # pragma: no cover - compiled
    total = 0.0
    for j in range(a.shape[0]):
        total += a[j] * b[j]
    return total


@compiled(inline="always")
def _abs_max(a):  # pragma: no cover - compiled
    """``a.abs().max()``: nan if any entry is nan."""
    top = -math.inf
    for j in range(a.shape[0]):
        value = abs(a[j])
        if value > top or math.isnan(value):
            top = value
            if math.isnan(value):
                return value
    return top


@compiled(inline="always")
def _cubic_interpolate(x1, f1, g1, x2, f2, g2, xmin_bound, xmax_bound):  # pragma: no cover
    """torch's ``_cubic_interpolate`` with explicit bounds (the caller passes (x1, x2) sorted
    where torch passes none)."""
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return _py_min(_py_max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


@compiled(inline="always")
def _py_min(a, b):  # pragma: no cover - compiled
    """Python's ``min(a, b)``: ``b`` only if ``b < a`` (nan compares false)."""
    if b < a:
        return b
    return a


@compiled(inline="always")
def _py_max(a, b):  # pragma: no cover - compiled
    """Python's ``max(a, b)``: ``b`` only if ``b > a``."""
    if b > a:
        return b
    return a


@compiled(inline="always")
def _interpolate_between(x1, f1, g1, x2, f2, g2):  # pragma: no cover - compiled
    if x1 <= x2:
        return _cubic_interpolate(x1, f1, g1, x2, f2, g2, x1, x2)
    return _cubic_interpolate(x1, f1, g1, x2, f2, g2, x2, x1)


@compiled(inline="always")
def _evaluate_along(objective, consts, data, batch, x, t, d, state, r, loss_row, loss_column):
    # pragma: no cover - compiled
    """torch's ``_directional_evaluate``: the loss and gradient at x + t·d (into TRIAL_GRAD)."""
    trial = state[TRIAL]
    for j in range(x.shape[0]):
        trial[r, j] = x[j] + t * d[j]
    objective(trial[r:r + 1], consts, data, batch, state[loss_row, r, loss_column:loss_column + 1],
              state[TRIAL_GRAD][r:r + 1])
    return state[loss_row, r, loss_column]


@compiled(inline="always")
def _copy(target, source):  # pragma: no cover - compiled
    for j in range(source.shape[0]):
        target[j] = source[j]


@compiled
def _strong_wolfe(objective, consts, data, batch, x, t, d, f, g, gtd, max_ls, state, r,
                  loss_row, loss_column):  # pragma: no cover - compiled
    """torch's ``_strong_wolfe`` (c1 1e-4, c2 0.9, tolerance_change 1e-9): returns (f_new, t,
    evaluations, which bracket slot holds g_new); ``g`` is the gradient at x (not written)."""
    d_norm = _abs_max(d)
    g_new = state[TRIAL_GRAD, r]
    g_prev = state[PREVIOUS_GRAD, r]
    f_new = _evaluate_along(objective, consts, data, batch, x, t, d, state, r, loss_row,
                            loss_column)
    ls_func_evals = 1
    gtd_new = _dot(g_new, d)

    t_prev, f_prev, gtd_prev = 0.0, f, gtd
    _copy(g_prev, g)
    done = False
    ls_iter = 0
    # bracket: points b0, b1 with values, directional derivatives; gradients in slots 5, 6
    b0, b1, bf0, bf1, bgtd0, bgtd1 = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    single = False  # torch's one-point bracket [t]
    while ls_iter < max_ls:
        if f_new > (f + C1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            b0, b1, bf0, bf1, bgtd0, bgtd1 = t_prev, t, f_prev, f_new, gtd_prev, gtd_new
            _copy(state[BRACKET_GRAD, r], g_prev)
            _copy(state[BRACKET_GRAD + 1, r], g_new)
            break
        if abs(gtd_new) <= -C2 * gtd:
            b0, bf0 = t, f_new
            single = True
            _copy(state[BRACKET_GRAD, r], g_new)
            done = True
            break
        if gtd_new >= 0:
            b0, b1, bf0, bf1, bgtd0, bgtd1 = t_prev, t, f_prev, f_new, gtd_prev, gtd_new
            _copy(state[BRACKET_GRAD, r], g_prev)
            _copy(state[BRACKET_GRAD + 1, r], g_new)
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step)
        t_prev = tmp
        f_prev = f_new
        _copy(g_prev, g_new)
        gtd_prev = gtd_new
        f_new = _evaluate_along(objective, consts, data, batch, x, t, d, state, r, loss_row,
                                loss_column)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:
        b0, b1, bf0, bf1 = 0.0, t, f, f_new
        single = False
        _copy(state[BRACKET_GRAD, r], g)
        _copy(state[BRACKET_GRAD + 1, r], g_new)

    if single:
        return bf0, b0, ls_func_evals, 0
    insuf_progress = False
    low = 0 if bf0 <= bf1 else 1
    while not done and ls_iter < max_ls:
        if abs(b1 - b0) * d_norm < WOLFE_TOLERANCE_CHANGE:
            break
        t = _interpolate_between(b0, bf0, bgtd0, b1, bf1, bgtd1)
        high_b = _py_max(b0, b1)
        low_b = _py_min(b0, b1)
        eps = 0.1 * (high_b - low_b)
        if _py_min(high_b - t, t - low_b) < eps:
            if insuf_progress or t >= high_b or t <= low_b:
                if abs(t - high_b) < abs(t - low_b):
                    t = high_b - eps
                else:
                    t = low_b + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new = _evaluate_along(objective, consts, data, batch, x, t, d, state, r, loss_row,
                                loss_column)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1

        f_low = bf0 if low == 0 else bf1
        if f_new > (f + C1 * t * gtd) or f_new >= f_low:
            if low == 0:  # the high point is 1
                b1, bf1, bgtd1 = t, f_new, gtd_new
                _copy(state[BRACKET_GRAD + 1, r], g_new)
            else:
                b0, bf0, bgtd0 = t, f_new, gtd_new
                _copy(state[BRACKET_GRAD, r], g_new)
            low = 0 if bf0 <= bf1 else 1
        else:
            if abs(gtd_new) <= -C2 * gtd:
                done = True
            elif gtd_new * ((b1 - b0) if low == 0 else (b0 - b1)) >= 0:
                # old high becomes new low
                if low == 0:
                    b1, bf1, bgtd1 = b0, bf0, bgtd0
                    _copy(state[BRACKET_GRAD + 1, r], state[BRACKET_GRAD, r])
                else:
                    b0, bf0, bgtd0 = b1, bf1, bgtd1
                    _copy(state[BRACKET_GRAD, r], state[BRACKET_GRAD + 1, r])
            if low == 0:
                b0, bf0, bgtd0 = t, f_new, gtd_new
                _copy(state[BRACKET_GRAD, r], g_new)
            else:
                b1, bf1, bgtd1 = t, f_new, gtd_new
                _copy(state[BRACKET_GRAD + 1, r], g_new)
    if low == 0:
        return bf0, b0, ls_func_evals, 0
    return bf1, b1, ls_func_evals, 1


@compiled(inline="always")
def _layout(capacity, dims):  # pragma: no cover - compiled
    scalar_slots = -(-(FIXED_SCALARS + 2 * capacity) // dims)
    return scalar_slots, SCALAR_SLOT + scalar_slots


@compiled
def _lbfgs_run(objective, consts, data, batch, params, grads, loss, state, hyper, lr,
               evaluations, r):  # pragma: no cover - compiled
    """One ``LBFGS.step(closure)`` for run r."""
    dims = params.shape[1]
    x = params[r]
    g = grads[r]
    max_iter = int(hyper[r, LBFGS.max_iter])
    max_eval_value = hyper[r, LBFGS.max_eval]
    max_eval = max_iter * 5 // 4 if math.isnan(max_eval_value) else int(max_eval_value)
    tolerance_grad = hyper[r, LBFGS.tolerance_grad]
    tolerance_change = hyper[r, LBFGS.tolerance_change]
    history_size = int(hyper[r, LBFGS.history_size])
    strong_wolfe = hyper[r, LBFGS.line_search_fn] == STRONG_WOLFE
    capacity = int(_get(state, r, dims, SCALAR_CAPACITY))
    ro = FIXED_SCALARS
    al = FIXED_SCALARS + capacity
    _, history = _layout(capacity, dims)
    loss_row = SCALAR_SLOT + SCALAR_LOSS // dims
    loss_column = SCALAR_LOSS % dims

    f = loss[r]
    current_evals = 1
    if _abs_max(g) <= tolerance_grad:
        return
    d = state[D, r]
    prev_g = state[PREV_GRAD, r]
    t = _get(state, r, dims, SCALAR_T)
    h_diag = _get(state, r, dims, SCALAR_H_DIAG)
    prev_loss = _get(state, r, dims, SCALAR_PREV_LOSS)
    count = int(_get(state, r, dims, SCALAR_COUNT))
    head = int(_get(state, r, dims, SCALAR_HEAD))
    n_iter_total = int(_get(state, r, dims, SCALAR_N_ITER))
    opt_cond = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        n_iter_total += 1
        if n_iter_total == 1:
            for j in range(dims):
                d[j] = -g[j]
            count = 0
            head = 0
            h_diag = 1.0
        else:
            ys = 0.0
            for j in range(dims):
                ys += (g[j] - prev_g[j]) * (d[j] * t)
            if ys > 1e-10:
                if count == history_size:
                    slot = head
                    head = (head + 1) % history_size
                else:
                    slot = (head + count) % history_size
                    count += 1
                y = state[history + slot, r]
                s = state[history + capacity + slot, r]
                for j in range(dims):
                    y[j] = g[j] - prev_g[j]
                    s[j] = d[j] * t
                _set(state, r, dims, ro + slot, 1.0 / ys)
                h_diag = ys / _dot(y, y)
            # two-loop recursion in d (torch's q, then r = d)
            for j in range(dims):
                d[j] = -g[j]
            for i in range(count - 1, -1, -1):
                slot = (head + i) % history_size
                s = state[history + capacity + slot, r]
                y = state[history + slot, r]
                al_i = _dot(s, d) * _get(state, r, dims, ro + slot)
                _set(state, r, dims, al + slot, al_i)
                for j in range(dims):
                    d[j] = d[j] + (-al_i) * y[j]
            for j in range(dims):
                d[j] = d[j] * h_diag
            for i in range(count):
                slot = (head + i) % history_size
                s = state[history + capacity + slot, r]
                y = state[history + slot, r]
                be_i = _dot(y, d) * _get(state, r, dims, ro + slot)
                step_i = _get(state, r, dims, al + slot) - be_i
                for j in range(dims):
                    d[j] = d[j] + step_i * s[j]
        _copy(prev_g, g)
        prev_loss = f

        if n_iter_total == 1:
            total = 0.0
            for j in range(dims):
                total += abs(g[j])
            t = _py_min(1.0, 1.0 / total) * lr[r]
        else:
            t = lr[r]
        gtd = _dot(g, d)
        if gtd > -tolerance_change:
            break

        ls_func_evals = 0
        if strong_wolfe:
            f, t, ls_func_evals, slot = _strong_wolfe(
                objective, consts, data, batch, x, t, d, f, g, gtd, max_eval - current_evals,
                state, r, loss_row, loss_column)
            _copy(g, state[BRACKET_GRAD + slot, r])
            for j in range(dims):
                x[j] = x[j] + t * d[j]
            opt_cond = _abs_max(g) <= tolerance_grad
        else:
            for j in range(dims):
                x[j] = x[j] + t * d[j]
            if n_iter != max_iter:
                objective(params[r:r + 1], consts, data, batch,
                          state[loss_row, r, loss_column:loss_column + 1], grads[r:r + 1])
                f = state[loss_row, r, loss_column]
                opt_cond = _abs_max(g) <= tolerance_grad
                ls_func_evals = 1
        current_evals += ls_func_evals
        evaluations[r] += ls_func_evals

        if n_iter == max_iter:
            break
        if current_evals >= max_eval:
            break
        if opt_cond:
            break
        moved = 0.0
        for j in range(dims):
            value = abs(d[j] * t)
            if value > moved or math.isnan(value):
                moved = value
        if moved <= tolerance_change:
            break
        if abs(f - prev_loss) < tolerance_change:
            break

    _set(state, r, dims, SCALAR_T, t)
    _set(state, r, dims, SCALAR_H_DIAG, h_diag)
    _set(state, r, dims, SCALAR_PREV_LOSS, prev_loss)
    _set(state, r, dims, SCALAR_COUNT, count)
    _set(state, r, dims, SCALAR_HEAD, head)
    _set(state, r, dims, SCALAR_N_ITER, n_iter_total)


@compiled(CLOSURE_SIGNATURE)
def lbfgs_step(objective, hessian, consts, data, batch, params, grads, loss, state, hyper, step,
               lr, evaluations):  # pragma: no cover - compiled
    """One ``torch.optim.LBFGS.step(closure)`` per run (module docstring)."""
    for r in range(params.shape[0]):
        _lbfgs_run(objective, consts, data, batch, params, grads, loss, state, hyper, lr,
                   evaluations, r)
