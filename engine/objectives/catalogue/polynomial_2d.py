"""Kernels and Hessians of the polynomial 2-D functions (VLSE, Surjanovic & Bingham,
https://www.sfu.ca/~ssurjano/optimization.html), plus the two textbook saddles.

Each kernel follows ``engine.kernels.OBJECTIVE_SIGNATURE``: it loops over the run axis of
``x`` (R, 2), writes the value to ``loss_out`` and the exact gradient to ``grad_out``;
``consts``, ``data`` and ``batch`` are unused. Each Hessian is NumPy: ``(R, 2) -> (R, 2, 2)``.
"""

from __future__ import annotations

import numpy as np

from engine.kernels import OBJECTIVE_SIGNATURE, compiled


def hessian_2d(
    hxx: np.ndarray | float, hxy: np.ndarray | float, hyy: np.ndarray | float
) -> np.ndarray:
    """Stack the three distinct second derivatives into ``(R, 2, 2)`` symmetric matrices."""
    hxx, hxy, hyy = np.broadcast_arrays(hxx, hxy, hyy)
    out = np.empty(hxx.shape + (2, 2))
    out[..., 0, 0] = hxx
    out[..., 0, 1] = hxy
    out[..., 1, 0] = hxy
    out[..., 1, 1] = hyy
    return out


