"""Compiled exact Hessians: one kernel per objective that has one (docs/spec.md §4.1, ``newton``).

Each kernel follows ``engine.kernels.HESSIAN_SIGNATURE``: ``(x (R, d), consts, data, batch,
hess_out (R, d, d))``, writing the exact, symmetric Hessian at each point (for dataset models
the mean over ``batch``, as the loss).

Catalogue functions port their NumPy ``hessian`` (engine/objectives/catalogue); formulas get
theirs from the symbolic second derivatives (``CompiledExpression.hessian_kernel``); the linear
and logistic models have closed forms over the batch. ``hessian_kernel(objective)`` is the one
place that says which objective has which kernel (None: no exact Hessian, so no ``newton``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from engine.errors import SpecError
from engine.kernels import HESSIAN_SIGNATURE, compiled
from engine.objectives.base import Objective
from engine.objectives.catalogue import n_dimensional as nd
from engine.objectives.catalogue import polynomial_2d as poly
from engine.objectives.catalogue import trigonometric_2d as trig
from engine.objectives.expression import expression_of
from engine.objectives.models import (
    LOGISTIC_BCE,
    LOGISTIC_SQUARED_ERROR,
    linear_regression_kernel,
    logistic_regression_kernel,
)

PI = math.pi


@compiled(inline="always")
def _store_2d(hess_out, r, hxx, hxy, hyy):  # pragma: no cover - compiled
    hess_out[r, 0, 0] = hxx
    hess_out[r, 0, 1] = hxy
    hess_out[r, 1, 0] = hxy
    hess_out[r, 1, 1] = hyy


# --- polynomial 2-D (formulas: engine/objectives/catalogue/polynomial_2d.py) -------------------
@compiled(HESSIAN_SIGNATURE)
def himmelblau_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        p = u * u + v - 11.0
        q = u + v * v - 7.0
        _store_2d(hess_out, r, 4.0 * p + 8.0 * u * u + 2.0, 4.0 * (u + v),
                  2.0 + 4.0 * q + 8.0 * v * v)


@compiled(HESSIAN_SIGNATURE)
def beale_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        v2 = v * v
        v3 = v2 * v
        t1 = 1.5 - u + u * v
        t2 = 2.25 - u + u * v2
        t3 = 2.625 - u + u * v3
        # ∂t_k/∂x = y^k − 1, ∂t_k/∂y = k x y^(k−1)
        a1, a2, a3 = v - 1.0, v2 - 1.0, v3 - 1.0
        b1, b2, b3 = u, 2.0 * u * v, 3.0 * u * v2
        hxx = 2.0 * (a1 * a1 + a2 * a2 + a3 * a3)
        hxy = 2.0 * (b1 * a1 + t1 + b2 * a2 + 2.0 * v * t2 + b3 * a3 + 3.0 * v2 * t3)
        hyy = 2.0 * (b1 * b1 + b2 * b2 + b3 * b3 + t2 * 2.0 * u + t3 * 6.0 * u * v)
        _store_2d(hess_out, r, hxx, hxy, hyy)


@compiled(HESSIAN_SIGNATURE)
def booth_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        _store_2d(hess_out, r, 10.0, 8.0, 10.0)


@compiled(HESSIAN_SIGNATURE)
def matyas_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        _store_2d(hess_out, r, 0.52, -0.48, 0.52)


@compiled(HESSIAN_SIGNATURE)
def goldstein_price_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        s = u + v + 1.0
        p = 19.0 - 14.0 * u + 3.0 * u * u - 14.0 * v + 6.0 * u * v + 3.0 * v * v
        p_x = -14.0 + 6.0 * u + 6.0 * v
        a = 1.0 + s * s * p
        a_x = 2.0 * s * p + s * s * p_x
        a_xx = 2.0 * p + 4.0 * s * p_x + 6.0 * s * s  # every second derivative of A is this one
        w = 2.0 * u - 3.0 * v
        q = 18.0 - 32.0 * u + 12.0 * u * u + 48.0 * v - 36.0 * u * v + 27.0 * v * v
        q_x = -32.0 + 24.0 * u - 36.0 * v
        q_y = 48.0 - 36.0 * u + 54.0 * v
        b = 30.0 + w * w * q
        b_x = 4.0 * w * q + w * w * q_x
        b_y = -6.0 * w * q + w * w * q_y
        b_xx = 8.0 * q + 8.0 * w * q_x + 24.0 * w * w
        b_xy = -12.0 * q + 4.0 * w * q_y - 6.0 * w * q_x - 36.0 * w * w
        b_yy = 18.0 * q - 12.0 * w * q_y + 54.0 * w * w
        _store_2d(hess_out, r, a_xx * b + 2.0 * a_x * b_x + a * b_xx,
                  a_xx * b + a_x * b_y + a_x * b_x + a * b_xy,
                  a_xx * b + 2.0 * a_x * b_y + a * b_yy)


@compiled(HESSIAN_SIGNATURE)
def three_hump_camel_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        u2 = x[r, 0] * x[r, 0]
        _store_2d(hess_out, r, 4.0 - 12.6 * u2 + 5.0 * u2 * u2, 1.0, 2.0)


@compiled(HESSIAN_SIGNATURE)
def six_hump_camel_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        u2 = x[r, 0] * x[r, 0]
        v2 = x[r, 1] * x[r, 1]
        _store_2d(hess_out, r, 8.0 - 25.2 * u2 + 10.0 * u2 * u2, 1.0, -8.0 + 48.0 * v2)


@compiled(HESSIAN_SIGNATURE)
def saddle_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        _store_2d(hess_out, r, 2.0, 0.0, -2.0)


@compiled(HESSIAN_SIGNATURE)
def monkey_saddle_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        _store_2d(hess_out, r, 6.0 * x[r, 0], -6.0 * x[r, 1], -6.0 * x[r, 0])


# --- trigonometric 2-D (engine/objectives/catalogue/trigonometric_2d.py) ------------------------
@compiled(HESSIAN_SIGNATURE)
def levi13_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        du = u - 1.0
        dv = v - 1.0
        s3y = math.sin(3.0 * PI * v)
        s2y = math.sin(2.0 * PI * v)
        hxx = 18.0 * PI * PI * math.cos(6.0 * PI * u) + 2.0 * (1.0 + s3y * s3y)
        hxy = 6.0 * PI * du * math.sin(6.0 * PI * v)
        hyy = (du * du * 18.0 * PI * PI * math.cos(6.0 * PI * v)
               + 2.0 * (1.0 + s2y * s2y)
               + 8.0 * PI * dv * math.sin(4.0 * PI * v)
               + dv * dv * 8.0 * PI * PI * math.cos(4.0 * PI * v))
        _store_2d(hess_out, r, hxx, hxy, hyy)


@compiled(inline="always")
def _sin_sqrt_abs_derivatives(t):  # pragma: no cover - compiled
    """g′(t) and g″(t) of g(t) = sin(√|t|); both taken as 0 at t = 0 (where √|t| has none)."""
    if t == 0.0:
        return 0.0, 0.0
    magnitude = abs(t)
    root = math.sqrt(magnitude)
    sign = 1.0 if t > 0.0 else -1.0
    first = math.cos(root) * sign / (2.0 * root)
    second = -math.sin(root) / (4.0 * magnitude) - math.cos(root) / (4.0 * root * root * root)
    return first, second


@compiled(HESSIAN_SIGNATURE)
def eggholder_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        dp, ddp = _sin_sqrt_abs_derivatives(v + 0.5 * u + 47.0)
        dq, ddq = _sin_sqrt_abs_derivatives(u - v - 47.0)
        w = v + 47.0
        _store_2d(hess_out, r, -0.25 * w * ddp - 2.0 * dq - u * ddq,
                  -0.5 * dp - 0.5 * w * ddp + dq + u * ddq,
                  -2.0 * dp - w * ddp - u * ddq)


@compiled(HESSIAN_SIGNATURE)
def mccormick_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        curvature = -math.sin(x[r, 0] + x[r, 1])
        _store_2d(hess_out, r, curvature + 2.0, curvature - 2.0, curvature + 2.0)


# --- n-D (engine/objectives/catalogue/n_dimensional.py) ----------------------------------------
@compiled(inline="always")
def _zero(hess_out, r):  # pragma: no cover - compiled
    d = hess_out.shape[1]
    for i in range(d):
        for j in range(d):
            hess_out[r, i, j] = 0.0


@compiled(HESSIAN_SIGNATURE)
def sphere_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        _zero(hess_out, r)
        for i in range(x.shape[1]):
            hess_out[r, i, i] = 2.0


@compiled(HESSIAN_SIGNATURE)
def rosenbrock_hessian(x, consts, data, batch, hess_out):
    b = consts[1]
    d = x.shape[1]
    for r in range(x.shape[0]):
        _zero(hess_out, r)
        for i in range(d - 1):
            xi = x[r, i]
            hess_out[r, i, i] += -4.0 * b * (x[r, i + 1] - xi * xi) + 8.0 * b * xi * xi + 2.0
            hess_out[r, i + 1, i + 1] += 2.0 * b
            hess_out[r, i, i + 1] = -4.0 * b * xi
            hess_out[r, i + 1, i] = -4.0 * b * xi


@compiled(HESSIAN_SIGNATURE)
def rastrigin_hessian(x, consts, data, batch, hess_out):
    amplitude = consts[0]
    for r in range(x.shape[0]):
        _zero(hess_out, r)
        for i in range(x.shape[1]):
            hess_out[r, i, i] = 2.0 + 4.0 * PI * PI * amplitude * math.cos(2.0 * PI * x[r, i])


@compiled(HESSIAN_SIGNATURE)
def ackley_hessian(x, consts, data, batch, hess_out):
    """The wave term (c²/d)·F·[cos(c x_i) δ_ij − sin(c x_i) sin(c x_j)/d] plus, away from the
    origin (where the cone has no second derivative and is left out), the cone term
    h δ_ij + x_i x_j h′(r)/(d r), h = bE/(d r), h′(r) = −(bE/d)(b/r + 1/r²), E = a e^(−b r)."""
    a = consts[0]
    b = consts[1]
    c = consts[2]
    d = x.shape[1]
    for r in range(x.shape[0]):
        squares = 0.0
        cosines = 0.0
        for i in range(d):
            squares += x[r, i] * x[r, i]
            cosines += math.cos(c * x[r, i])
        radius = math.sqrt(squares / d)
        wave = math.exp(cosines / d)
        h = 0.0
        h_slope = 0.0
        if radius > 0.0:
            cone = a * math.exp(-b * radius)
            h = b * cone / (d * radius)
            h_slope = -(b * cone / d) * (b / radius + 1.0 / (radius * radius)) / (d * radius)
        for i in range(d):
            si = math.sin(c * x[r, i])
            for j in range(i, d):
                entry = (-(c * c / (d * d)) * wave * si * math.sin(c * x[r, j])
                         + h_slope * x[r, i] * x[r, j])
                if i == j:
                    entry += (c * c / d) * wave * math.cos(c * x[r, i]) + h
                hess_out[r, i, j] = entry
                hess_out[r, j, i] = entry


@compiled(HESSIAN_SIGNATURE)
def styblinski_tang_hessian(x, consts, data, batch, hess_out):
    for r in range(x.shape[0]):
        _zero(hess_out, r)
        for i in range(x.shape[1]):
            hess_out[r, i, i] = 6.0 * x[r, i] * x[r, i] - 16.0


@compiled(HESSIAN_SIGNATURE)
def quadratic_hessian(x, consts, data, batch, hess_out):
    d = x.shape[1]
    for r in range(x.shape[0]):
        for i in range(d):
            for j in range(d):
                hess_out[r, i, j] = consts[i * d + j]


# --- dataset models (engine/objectives/models.py): [w_1..w_d, b], a = [x, 1] -------------------
@compiled(inline="always")
def _add_outer(h, row, d, weight):  # pragma: no cover - compiled
    """``h += weight · a aᵀ`` on the upper triangle, ``a = [row[:d], 1]``."""
    for i in range(d + 1):
        ai = row[i] if i < d else 1.0
        scaled = weight * ai
        for j in range(i, d):
            h[i, j] += scaled * row[j]
        h[i, d] += scaled


@compiled(inline="always")
def _mirror_and_scale(h, scale):  # pragma: no cover - compiled
    n = h.shape[0]
    for i in range(n):
        for j in range(i, n):
            h[i, j] *= scale
            h[j, i] = h[i, j]


@compiled(HESSIAN_SIGNATURE)
def linear_regression_hessian(x, consts, data, batch, hess_out):
    """``2/B Σ a aᵀ`` over the batch (torch ``MSELoss``, no ½): the same at every point."""
    d = x.shape[1] - 1
    for r in range(x.shape[0]):
        h = hess_out[r]
        _zero(hess_out, r)
        for k in range(batch.shape[0]):
            _add_outer(h, data[batch[k]], d, 1.0)
        _mirror_and_scale(h, 2.0 / batch.shape[0] if batch.shape[0] else 0.0)


@compiled(HESSIAN_SIGNATURE)
def logistic_regression_hessian(x, consts, data, batch, hess_out):
    """``1/B Σ ℓ″(z) a aᵀ``, z = w·x + b: BCE with logits ℓ″ = σ(1 − σ); squared error on σ
    (loss 1) ℓ″ = 2[σ(1 − σ)]² + 2(σ − y)·σ(1 − σ)(1 − 2σ)."""
    loss = LOGISTIC_SQUARED_ERROR if consts[0] == 1.0 else LOGISTIC_BCE
    d = x.shape[1] - 1
    for r in range(x.shape[0]):
        h = hess_out[r]
        w = x[r]
        _zero(hess_out, r)
        for k in range(batch.shape[0]):
            row = data[batch[k]]
            z = w[d]
            for j in range(d):
                z += w[j] * row[j]
            tail = math.exp(-abs(z))
            sigma = 1.0 / (1.0 + tail) if z >= 0.0 else tail / (1.0 + tail)
            slope = sigma * (1.0 - sigma)
            if loss == LOGISTIC_SQUARED_ERROR:
                curvature = 2.0 * slope * slope + 2.0 * (sigma - row[d]) * slope * (1.0 - 2.0 * sigma)
            else:
                curvature = slope
            _add_outer(h, row, d, curvature)
        _mirror_and_scale(h, 1.0 / batch.shape[0] if batch.shape[0] else 0.0)


HESSIAN_KERNELS: dict[Callable, Callable] = {
    poly.himmelblau_kernel: himmelblau_hessian,
    poly.beale_kernel: beale_hessian,
    poly.booth_kernel: booth_hessian,
    poly.matyas_kernel: matyas_hessian,
    poly.goldstein_price_kernel: goldstein_price_hessian,
    poly.three_hump_camel_kernel: three_hump_camel_hessian,
    poly.six_hump_camel_kernel: six_hump_camel_hessian,
    poly.saddle_kernel: saddle_hessian,
    poly.monkey_saddle_kernel: monkey_saddle_hessian,
    trig.levi13_kernel: levi13_hessian,
    trig.eggholder_kernel: eggholder_hessian,
    trig.mccormick_kernel: mccormick_hessian,
    nd.sphere_kernel: sphere_hessian,
    nd.rosenbrock_kernel: rosenbrock_hessian,
    nd.rastrigin_kernel: rastrigin_hessian,
    nd.ackley_kernel: ackley_hessian,
    nd.styblinski_tang_kernel: styblinski_tang_hessian,
    nd.quadratic_kernel: quadratic_hessian,
    linear_regression_kernel: linear_regression_hessian,
    logistic_regression_kernel: logistic_regression_hessian,
}
"""Each objective kernel with an exact Hessian, and that Hessian's kernel."""


