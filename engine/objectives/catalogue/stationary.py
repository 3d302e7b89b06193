"""Stationary points to full precision: the literature gives them to four or six digits;
Newton's method on the exact gradient and Hessian takes them to the last bit, and the Hessian
says what each one is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from engine.objectives.base import EMPTY_BATCH, EMPTY_DATA, StationaryKind, StationaryPoint
from engine.objectives.catalogue.model import KnownPoint

ValueAndGradient = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
Hessian = Callable[[np.ndarray], np.ndarray]
LinearSolve = Callable[[np.ndarray, np.ndarray], np.ndarray]


def solve_tridiagonal(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix⁻¹ rhs`` for a tridiagonal matrix (Thomas algorithm, O(d)): Rosenbrock's
    Hessian is tridiagonal, and a dense solve at d = 1000 would cost seconds."""
    lower = np.diagonal(matrix, -1).copy()
    main = np.diagonal(matrix).copy()
    upper = np.diagonal(matrix, 1).copy()
    out = np.array(rhs, dtype=np.float64)
    for i in range(1, main.size):
        factor = lower[i - 1] / main[i - 1]
        main[i] -= factor * upper[i - 1]
        out[i] -= factor * out[i - 1]
    if np.any(main == 0.0):
        raise np.linalg.LinAlgError("singular tridiagonal matrix")
    out[-1] /= main[-1]
    for i in range(main.size - 2, -1, -1):
        out[i] = (out[i] - upper[i] * out[i + 1]) / main[i]
    return out


def newton_refine(
    evaluate: ValueAndGradient,
    hessian: Hessian,
    seed: tuple[float, ...],
    pinned: tuple[int, ...] = (),
    max_iterations: int = 100,
    solve: LinearSolve = np.linalg.solve,
) -> np.ndarray:
    """Solve ∇f = 0 by Newton's method from ``seed`` (coordinates in ``pinned`` stay put).

    Raises RuntimeError when it does not converge close to the seed: the seed is wrong, and
    that is a bug in the catalogue, not a user error.
    """
    point = np.array(seed, dtype=np.float64)
    free = np.array([i for i in range(point.size) if i not in pinned])
    for _ in range(max_iterations):
        _, grad = evaluate(point[None, :])
        matrix = hessian(point[None, :])[0][np.ix_(free, free)]
        step = solve(matrix, grad[0, free])
        point[free] -= step
        if np.max(np.abs(step)) <= 4e-16 * (1.0 + np.max(np.abs(point))):
            break
    scale = 1.0 + np.max(np.abs(np.asarray(seed)))
    value, grad = evaluate(point[None, :])
    if (
        not np.all(np.isfinite(point))
        or np.max(np.abs(point - seed)) > 1e-3 * scale
        or np.max(np.abs(grad[0, free])) > 1e-9 * (1.0 + abs(value[0])) * scale
    ):
        raise RuntimeError(f"Newton from {seed} did not converge near it (got {point})")
    return point


def levenberg_marquardt_minimum(
    evaluate: ValueAndGradient,
    hessian: Hessian,
    start: np.ndarray,
    max_iterations: int | None = None,
    solve: LinearSolve = np.linalg.solve,
) -> np.ndarray:
    """A local minimum downhill from ``start``: damped Newton steps ``(H + λI)⁻¹ ∇f`` that are
    kept only when the value drops, then plain Newton to the last bit. Used where the
    literature has no closed form (e.g. Rosenbrock n-D with a ≠ 1).

    The default iteration budget shrinks with the dimension (about a second of work at most);
    raises RuntimeError when the search does not converge within it.
    """
    point = np.array(start, dtype=np.float64)
    if max_iterations is None:
        max_iterations = max(50, 20_000 // point.size)
    damping = 1e-3
    value, grad = (v[0] for v in evaluate(point[None, :]))
    identity = np.eye(point.size)
    with np.errstate(all="ignore"):
        for _ in range(max_iterations):
            # near the minimum, rounding stops the value from dropping: Newton finishes
            if np.linalg.norm(grad) <= 1e-8 * (1.0 + abs(value)) or damping > 1e12:
                break
            matrix = hessian(point[None, :])[0]
            try:
                candidate = point - solve(matrix + damping * identity, grad)
            except np.linalg.LinAlgError:
                damping *= 10.0
                continue
            new_value, new_grad = (v[0] for v in evaluate(candidate[None, :]))
            if np.all(np.isfinite(candidate)) and new_value < value:
                point, value, grad = candidate, new_value, new_grad
                damping = max(damping / 3.0, 1e-12)
            else:
                damping *= 4.0
        else:
            raise RuntimeError(f"no minimum found downhill from {tuple(start)}")
    return newton_refine(evaluate, hessian, tuple(point), max_iterations=20, solve=solve)


def curvature_kind(matrix: np.ndarray) -> Literal["minimum", "maximum", "saddle", "degenerate"]:
    """``minimum``, ``maximum``, ``saddle`` or ``degenerate`` from the Hessian's eigenvalues
    (zero within rounding, relative to the largest, counts as degenerate)."""
    eigenvalues = np.linalg.eigvalsh(matrix)
    tolerance = 1e-9 * max(1.0, float(np.max(np.abs(eigenvalues))))
    if np.all(eigenvalues > tolerance):
        return "minimum"
    if np.all(eigenvalues < -tolerance):
        return "maximum"
    if np.any(eigenvalues > tolerance) and np.any(eigenvalues < -tolerance):
        return "saddle"
    return "degenerate"


def resolve_points(
    evaluate: ValueAndGradient, hessian: Hessian, known: tuple[KnownPoint, ...]
) -> tuple[StationaryPoint, ...]:
    """Refine every known point, compute its value and name its kind. A minimum is ``global``
    when its value is the lowest among the listed points (ties included), else ``local``."""
    refined: list[tuple[np.ndarray, float, StationaryKind]] = []
    for entry in known:
        point = (
            np.array(entry.params, dtype=np.float64)
            if entry.exact
            else newton_refine(evaluate, hessian, entry.params, entry.pinned)
        )
        value = float(evaluate(point[None, :])[0][0])
        kind: StationaryKind
        if entry.kind == "auto":
            free = [i for i in range(point.size) if i not in entry.pinned]
            curvature = curvature_kind(hessian(point[None, :])[0][np.ix_(free, free)])
            kind = "local" if curvature == "minimum" else curvature
        else:
            kind = entry.kind
        refined.append((point, value, kind))
    minima = [value for _, value, kind in refined if kind in ("global", "local")]
    lowest = min(minima) if minima else None
    points = []
    for point, value, kind in refined:
        if kind == "local" and lowest is not None and value <= lowest + 1e-9 * (1 + abs(lowest)):
            kind = "global"
        points.append(StationaryPoint(tuple(float(v) for v in point), value, kind))
    order = {"global": 0, "local": 1, "saddle": 2, "maximum": 3, "degenerate": 4}
    return tuple(sorted(points, key=lambda p: (order[p.kind], p.value)))


def kernel_evaluator(kernel: Callable, consts: np.ndarray) -> ValueAndGradient:
    """``x (R, d) -> (loss (R,), grad (R, d))`` through an objective kernel."""

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
        loss = np.empty(points.shape[0])
        grad = np.empty_like(points)
        kernel(points, consts, EMPTY_DATA, EMPTY_BATCH, loss, grad)
        return loss, grad

    return evaluate
