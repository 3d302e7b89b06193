"""The analytic method: stationary points (∇f = 0) classified by the Hessian (SPEC.md §8, §9
``POST /v1/analyze``).

A stationary point x* has ∇f(x*) = 0; the eigenvalues of the Hessian there classify it
(second-derivative test): all positive → minimum, all negative → maximum, both signs →
saddle, and some (near) zero without both signs → degenerate (the test cannot tell).

Catalogue functions carry their known points (``Objective.stationary_points``). Expression
functions are searched:

1. cheap exact seeds where the algebra is bounded: a linear gradient (quadratic f) is solved
   with ``sympy.linsolve``; a one-variable polynomial gradient of low degree gives its roots
   from the companion matrix (``numpy.roots``). Anything else is never handed to sympy's
   solvers, which can run unbounded (a thread cannot be killed).
2. Newton's method on ∇f = 0, x ← x − H⁺∇f (pseudo-inverse, so singular Hessians take the
   least-norm step), from many seeded starts in the box, vectorised over starts with the
   compiled gradient and the NumPy Hessian, for a bounded number of iterations and a
   wall-clock budget. Newton converges to saddles and maxima as readily as to minima, which
   is what is wanted here.
3. Keep converged points inside the box (‖∇f‖ < 1e-8, scaled up only for huge Hessians where
   rounding alone exceeds it), merge duplicates, classify. Among minima the lowest value (ties
   within 1e-9 relative) is ``global``, the others ``local``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import sympy

from engine.errors import SpecError
from engine.objectives.base import Objective, StationaryPoint
from engine.objectives.expression import CompiledExpression, compile_expression, expression_of

GRADIENT_TOLERANCE = 1e-8
GLOBAL_TIE_RELATIVE = 1e-9
NEWTON_ITERATIONS = 100
MAX_SYMBOLIC_POLYNOMIAL_DEGREE = 30
KIND_ORDER = {"global": 0, "local": 1, "saddle": 2, "maximum": 3, "degenerate": 4}
_POINTS_CACHE_SIZE = 128


def classify_hessian(h: np.ndarray, tol: float = 1e-8) -> str:
    """``"minimum"``, ``"maximum"``, ``"saddle"`` or ``"degenerate"`` from the eigenvalues of
    the (symmetrised) Hessian ``h``. An eigenvalue counts as zero when
    |λ| ≤ tol · max(1, max|λ|); a non-finite Hessian is ``degenerate``."""
    matrix = np.asarray(h, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or not np.all(np.isfinite(matrix)):
        return "degenerate"
    eigenvalues = np.linalg.eigvalsh(0.5 * (matrix + matrix.T))
    threshold = tol * max(1.0, float(np.max(np.abs(eigenvalues), initial=0.0)))
    positive = eigenvalues > threshold
    negative = eigenvalues < -threshold
    if positive.any() and negative.any():
        return "saddle"
    if positive.all():
        return "minimum"
    if negative.all():
        return "maximum"
    return "degenerate"


# --------------------------------------------------------------------------------------------
# Exact seeds


def _polynomial_degree(node: sympy.Expr, symbols: set) -> int | None:
    """An upper bound of the total degree of ``node`` in ``symbols``, or None when it is not
    a polynomial. Walks the tree without expanding anything."""
    if not (node.free_symbols & symbols):
        return 0
    if node.is_Symbol:
        return 1
    if node.is_Add or node.is_Mul:
        degrees = [_polynomial_degree(arg, symbols) for arg in node.args]
        known = [degree for degree in degrees if degree is not None]
        if len(known) < len(degrees):
            return None
        return max(known) if node.is_Add else sum(known)
    if node.is_Pow and node.exp.is_Integer and node.exp >= 0:
        base = _polynomial_degree(node.base, symbols)
        return None if base is None else base * int(node.exp)
    return None


def _exact_seeds(compiled: CompiledExpression) -> list[np.ndarray]:
    """Stationary points solved exactly where that is cheap and bounded (see module doc)."""
    symbols = compiled.symbols
    maybe_degrees = [_polynomial_degree(entry, set(symbols)) for entry in compiled.gradient]
    degrees = [degree for degree in maybe_degrees if degree is not None]
    if len(degrees) < len(maybe_degrees):
        return []  # not a polynomial system
    seeds: list[np.ndarray] = []
    try:
        if max(degrees) <= 1:
            for solution in sympy.linsolve(compiled.gradient, symbols):
                if not any(value.free_symbols for value in solution):
                    seeds.append(np.array([float(value) for value in solution]))
        elif len(symbols) == 1 and degrees[0] <= MAX_SYMBOLIC_POLYNOMIAL_DEGREE:
            coefficients = sympy.Poly(compiled.gradient[0], symbols[0]).all_coeffs()
            roots = np.roots(np.array([float(c) for c in coefficients]))
            scale = 1.0 + np.abs(roots)
            for root in roots[np.abs(roots.imag) <= 1e-6 * scale]:
                seeds.append(np.array([root.real]))
    except (TypeError, ValueError, ArithmeticError, sympy.PolynomialError):
        return []  # e.g. a coefficient that is not a real number: Newton still runs
    return seeds


# --------------------------------------------------------------------------------------------
# Newton search


def _difference_hessian(gradient: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """Central differences of the gradient, for objectives without an analytic Hessian."""

    def hessian(x: np.ndarray) -> np.ndarray:
        rows, dims = x.shape
        result = np.empty((rows, dims, dims))
        for i in range(dims):
            step = 1e-5 * np.maximum(1.0, np.abs(x[:, i]))
            forward, backward = x.copy(), x.copy()
            forward[:, i] += step
            backward[:, i] -= step
            result[:, i, :] = (gradient(forward) - gradient(backward)) / (2.0 * step[:, None])
        return 0.5 * (result + np.transpose(result, (0, 2, 1)))

    return hessian


def _newton(points: np.ndarray, gradient: Callable, hessian: Callable, low: np.ndarray,
            high: np.ndarray, deadline: float) -> np.ndarray:
    """Newton steps x ← x − H⁺∇f on every row; rows that blow up or leave a margin around the
    box are dropped (set to nan)."""
    x = points.copy()
    width = high - low
    outer_low, outer_high = low - 0.5 * width, high + 0.5 * width
    for _ in range(NEWTON_ITERATIONS):
        alive = np.all(np.isfinite(x), axis=1)
        if not alive.any() or time.perf_counter() > deadline:
            break
        current = x[alive]
        with np.errstate(all="ignore"):
            g = gradient(current)
            h = hessian(current)
        usable = np.all(np.isfinite(g), axis=1) & np.all(np.isfinite(h), axis=(1, 2))
        step = np.full_like(current, np.nan)
        if usable.any():
            step[usable] = np.einsum("rij,rj->ri", np.linalg.pinv(h[usable]), g[usable])
        moved = current - step
        outside = np.any((moved < outer_low) | (moved > outer_high), axis=1)
        moved[outside] = np.nan
        x[alive] = moved
        if np.all(np.abs(step[usable]) <= 1e-15 * (1.0 + np.abs(current[usable]))):
            break
    return x


def _validated_box(objective: Objective, bounds) -> tuple[np.ndarray, np.ndarray]:
    box = bounds if bounds is not None else objective.bounds
    if len(box) == 0:
        box = [(-5.0, 5.0)] * objective.dims
    array = np.asarray(box, dtype=np.float64)
    if array.shape != (objective.dims, 2) or not np.all(np.isfinite(array)) or np.any(
            array[:, 0] >= array[:, 1]):
        raise SpecError("bounds", f"need {objective.dims} finite [low, high] pairs with "
                                  f"low < high, got {box!r}")
    return array[:, 0].copy(), array[:, 1].copy()


def _starts(low: np.ndarray, high: np.ndarray, seed: int) -> np.ndarray:
    dims = low.size
    count = int(min(2000, max(400, 200 * dims)))
    generator = np.random.default_rng(seed)
    starts = low + (high - low) * generator.random((count, dims))
    if dims <= 2:  # a coarse grid too, so no basin is missed by chance in the common 2-D case
        axes = [np.linspace(lo, hi, 21) for lo, hi in zip(low, high)]
        grid = np.stack([axis.ravel() for axis in np.meshgrid(*axes, indexing="ij")], axis=1)
        starts = np.vstack([grid, starts])
    return starts


def _merge(points: np.ndarray, norms: np.ndarray, limit: int = 1000) -> list[int]:
    """Indices of distinct points (within 1e-6 relative), keeping the smallest gradient;
    at most ``limit`` (a continuum of stationary points would otherwise give thousands)."""
    kept: list[int] = []
    kept_points = np.empty((0, points.shape[1]))
    for index in np.argsort(norms, kind="stable"):
        point = points[index]
        scale = 1e-6 * (1.0 + np.abs(point))
        if not np.any(np.all(np.abs(kept_points - point) <= scale, axis=1)):
            kept.append(int(index))
            kept_points = np.vstack([kept_points, point])
            if len(kept) >= limit:
                break
    return kept


def _clean(point: np.ndarray) -> list[float]:
    # Newton lands on 0 up to rounding (1e-17): show 0.0 rather than noise or -0.0.
    scale = 1.0 + float(np.max(np.abs(point)))
    return [0.0 if abs(value) <= 1e-13 * scale else float(value) for value in point]


def find_stationary_points(objective: Objective, bounds=None, *,
                           expression: CompiledExpression | str | None = None,
                           max_points: int = 50, seed: int = 0,
                           time_budget_s: float = 2.0) -> list[dict]:
    """The stationary points of ``objective`` inside ``bounds`` (default: its own box), best
    first (global minima, local minima, saddles, maxima, degenerate; by value within a kind).

    Each is ``{"params", "value", "gradient_norm", "hessian_eigenvalues", "classification",
    "kind"}``. ``expression`` (the formula's text or compiled form) enables exact seeds; for
    expression objectives it is found automatically. Deterministic for a given ``seed``.
    """
    deadline = time.perf_counter() + time_budget_s
    low, high = _validated_box(objective, bounds)
    if isinstance(expression, str):
        expression = compile_expression(expression, list(objective.parameter_names))
    compiled = expression if expression is not None else expression_of(objective)

    def gradient(x: np.ndarray) -> np.ndarray:
        return objective.evaluate(x)[1]

    hessian = objective.hessian or _difference_hessian(gradient)

    seeds = _exact_seeds(compiled) if compiled is not None else []
    starts = _starts(low, high, seed)
    if seeds:
        starts = np.vstack([np.array(seeds), starts])
    found = _newton(starts, gradient, hessian, low, high, deadline)

    found = found[np.all(np.isfinite(found), axis=1)]
    margin = 1e-9 * (high - low)
    found = found[np.all((found >= low - margin) & (found <= high + margin), axis=1)]
    if found.shape[0] == 0:
        return []
    with np.errstate(all="ignore"):
        values, gradients = objective.evaluate(found)
        hessians = hessian(found)
    norms = np.linalg.norm(gradients, axis=1)
    hessian_size = np.linalg.norm(hessians.reshape(found.shape[0], -1), axis=1)
    tolerance = np.maximum(GRADIENT_TOLERANCE,
                           1e-12 * hessian_size * (1.0 + np.linalg.norm(found, axis=1)))
    converged = np.isfinite(values) & (norms < tolerance)
    found, values, norms, hessians = (found[converged], values[converged], norms[converged],
                                      hessians[converged])

    kept = _merge(found, norms)
    classifications = [classify_hessian(hessians[index]) for index in kept]
    minimum_values = [float(values[index]) for index, classification
                      in zip(kept, classifications) if classification == "minimum"]
    lowest = min(minimum_values, default=0.0)
    points: list[dict] = []
    for index, classification in zip(kept, classifications):
        matrix = hessians[index]
        value = float(values[index])
        eigenvalues = (np.linalg.eigvalsh(0.5 * (matrix + matrix.T))
                       if np.all(np.isfinite(matrix)) else np.array([]))
        kind = classification
        if classification == "minimum":
            tied = value - lowest <= GLOBAL_TIE_RELATIVE * max(1.0, abs(lowest))
            kind = "global" if tied else "local"
        points.append({
            "params": _clean(found[index]),
            "value": value,
            "gradient_norm": float(norms[index]),
            "hessian_eigenvalues": [float(eigenvalue) for eigenvalue in eigenvalues],
            "classification": classification,
            "kind": kind,
        })
    points.sort(key=lambda point: (KIND_ORDER[point["kind"]], point["value"], point["params"]))
    return points[:max_points]


# --------------------------------------------------------------------------------------------
# Points of an objective, cached


_POINTS_CACHE: OrderedDict[tuple, tuple[StationaryPoint, ...]] = OrderedDict()
_POINTS_LOCK = threading.Lock()


def stationary_points_of(objective: Objective, bounds=None, *, max_points: int = 50,
                         seed: int = 0, time_budget_s: float = 2.0
                         ) -> tuple[StationaryPoint, ...]:
    """Known points (catalogue functions) or found points (expression functions, searched
    once per formula, variables and box, then cached). Other objectives: ``()``."""
    if objective.stationary_points:
        return objective.stationary_points
    if expression_of(objective) is None:
        return ()
    low, high = _validated_box(objective, bounds)
    key = (objective.name, objective.parameter_names, tuple(low), tuple(high), max_points, seed)
    with _POINTS_LOCK:
        if key in _POINTS_CACHE:
            _POINTS_CACHE.move_to_end(key)
            return _POINTS_CACHE[key]
    found = find_stationary_points(objective, np.stack([low, high], axis=1),
                                   max_points=max_points, seed=seed,
                                   time_budget_s=time_budget_s)
    points = tuple(StationaryPoint(tuple(point["params"]), point["value"], point["kind"])
                   for point in found)
    with _POINTS_LOCK:
        _POINTS_CACHE[key] = points
        while len(_POINTS_CACHE) > _POINTS_CACHE_SIZE:
            _POINTS_CACHE.popitem(last=False)
    return points


def nearest_stationary_points(objective: Objective, params: np.ndarray) -> list[dict | None]:
    """For each row of ``params`` (runs × dims), the known or found stationary point nearest
    it (Euclidean), as SPEC §8 has it: ``{"params", "value", "kind", "distance"}``; None when
    none is known or found, or for a row that is not finite (a diverged run)."""
    points = np.asarray(params, dtype=np.float64).reshape(len(params), -1)
    nearest: list[dict | None] = [None] * len(points)
    finite = np.flatnonzero(np.all(np.isfinite(points), axis=1))
    candidates = stationary_points_of(objective) if len(finite) else ()
    if not candidates:
        return nearest
    locations = np.array([candidate.params for candidate in candidates], dtype=np.float64)
    if locations.shape[1] != points.shape[1]:
        return nearest
    distances = np.linalg.norm(points[finite, None, :] - locations[None, :, :], axis=2)
    best = np.argmin(distances, axis=1)
    found = [candidate.to_dict() for candidate in candidates]
    for position, (row, k) in enumerate(zip(finite.tolist(), best.tolist())):
        nearest[row] = {**found[k], "distance": float(distances[position, k])}
    return nearest


__all__ = [
    "classify_hessian",
    "find_stationary_points",
    "nearest_stationary_points",
    "stationary_points_of",
]
