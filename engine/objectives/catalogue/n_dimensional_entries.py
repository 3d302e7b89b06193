"""Catalogue entries of the n-D functions: parameters, bounds, starts, and stationary points
generated for the requested dims."""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable
from functools import cache

import numpy as np

from engine.errors import SpecError
from engine.objectives.catalogue import n_dimensional as nd
from engine.objectives.catalogue.model import (
    CatalogueFunction,
    FunctionParam,
    KindOrAuto,
    KnownPoint,
    Params,
    box,
    cycled,
)
from engine.objectives.catalogue.stationary import (
    kernel_evaluator,
    levenberg_marquardt_minimum,
    solve_tridiagonal,
)


def _origin(kind: KindOrAuto = "global") -> Callable[[int, Params], tuple[KnownPoint, ...]]:
    return lambda dims, params: (KnownPoint((0.0,) * dims, kind, exact=True),)


def _tridiagonal_positive_definite(matrix: np.ndarray) -> bool:
    """A symmetric tridiagonal matrix is positive definite iff every pivot of its LDLᵀ
    factorisation is positive (O(d), where a dense eigen-decomposition is O(d³))."""
    main = np.diagonal(matrix)
    off = np.diagonal(matrix, 1)
    pivot = main[0]
    for i in range(1, main.size):
        if pivot <= 0.0:
            return False
        pivot = main[i] - off[i - 1] ** 2 / pivot
    return bool(pivot > 0.0)


# --- rosenbrock ---------------------------------------------------------------------------------
def _rosenbrock_points(dims: int, params: Params) -> tuple[KnownPoint, ...]:
    return _rosenbrock_minima(dims, params["a"], params["b"])


def _rosenbrock_bounds(dims: int, params: Params) -> tuple[tuple[float, float], ...]:
    """[−2.048, 2.048] per dimension (De Jong), widened when a ≠ 1 moves a minimum outside."""
    reach = max(
        (abs(v) for point in _rosenbrock_points(dims, params) for v in point.params), default=1.0
    )
    # min(): a finite but huge a (1e308) must not overflow the box to infinity
    half_width = 2.048 if reach <= 1.5 else math.ceil(min(1.25 * reach, sys.float_info.max))
    return tuple((-float(half_width), float(half_width)) for _ in range(dims))


@cache
def _rosenbrock_minima(dims: int, a: float, b: float) -> tuple[KnownPoint, ...]:
    """Rosenbrock's minima.

    2-D: the one stationary point (a, a²), exact. n-D with a = 1 (or 0): x_i = a, exact.
    Otherwise the minimum has no closed form and is found by Levenberg–Marquardt from
    (a, …, a, a²). For n ≥ 4 the extended function also has a local minimum near
    (−1, 1, …, 1) (Shang & Qiu 2006, Kok & Sandrock 2009): searched downhill from (−a, a, …, a)
    and listed when it is a distinct minimum. A numerical search that does not converge (very
    large b with a ≠ 1) lists nothing: no point is better than a wrong one.
    """
    consts = np.array([a, b])
    evaluate = kernel_evaluator(nd.rosenbrock_kernel, consts)

    def hessian(x: np.ndarray) -> np.ndarray:
        return nd.rosenbrock_hessian(x, consts)

    def downhill_from(seed: np.ndarray) -> np.ndarray | None:
        try:
            return levenberg_marquardt_minimum(evaluate, hessian, seed, solve=solve_tridiagonal)
        except RuntimeError:  # did not converge (extreme a or b): list nothing rather than guess
            return None

    candidates: list[np.ndarray] = []
    if dims == 2:
        candidates = [np.array([a, a * a])]
    elif a in (0.0, 1.0):
        candidates = [np.full(dims, a)]
    else:
        seed = np.full(dims, a)
        seed[-1] = a * a
        found = downhill_from(seed)
        candidates = [found] if found is not None else []
    if dims >= 4:
        seed = np.full(dims, a)
        seed[0] = -a
        found = downhill_from(seed)
        if (
            found is not None
            and all(np.max(np.abs(found - c)) > 1e-6 for c in candidates)
            and _tridiagonal_positive_definite(hessian(found[None, :])[0])
        ):
            candidates.append(found)
    return tuple(KnownPoint(tuple(c), "local", exact=True) for c in candidates)


