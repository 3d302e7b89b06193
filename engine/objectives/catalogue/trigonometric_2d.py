"""Kernels and Hessians of the trigonometric 2-D functions (VLSE, Surjanovic & Bingham,
https://www.sfu.ca/~ssurjano/optimization.html). Same contract as ``polynomial_2d``."""

from __future__ import annotations

import math

import numpy as np

from engine.kernels import OBJECTIVE_SIGNATURE, compiled
from engine.objectives.catalogue.polynomial_2d import columns, hessian_2d

PI = math.pi


# --- levi13: sin²(3πx) + (x − 1)² (1 + sin²(3πy)) + (y − 1)² (1 + sin²(2πy)) -------------------
# d/dt sin²(kt) = k sin(2kt), d²/dt² sin²(kt) = 2k² cos(2kt)
@compiled(OBJECTIVE_SIGNATURE)
def levi13_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        s3x = math.sin(3.0 * PI * u)
        s3y = math.sin(3.0 * PI * v)
        s2y = math.sin(2.0 * PI * v)
        du = u - 1.0
        dv = v - 1.0
        loss_out[r] = s3x * s3x + du * du * (1.0 + s3y * s3y) + dv * dv * (1.0 + s2y * s2y)
        grad_out[r, 0] = 3.0 * PI * math.sin(6.0 * PI * u) + 2.0 * du * (1.0 + s3y * s3y)
        grad_out[r, 1] = (
            du * du * 3.0 * PI * math.sin(6.0 * PI * v)
            + 2.0 * dv * (1.0 + s2y * s2y)
            + dv * dv * 2.0 * PI * math.sin(4.0 * PI * v)
        )


def levi13_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    du, dv = u - 1.0, v - 1.0
    hxx = 18.0 * PI**2 * np.cos(6.0 * PI * u) + 2.0 * (1.0 + np.sin(3.0 * PI * v) ** 2)
    hxy = 6.0 * PI * du * np.sin(6.0 * PI * v)
    hyy = (
        du**2 * 18.0 * PI**2 * np.cos(6.0 * PI * v)
        + 2.0 * (1.0 + np.sin(2.0 * PI * v) ** 2)
        + 8.0 * PI * dv * np.sin(4.0 * PI * v)
        + dv**2 * 8.0 * PI**2 * np.cos(4.0 * PI * v)
    )
    return hessian_2d(hxx, hxy, hyy)


# --- eggholder: −(y + 47) sin(√|y + x/2 + 47|) − x sin(√|x − (y + 47)|) -------------------------
# With g(t) = sin(√|t|): g'(t) = cos(√|t|) sign(t) / (2√|t|),
# g''(t) = −sin(√|t|) / (4|t|) − cos(√|t|) / (4|t|^(3/2)). Where t = 0 exactly, √|t| has no
# derivative; the kernel takes g'(0) = 0 there (a set of measure zero).
@compiled()
def _sin_sqrt_abs_slope(t):
    if t == 0.0:
        return 0.0
    root = math.sqrt(abs(t))
    return math.cos(root) * (1.0 if t > 0.0 else -1.0) / (2.0 * root)


@compiled(OBJECTIVE_SIGNATURE)
def eggholder_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        p = v + 0.5 * u + 47.0
        q = u - v - 47.0
        gp = math.sin(math.sqrt(abs(p)))
        gq = math.sin(math.sqrt(abs(q)))
        dp = _sin_sqrt_abs_slope(p)
        dq = _sin_sqrt_abs_slope(q)
        loss_out[r] = -(v + 47.0) * gp - u * gq
        grad_out[r, 0] = -0.5 * (v + 47.0) * dp - gq - u * dq
        grad_out[r, 1] = -gp - (v + 47.0) * dp + u * dq


def _sin_sqrt_abs_derivatives(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    magnitude = np.abs(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(magnitude)
        first = np.where(t == 0.0, 0.0, np.cos(root) * np.sign(t) / (2.0 * root))
        second = np.where(
            t == 0.0, 0.0, -np.sin(root) / (4.0 * magnitude) - np.cos(root) / (4.0 * root**3)
        )
    return first, second


def eggholder_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    dp, ddp = _sin_sqrt_abs_derivatives(v + 0.5 * u + 47.0)
    dq, ddq = _sin_sqrt_abs_derivatives(u - v - 47.0)
    w = v + 47.0
    hxx = -0.25 * w * ddp - 2.0 * dq - u * ddq
    hxy = -0.5 * dp - 0.5 * w * ddp + dq + u * ddq
    hyy = -2.0 * dp - w * ddp - u * ddq
    return hessian_2d(hxx, hxy, hyy)


# --- mccormick: sin(x + y) + (x − y)² − 1.5x + 2.5y + 1 -----------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def mccormick_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        u = x[r, 0]
        v = x[r, 1]
        c = math.cos(u + v)
        loss_out[r] = math.sin(u + v) + (u - v) * (u - v) - 1.5 * u + 2.5 * v + 1.0
        grad_out[r, 0] = c + 2.0 * (u - v) - 1.5
        grad_out[r, 1] = c - 2.0 * (u - v) + 2.5


def mccormick_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    u, v = columns(x)
    curvature = -np.sin(u + v)
    return hessian_2d(curvature + 2.0, curvature - 2.0, curvature + 2.0)