def columns(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return points[:, 0], points[:, 1]


# --- himmelblau: (x² + y − 11)² + (x + y² − 7)² ---------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def himmelblau_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        p = u * u + v - 11.0
        q = u + v * v - 7.0
        loss_out[r] = p * p + q * q
        grad_out[r, 0] = 4.0 * u * p + 2.0 * q
        grad_out[r, 1] = 2.0 * p + 4.0 * v * q


def himmelblau_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    p = u * u + v - 11.0
    q = u + v * v - 7.0
    return hessian_2d(4.0 * p + 8.0 * u * u + 2.0, 4.0 * (u + v), 2.0 + 4.0 * q + 8.0 * v * v)


# --- beale: (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)² ----------------------------
@compiled(OBJECTIVE_SIGNATURE)
def beale_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        t1 = 1.5 - u + u * v
        t2 = 2.25 - u + u * v * v
        t3 = 2.625 - u + u * v * v * v
        loss_out[r] = t1 * t1 + t2 * t2 + t3 * t3
        grad_out[r, 0] = 2.0 * (t1 * (v - 1.0) + t2 * (v * v - 1.0) + t3 * (v * v * v - 1.0))
        grad_out[r, 1] = 2.0 * u * (t1 + 2.0 * v * t2 + 3.0 * v * v * t3)


def beale_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    t1 = 1.5 - u + u * v
    t2 = 2.25 - u + u * v**2
    t3 = 2.625 - u + u * v**3
    # ∂t_k/∂x = y^k − 1, ∂t_k/∂y = k x y^(k−1)
    a1, a2, a3 = v - 1.0, v**2 - 1.0, v**3 - 1.0
    b1, b2, b3 = u, 2.0 * u * v, 3.0 * u * v**2
    hxx = 2.0 * (a1**2 + a2**2 + a3**2)
    hxy = 2.0 * (b1 * a1 + t1 + b2 * a2 + 2.0 * v * t2 + b3 * a3 + 3.0 * v**2 * t3)
    hyy = 2.0 * (b1**2 + b2**2 + b3**2 + t2 * 2.0 * u + t3 * 6.0 * u * v)
    return hessian_2d(hxx, hxy, hyy)


# --- booth: (x + 2y − 7)² + (2x + y − 5)² -------------------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def booth_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        p = x[r, 0] + 2.0 * x[r, 1] - 7.0
        q = 2.0 * x[r, 0] + x[r, 1] - 5.0
        loss_out[r] = p * p + q * q
        grad_out[r, 0] = 2.0 * p + 4.0 * q
        grad_out[r, 1] = 4.0 * p + 2.0 * q


def booth_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, _ = columns(x)
    return hessian_2d(np.full_like(u, 10.0), 8.0, 10.0)


# --- matyas: 0.26 (x² + y²) − 0.48 xy -----------------------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def matyas_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        loss_out[r] = 0.26 * (u * u + v * v) - 0.48 * u * v
        grad_out[r, 0] = 0.52 * u - 0.48 * v
        grad_out[r, 1] = 0.52 * v - 0.48 * u


def matyas_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, _ = columns(x)
    return hessian_2d(np.full_like(u, 0.52), -0.48, 0.52)


# --- goldstein_price: A(x, y) · B(x, y) ---------------------------------------------------------
# A = 1 + (x + y + 1)² (19 − 14x + 3x² − 14y + 6xy + 3y²)
# B = 30 + (2x − 3y)² (18 − 32x + 12x² + 48y − 36xy + 27y²)
@compiled(OBJECTIVE_SIGNATURE)
def goldstein_price_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        s = u + v + 1.0
        p = 19.0 - 14.0 * u + 3.0 * u * u - 14.0 * v + 6.0 * u * v + 3.0 * v * v
        p_x = -14.0 + 6.0 * u + 6.0 * v  # = ∂p/∂y as well
        a = 1.0 + s * s * p
        a_x = 2.0 * s * p + s * s * p_x  # = ∂A/∂y: A depends on x and y symmetrically
        w = 2.0 * u - 3.0 * v
        q = 18.0 - 32.0 * u + 12.0 * u * u + 48.0 * v - 36.0 * u * v + 27.0 * v * v
        q_x = -32.0 + 24.0 * u - 36.0 * v
        q_y = 48.0 - 36.0 * u + 54.0 * v
        b = 30.0 + w * w * q
        b_x = 4.0 * w * q + w * w * q_x
        b_y = -6.0 * w * q + w * w * q_y
        loss_out[r] = a * b
        grad_out[r, 0] = a_x * b + a * b_x
        grad_out[r, 1] = a_x * b + a * b_y


def goldstein_price_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    s = u + v + 1.0
    p = 19.0 - 14.0 * u + 3.0 * u**2 - 14.0 * v + 6.0 * u * v + 3.0 * v**2
    p_x = -14.0 + 6.0 * u + 6.0 * v
    a = 1.0 + s**2 * p
    a_x = 2.0 * s * p + s**2 * p_x
    a_xx = 2.0 * p + 4.0 * s * p_x + 6.0 * s**2  # every second derivative of A is this one
    w = 2.0 * u - 3.0 * v
    q = 18.0 - 32.0 * u + 12.0 * u**2 + 48.0 * v - 36.0 * u * v + 27.0 * v**2
    q_x = -32.0 + 24.0 * u - 36.0 * v
    q_y = 48.0 - 36.0 * u + 54.0 * v
    b = 30.0 + w**2 * q
    b_x = 4.0 * w * q + w**2 * q_x
    b_y = -6.0 * w * q + w**2 * q_y
    b_xx = 8.0 * q + 8.0 * w * q_x + 24.0 * w**2
    b_xy = -12.0 * q + 4.0 * w * q_y - 6.0 * w * q_x - 36.0 * w**2
    b_yy = 18.0 * q - 12.0 * w * q_y + 54.0 * w**2
    hxx = a_xx * b + 2.0 * a_x * b_x + a * b_xx
    hxy = a_xx * b + a_x * b_y + a_x * b_x + a * b_xy
    hyy = a_xx * b + 2.0 * a_x * b_y + a * b_yy
    return hessian_2d(hxx, hxy, hyy)


# --- three_hump_camel: 2x² − 1.05x⁴ + x⁶/6 + xy + y² --------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def three_hump_camel_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        u2 = u * u
        loss_out[r] = 2.0 * u2 - 1.05 * u2 * u2 + u2 * u2 * u2 / 6.0 + u * v + v * v
        grad_out[r, 0] = 4.0 * u - 4.2 * u2 * u + u2 * u2 * u + v
        grad_out[r, 1] = u + 2.0 * v


def three_hump_camel_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, _ = columns(x)
    return hessian_2d(4.0 - 12.6 * u**2 + 5.0 * u**4, 1.0, 2.0)


# --- six_hump_camel: (4 − 2.1x² + x⁴/3) x² + xy + (−4 + 4y²) y² ---------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def six_hump_camel_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        u2 = u * u
        v2 = v * v
        loss_out[r] = (4.0 - 2.1 * u2 + u2 * u2 / 3.0) * u2 + u * v + (-4.0 + 4.0 * v2) * v2
        grad_out[r, 0] = 8.0 * u - 8.4 * u2 * u + 2.0 * u2 * u2 * u + v
        grad_out[r, 1] = u - 8.0 * v + 16.0 * v2 * v


def six_hump_camel_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    return hessian_2d(8.0 - 25.2 * u**2 + 10.0 * u**4, 1.0, -8.0 + 48.0 * v**2)


# --- saddle: x² − y² ----------------------------------------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def saddle_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        loss_out[r] = u * u - v * v
        grad_out[r, 0] = 2.0 * u
        grad_out[r, 1] = -2.0 * v


def saddle_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, _ = columns(x)
    return hessian_2d(np.full_like(u, 2.0), 0.0, -2.0)


# --- monkey_saddle: x³ − 3xy² -------------------------------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def monkey_saddle_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        loss_out[r] = u * u * u - 3.0 * u * v * v
        grad_out[r, 0] = 3.0 * u * u - 3.0 * v * v
        grad_out[r, 1] = -6.0 * u * v


def monkey_saddle_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    return hessian_2d(6.0 * u, -6.0 * v, -6.0 * u)