ROSENBROCK = CatalogueFunction(
    name="rosenbrock",
    description="Rosenbrock's banana valley: Σ b(x_{i+1} − x_i²)² + (a − x_i)², minimum at "
    "(1, …, 1) for a = 1",
    formula="f(x) = Σ_{i=1}^{d−1} [ b (x_{i+1} − x_i²)² + (a − x_i)² ]",
    kernel=nd.rosenbrock_kernel,
    hessian=nd.rosenbrock_hessian,
    bounds=_rosenbrock_bounds,
    start=cycled(-1.2, 1.0),
    known_points=_rosenbrock_points,
    make_consts=lambda dims, params: np.array([params["a"], params["b"]]),
    params=(
        FunctionParam("a", 1.0, "the valley's target: (a − x_i)²"),
        FunctionParam("b", 100.0, "the valley's steepness", minimum=0.0, exclusive_minimum=True),
    ),
    n_dimensional=True,
    min_dims=2,
    notes="Bounds: the De Jong domain [−2.048, 2.048] per dimension (VLSE also gives [−5, 10]), "
    "widened when a ≠ 1 moves a minimum outside it. "
    "Start: (−1.2, 1) repeated, the classic start (Rosenbrock 1960; Moré, Garbow & Hillstrom "
    "1981). For a ∉ {0, 1} in more than 2 dims the minimum is found numerically.",
)


# --- styblinski_tang ----------------------------------------------------------------------------
@cache
def _styblinski_tang_roots() -> tuple[float, float, float]:
    """The roots of ∂/∂x ½(x⁴ − 16x² + 5x) = 2x³ − 16x + 2.5, to the last bit:
    ≈ −2.903534 (minimum), 0.156731 (maximum), 2.746803 (minimum)."""
    roots = []
    for root in sorted(np.roots([2.0, 0.0, -16.0, 2.5]).real):
        for _ in range(5):
            root -= (2.0 * root**3 - 16.0 * root + 2.5) / (6.0 * root**2 - 16.0)
        roots.append(float(root))
    return roots[0], roots[1], roots[2]


STYBLINSKI_TANG_ALL_POINTS_UP_TO = 3  # 3^d stationary points: all of them up to d = 3
STYBLINSKI_TANG_MINIMA_UP_TO = 6  # 2^d minima: all of them up to d = 6, then the global only


def _styblinski_tang_points(dims: int, params: Params) -> tuple[KnownPoint, ...]:
    low, middle, high = _styblinski_tang_roots()
    if dims <= STYBLINSKI_TANG_ALL_POINTS_UP_TO:
        per_axis: tuple[float, ...] = (low, middle, high)
    elif dims <= STYBLINSKI_TANG_MINIMA_UP_TO:
        per_axis = (low, high)
    else:
        per_axis = (low,)
    return tuple(
        KnownPoint(point, exact=True) for point in itertools.product(per_axis, repeat=dims)
    )


# --- quadratic ----------------------------------------------------------------------------------
def quadratic_matrix(dims: int, params: Params) -> np.ndarray:
    """A = Q diag(λ) Qᵀ with eigenvalues λ_i = condition^((i−1)/(d−1)), geometrically spaced
    from 1 to ``condition``; Q = I by default, a rotation by ``angle`` (2-D), or a random
    orthogonal matrix drawn from ``rotation_seed`` (QR of a Gaussian matrix, signs fixed)."""
    eigenvalues = params["condition"] ** (np.arange(dims) / (dims - 1))
    if params["angle"] is not None:
        c, s = math.cos(params["angle"]), math.sin(params["angle"])
        rotation = np.array([[c, -s], [s, c]])
    elif params["rotation_seed"] is not None:
        gaussian = np.random.default_rng(params["rotation_seed"]).standard_normal((dims, dims))
        q, r = np.linalg.qr(gaussian)
        rotation = q * np.sign(np.diag(r))
    else:
        return np.diag(eigenvalues)
    matrix = (rotation * eigenvalues) @ rotation.T
    return (matrix + matrix.T) / 2.0  # exactly symmetric, so the Hessian is too


def _check_quadratic(dims: int, params: Params) -> None:
    if params["angle"] is not None and params["rotation_seed"] is not None:
        raise SpecError("function_params.angle", "give angle or rotation_seed, not both")
    if params["angle"] is not None and dims != 2:
        raise SpecError(
            "function_params.angle",
            f"angle rotates the 2-D quadratic; for dims={dims} use rotation_seed",
        )


