"""Kernels and Hessians of the n-dimensional functions (VLSE, Surjanovic & Bingham,
https://www.sfu.ca/~ssurjano/optimization.html). The dimension is ``x.shape[1]``; the
function's parameters come in ``consts``. Kernel contract: ``engine.kernels``."""

from __future__ import annotations

import math

import numpy as np

from engine.kernels import OBJECTIVE_SIGNATURE, compiled, flat

PI = math.pi


def _points(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.asarray(x, dtype=np.float64))


def _diagonal(values: np.ndarray) -> np.ndarray:
    """``(R, d)`` diagonals -> ``(R, d, d)`` diagonal matrices."""
    out = np.zeros(values.shape + (values.shape[-1],))
    index = np.arange(values.shape[-1])
    out[:, index, index] = values
    return out


# --- sphere: Σ x_i² -----------------------------------------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def sphere_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        total = 0.0
        for i in range(x.shape[1]):
            total += x[r, i] * x[r, i]
            grad_out[r, i] = 2.0 * x[r, i]
        loss_out[r] = total


def sphere_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    return _diagonal(np.full_like(_points(x), 2.0))


# --- rosenbrock: Σ_{i<d} b (x_{i+1} − x_i²)² + (a − x_i)², consts = [a, b] -----------------------
@compiled(inline="always")
def _rosenbrock_rows(x, consts, loss_out, grad_out, dims):
    """Indexed on flat views with ``dims`` a compile-time constant where the caller can make it
    one (2), so that LLVM vectorises across runs."""
    a = consts[0]
    b = consts[1]
    flat_x = flat(x)
    flat_grad = flat(grad_out)
    for r in range(x.shape[0]):
        row = r * dims
        total = 0.0
        for i in range(dims):
            flat_grad[row + i] = 0.0
        for i in range(dims - 1):
            xi = flat_x[row + i]
            t = flat_x[row + i + 1] - xi * xi
            s = a - xi
            total += b * t * t + s * s
            flat_grad[row + i] += -4.0 * b * xi * t - 2.0 * s
            flat_grad[row + i + 1] += 2.0 * b * t
        loss_out[r] = total


@compiled(OBJECTIVE_SIGNATURE)
def rosenbrock_kernel(x, consts, data, batch, loss_out, grad_out):
    if x.shape[1] == 2:
        _rosenbrock_rows(x, consts, loss_out, grad_out, 2)
    else:
        _rosenbrock_rows(x, consts, loss_out, grad_out, x.shape[1])


def rosenbrock_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    points = _points(x)
    b = consts[1]
    head, tail = points[:, :-1], points[:, 1:]
    d = points.shape[1]
    diagonal = np.zeros_like(points)
    diagonal[:, :-1] += -4.0 * b * (tail - head**2) + 8.0 * b * head**2 + 2.0
    diagonal[:, 1:] += 2.0 * b
    out = _diagonal(diagonal)
    index = np.arange(d - 1)
    out[:, index, index + 1] = -4.0 * b * head
    out[:, index + 1, index] = -4.0 * b * head
    return out


# --- rastrigin: A d + Σ (x_i² − A cos(2π x_i)), consts = [A] -------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def rastrigin_kernel(x, consts, data, batch, loss_out, grad_out):
    amplitude = consts[0]
    d = x.shape[1]
    for r in range(x.shape[0]):
        total = amplitude * d
        for i in range(d):
            xi = x[r, i]
            total += xi * xi - amplitude * math.cos(2.0 * PI * xi)
            grad_out[r, i] = 2.0 * xi + 2.0 * PI * amplitude * math.sin(2.0 * PI * xi)
        loss_out[r] = total


def rastrigin_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    points = _points(x)
    return _diagonal(2.0 + 4.0 * PI**2 * consts[0] * np.cos(2.0 * PI * points))


# --- ackley: −a exp(−b √(Σx_i²/d)) − exp(Σcos(c x_i)/d) + a + e, consts = [a, b, c] -------------
# The first term is a cone at the origin: not differentiable there. The kernel returns its
# subgradient 0 at x = 0 (so the origin is stationary) and the Hessian leaves it out there.
@compiled(OBJECTIVE_SIGNATURE)
def ackley_kernel(x, consts, data, batch, loss_out, grad_out):
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
        cone = a * math.exp(-b * radius)
        wave = math.exp(cosines / d)
        loss_out[r] = -cone - wave + a + math.e
        cone_slope = cone * b / (d * radius) if radius > 0.0 else 0.0
        for i in range(d):
            grad_out[r, i] = cone_slope * x[r, i] + wave * c * math.sin(c * x[r, i]) / d


def ackley_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    points = _points(x)
    a, b, c = consts[0], consts[1], consts[2]
    d = points.shape[1]
    radius = np.sqrt(np.sum(points**2, axis=1) / d)
    wave = np.exp(np.sum(np.cos(c * points), axis=1) / d)
    sines = np.sin(c * points)
    # wave term: (c²/d) F [cos(c x_i) δ_ij − sin(c x_i) sin(c x_j) / d]
    out = _diagonal((c**2 / d) * wave[:, None] * np.cos(c * points))
    out -= (c**2 / d**2) * wave[:, None, None] * sines[:, :, None] * sines[:, None, :]
    # cone term: with E = a exp(−b r), ∂_i = h x_i where h = bE/(d r);
    # ∂_ij = h δ_ij + x_i x_j h'(r)/(d r), h'(r) = −(bE/d)(b/r + 1/r²)
    moving = radius > 0.0
    r = np.where(moving, radius, 1.0)
    cone = a * np.exp(-b * r)
    h = np.where(moving, b * cone / (d * r), 0.0)
    h_slope = np.where(moving, -(b * cone / d) * (b / r + 1.0 / r**2) / (d * r), 0.0)
    out += _diagonal(np.repeat(h[:, None], d, axis=1))
    out += h_slope[:, None, None] * points[:, :, None] * points[:, None, :]
    return (out + np.swapaxes(out, 1, 2)) / 2.0  # rounding made the outer products asymmetric


# --- styblinski_tang: ½ Σ (x_i⁴ − 16 x_i² + 5 x_i) -----------------------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def styblinski_tang_kernel(x, consts, data, batch, loss_out, grad_out):
    for r in range(x.shape[0]):
        total = 0.0
        for i in range(x.shape[1]):
            xi = x[r, i]
            xi2 = xi * xi
            total += xi2 * xi2 - 16.0 * xi2 + 5.0 * xi
            grad_out[r, i] = 2.0 * xi2 * xi - 16.0 * xi + 2.5
        loss_out[r] = 0.5 * total


def styblinski_tang_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    return _diagonal(6.0 * _points(x) ** 2 - 16.0)


# --- quadratic: ½ xᵀ A x, consts = A flattened row-major (d·d) -----------------------------------
@compiled(OBJECTIVE_SIGNATURE)
def quadratic_kernel(x, consts, data, batch, loss_out, grad_out):
    d = x.shape[1]
    for r in range(x.shape[0]):
        total = 0.0
        for i in range(d):
            row = 0.0
            for j in range(d):
                row += consts[i * d + j] * x[r, j]
            grad_out[r, i] = row
            total += x[r, i] * row
        loss_out[r] = 0.5 * total


def quadratic_hessian(x: np.ndarray, consts: np.ndarray) -> np.ndarray:
    points = _points(x)
    d = points.shape[1]
    return np.broadcast_to(consts.reshape(d, d), (points.shape[0], d, d)).copy()