def hessian_kernel(objective: Objective) -> Callable | None:
    """The compiled exact Hessian of ``objective`` (``HESSIAN_SIGNATURE``), or None: softmax
    regression and the MLP have none, nor a formula whose second derivatives are too large
    to derive symbolically. A formula's kernel is compiled here, on first use."""
    formula = expression_of(objective)
    if formula is not None:
        return formula.hessian_kernel()
    return HESSIAN_KERNELS.get(objective.kernel)


def require_hessian(objective: Objective, optimizer: str) -> None:
    """Raise ``SpecError("optimizer")`` saying why when ``objective`` has no exact Hessian
    (validation: nothing is compiled here, a formula is only differentiated)."""
    formula = expression_of(objective)
    if formula is not None:
        if formula.hessian_entries() is None:
            raise SpecError("optimizer", f"{optimizer} needs the exact Hessian, and this "
                            "formula's second derivatives are too large to derive; simplify it")
        return
    if objective.kernel not in HESSIAN_KERNELS:
        raise SpecError("optimizer", f"{optimizer} needs the exact Hessian, which "
                        f"{objective.name} does not have (catalogue functions, formulas, "
                        "linear_regression and logistic_regression have one)")


__all__ = [
    "HESSIAN_KERNELS",
    "hessian_kernel",
    "require_hessian",
]