QUADRATIC = CatalogueFunction(
    name="quadratic",
    description="A quadratic bowl ½xᵀAx with a chosen condition number: the textbook case "
    "for step size vs curvature",
    formula="f(x) = ½ xᵀ A x,  A = Q diag(λ_1..λ_d) Qᵀ,  λ_i = condition^((i−1)/(d−1))",
    kernel=nd.quadratic_kernel,
    hessian=nd.quadratic_hessian,
    bounds=box(-5.0, 5.0),
    start=cycled(-4.0, 3.0),
    known_points=_origin(),
    make_consts=lambda dims, params: quadratic_matrix(dims, params).ravel(),
    params=(
        FunctionParam(
            "condition",
            10.0,
            "largest / smallest eigenvalue of A (eigenvalues geometrically "
            "spaced from 1 to condition)",
            minimum=1.0,
        ),
        FunctionParam(
            "rotation_seed",
            None,
            "rotate the eigenbasis by a random orthogonal matrix drawn "
            "from this seed (default: A diagonal)",
            kind="int",
            minimum=0,
            nullable=True,
        ),
        FunctionParam(
            "angle",
            None,
            "2-D only: rotate the eigenbasis by this angle in radians",
            nullable=True,
        ),
    ),
    n_dimensional=True,
    min_dims=2,
    check_params=_check_quadratic,
    notes="Not in VLSE. Default A = diag(1, …, condition) (geometric spacing).",
    source="",
)


N_DIMENSIONAL_FUNCTIONS: tuple[CatalogueFunction, ...] = (
    CatalogueFunction(
        name="sphere",
        description="The sphere (De Jong's first function): Σ x_i², minimum 0 at the origin",
        formula="f(x) = Σ_{i=1}^{d} x_i²",
        kernel=nd.sphere_kernel,
        hessian=nd.sphere_hessian,
        bounds=box(-5.12, 5.12),
        start=cycled(-2.2, 3.1),
        known_points=_origin(),
        n_dimensional=True,
        min_dims=1,
    ),
    ROSENBROCK,
    CatalogueFunction(
        name="rastrigin",
        description="Rastrigin: a bowl covered in a regular grid of local minima, "
        "A d + Σ (x_i² − A cos 2πx_i)",
        formula="f(x) = A d + Σ_{i=1}^{d} [ x_i² − A cos(2π x_i) ]",
        kernel=nd.rastrigin_kernel,
        hessian=nd.rastrigin_hessian,
        bounds=box(-5.12, 5.12),
        start=cycled(-2.2, 3.1),
        known_points=_origin(),
        make_consts=lambda dims, params: np.array([params["A"]]),
        params=(FunctionParam("A", 10.0, "height of the ripples", minimum=0.0),),
        n_dimensional=True,
        min_dims=1,
        notes="Only the global minimum is listed: the local minima near every integer point "
        "are too many to enumerate.",
    ),
    CatalogueFunction(
        name="ackley",
        description="Ackley: a nearly flat outer region with a deep hole at the origin, "
        "−a exp(−b √(Σx_i²/d)) − exp(Σ cos(c x_i)/d) + a + e",
        formula="f(x) = −a exp(−b √(1/d Σ x_i²)) − exp(1/d Σ cos(c x_i)) + a + e",
        kernel=nd.ackley_kernel,
        hessian=nd.ackley_hessian,
        bounds=box(-32.768, 32.768),
        start=cycled(-2.2, 3.1),
        known_points=_origin(),
        make_consts=lambda dims, params: np.array([params["a"], params["b"], params["c"]]),
        params=(
            FunctionParam("a", 20.0, "depth of the cone", minimum=0.0, exclusive_minimum=True),
            FunctionParam("b", 0.2, "steepness of the cone", minimum=0.0, exclusive_minimum=True),
            FunctionParam(
                "c",
                2.0 * math.pi,
                "frequency of the ripples",
                minimum=0.0,
                exclusive_minimum=True,
            ),
        ),
        n_dimensional=True,
        min_dims=1,
        notes="Only the global minimum is listed. The cone term is not differentiable at the "
        "origin: the gradient there is its subgradient 0 and the Hessian leaves the cone out.",
    ),
    CatalogueFunction(
        name="styblinski_tang",
        description="Styblinski–Tang: ½ Σ (x_i⁴ − 16x_i² + 5x_i), global minimum "
        "−39.16599·d at x_i = −2.903534",
        formula="f(x) = ½ Σ_{i=1}^{d} ( x_i⁴ − 16 x_i² + 5 x_i )",
        kernel=nd.styblinski_tang_kernel,
        hessian=nd.styblinski_tang_hessian,
        bounds=box(-5.0, 5.0),
        start=cycled(1.0, -1.0),
        known_points=_styblinski_tang_points,
        n_dimensional=True,
        min_dims=1,
        notes="Every coordinate of a stationary point is a root of 2x³ − 16x + 2.5 "
        "(−2.903534, 0.156731, 2.746803). Listed: all 3^d stationary points for d ≤ 3, the 2^d "
        "minima for d ≤ 6, the global minimum only beyond.",
    ),
    QUADRATIC,
)


__all__ = ["N_DIMENSIONAL_FUNCTIONS", "quadratic_matrix"]
