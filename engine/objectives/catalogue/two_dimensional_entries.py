"""Catalogue entries of the fixed 2-D functions.

Stationary points are seeded from the literature (VLSE, Surjanovic & Bingham) to about 12
digits, and refined by Newton's method when the catalogue is built; kinds come from the
Hessian. Saddles and maxima are listed where they are few and known (a grid of Newton starts
over the bounds finds exactly these points for the polynomial functions).
"""

from __future__ import annotations

import math

from engine.objectives.catalogue import polynomial_2d as poly
from engine.objectives.catalogue import trigonometric_2d as trig
from engine.objectives.catalogue.model import (
    CatalogueFunction,
    KindOrAuto,
    KnownPoint,
    box,
    cycled,
    fixed_points,
)


def _seeds(*points: tuple[float, float]) -> tuple[KnownPoint, ...]:
    return tuple(KnownPoint(point) for point in points)


def _mccormick_point(s: float, kind: KindOrAuto) -> KnownPoint:
    """∇f = 0 ⇔ cos(x + y) = −½ and x − y = 1: the points ((s + 1)/2, (s − 1)/2) with
    s = ±2π/3 + 2πk; a minimum where sin s < 0, a saddle where sin s > 0."""
    return KnownPoint(((s + 1.0) / 2.0, (s - 1.0) / 2.0), kind, exact=True)


TWO_DIMENSIONAL_FUNCTIONS: tuple[CatalogueFunction, ...] = (
    CatalogueFunction(
        name="himmelblau",
        description="Himmelblau: four global minima (value 0), one local maximum and four saddles",
        formula="f(x, y) = (x² + y − 11)² + (x + y² − 7)²",
        kernel=poly.himmelblau_kernel,
        hessian=poly.himmelblau_hessian,
        bounds=box(-5.0, 5.0),
        start=cycled(0.0, 0.0),
        known_points=fixed_points(
            KnownPoint((3.0, 2.0), exact=True),
            *_seeds(
                (-2.805118086953, 3.131312518251),
                (-3.779310253378, -3.283185991286),
                (3.584428340330, -1.848126526964),
                (-0.270844590667, -0.923038556480),  # the local maximum, f ≈ 181.617
                (3.385154183607, 0.073851879838),
                (0.086677504555, 2.884254701175),
                (-3.073025750764, -0.081353044288),
                (-0.127961346731, -1.953714980245),
            ),
        ),
        source="https://en.wikipedia.org/wiki/Himmelblau%27s_function",
        notes="Not in VLSE; Himmelblau (1972). Bounds [−5, 5]², start (0, 0).",
    ),
    CatalogueFunction(
        name="beale",
        description="Beale: a flat valley with sharp ridges, global minimum 0 at (3, 0.5)",
        formula="f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
        kernel=poly.beale_kernel,
        hessian=poly.beale_hessian,
        bounds=box(-4.5, 4.5),
        start=cycled(1.0, 1.5),
        known_points=fixed_points(
            KnownPoint((3.0, 0.5), exact=True),
            KnownPoint((0.0, 1.0), exact=True),  # saddle, f = 14.203125
            *_seeds((0.100537937324, -2.644513585023)),  # saddle, f ≈ 9.8645
        ),
    ),
    CatalogueFunction(
        name="booth",
        description="Booth: a tilted quadratic bowl, minimum 0 at (1, 3)",
        formula="f(x, y) = (x + 2y − 7)² + (2x + y − 5)²",
        kernel=poly.booth_kernel,
        hessian=poly.booth_hessian,
        bounds=box(-10.0, 10.0),
        start=cycled(0.0, 0.0),
        known_points=fixed_points(KnownPoint((1.0, 3.0), exact=True)),
    ),
    CatalogueFunction(
        name="matyas",
        description="Matyas: a flat, elongated quadratic plate, minimum 0 at the origin",
        formula="f(x, y) = 0.26 (x² + y²) − 0.48 xy",
        kernel=poly.matyas_kernel,
        hessian=poly.matyas_hessian,
        bounds=box(-10.0, 10.0),
        start=cycled(8.0, -5.0),
        known_points=fixed_points(KnownPoint((0.0, 0.0), exact=True)),
    ),
    CatalogueFunction(
        name="goldstein_price",
        description="Goldstein–Price: global minimum 3 at (0, −1), local minima 30, 84, 840, "
        "four saddles and a maximum",
        formula="f(x, y) = [1 + (x + y + 1)² (19 − 14x + 3x² − 14y + 6xy + 3y²)] · "
        "[30 + (2x − 3y)² (18 − 32x + 12x² + 48y − 36xy + 27y²)]",
        kernel=poly.goldstein_price_kernel,
        hessian=poly.goldstein_price_hessian,
        bounds=box(-2.0, 2.0),
        start=cycled(-1.0, 1.0),
        known_points=fixed_points(
            KnownPoint((0.0, -1.0), exact=True),
            *_seeds(
                (-0.6, -0.4),  # local, 30
                (1.8, 0.2),  # local, 84
                (1.2, 0.8),  # local, 840
                (-0.4, -0.6),  # saddle, 35
                (1.2, -0.2),  # saddle, 99
                (1.4, 0.6),  # saddle, 980
                (0.6, 0.4),  # saddle, 990
                (0.8, 0.2),  # maximum, 1155
            ),
        ),
    ),
    CatalogueFunction(
        name="three_hump_camel",
        description="Three-hump camel: global minimum 0 at the origin, two local minima and "
        "two saddles",
        formula="f(x, y) = 2x² − 1.05x⁴ + x⁶/6 + xy + y²",
        kernel=poly.three_hump_camel_kernel,
        hessian=poly.three_hump_camel_hessian,
        bounds=box(-5.0, 5.0),
        start=cycled(-2.5, 2.5),
        known_points=fixed_points(
            KnownPoint((0.0, 0.0), exact=True),
            *_seeds(
                (-1.747552345830, 0.873776172915),
                (1.747552345830, -0.873776172915),
                (-1.070542291824, 0.535271145912),
                (1.070542291824, -0.535271145912),
            ),
        ),
    ),
    CatalogueFunction(
        name="six_hump_camel",
        description="Six-hump camel: six minima (two global, −1.031628), seven saddles and "
        "two maxima",
        formula="f(x, y) = (4 − 2.1x² + x⁴/3) x² + xy + (−4 + 4y²) y²",
        kernel=poly.six_hump_camel_kernel,
        hessian=poly.six_hump_camel_hessian,
        bounds=lambda dims, params: ((-3.0, 3.0), (-2.0, 2.0)),
        start=cycled(-1.5, -1.0),
        known_points=fixed_points(
            *_seeds(
                (0.089842013100, -0.712656403021),  # global
                (-0.089842013100, 0.712656403021),  # global
                (-1.703606714970, 0.796083568673),  # local, −0.215464
                (1.703606714970, -0.796083568673),
                (-1.607104752920, -0.568651454884),  # local, 2.104250
                (1.607104752920, 0.568651454884),
                (1.109205336805, -0.768268092510),  # saddles
                (-1.109205336805, 0.768268092510),
                (-1.638067984190, -0.228674069044),
                (1.638067984190, 0.228674069044),
                (1.296070267167, 0.605084388039),
                (-1.296070267167, -0.605084388039),
                (-1.230229876517, -0.162334584459),  # maxima
                (1.230229876517, 0.162334584459),
            ),
            KnownPoint((0.0, 0.0), exact=True),  # saddle, f = 0
        ),
    ),
    CatalogueFunction(
        name="levi13",
        description="Lévy N. 13: ripples over a valley, global minimum 0 at (1, 1)",
        formula="f(x, y) = sin²(3πx) + (x − 1)² (1 + sin²(3πy)) + (y − 1)² (1 + sin²(2πy))",
        kernel=trig.levi13_kernel,
        hessian=trig.levi13_hessian,
        bounds=box(-10.0, 10.0),
        start=cycled(-4.0, 6.0),
        known_points=fixed_points(KnownPoint((1.0, 1.0), exact=True)),
        notes="Only the global minimum is listed (the local minima are many).",
    ),
    CatalogueFunction(
        name="eggholder",
        description="Eggholder: deep, irregular wells; global minimum −959.6407 at "
        "(512, 404.2319) on the domain's edge",
        formula="f(x, y) = −(y + 47) sin(√|y + x/2 + 47|) − x sin(√|x − (y + 47)|)",
        kernel=trig.eggholder_kernel,
        hessian=trig.eggholder_hessian,
        bounds=box(-512.0, 512.0),
        start=cycled(0.0, 0.0),
        # the minimum over the box sits on x = 512: ∂f/∂y = 0 there, ∂f/∂x < 0 points out
        known_points=fixed_points(KnownPoint((512.0, 404.2319), "global", pinned=(0,))),
        notes="Only the global minimum over [−512, 512]² is listed. It lies on the bound "
        "x = 512, where only ∂f/∂y vanishes (the function keeps falling past the bound).",
    ),
    CatalogueFunction(
        name="mccormick",
        description="McCormick: global minimum −1.913223 at (−0.547198, −1.547198), one local "
        "minimum and one saddle in the domain",
        formula="f(x, y) = sin(x + y) + (x − y)² − 1.5x + 2.5y + 1",
        kernel=trig.mccormick_kernel,
        hessian=trig.mccormick_hessian,
        bounds=lambda dims, params: ((-1.5, 4.0), (-3.0, 4.0)),
        start=cycled(-1.0, 3.0),
        known_points=fixed_points(
            _mccormick_point(-2.0 * math.pi / 3.0, "auto"),
            _mccormick_point(4.0 * math.pi / 3.0, "auto"),
            _mccormick_point(2.0 * math.pi / 3.0, "auto"),
        ),
        notes="Stationary points in closed form: x − y = 1, cos(x + y) = −½.",
    ),
    CatalogueFunction(
        name="saddle",
        description="The textbook saddle x² − y²: a saddle point at the origin, unbounded below",
        formula="f(x, y) = x² − y²",
        kernel=poly.saddle_kernel,
        hessian=poly.saddle_hessian,
        bounds=box(-2.0, 2.0),
        start=cycled(1.5, 0.01),
        known_points=fixed_points(KnownPoint((0.0, 0.0), "saddle", exact=True)),
        source="",
        notes="Start near the stable direction (y ≈ 0): descent slows at the saddle, then escapes.",
    ),
    CatalogueFunction(
        name="monkey_saddle",
        description="The monkey saddle x³ − 3xy²: a degenerate saddle (zero Hessian) at the "
        "origin, three valleys",
        formula="f(x, y) = x³ − 3xy²",
        kernel=poly.monkey_saddle_kernel,
        hessian=poly.monkey_saddle_hessian,
        bounds=box(-2.0, 2.0),
        start=cycled(1.0, 0.5),
        known_points=fixed_points(KnownPoint((0.0, 0.0), "saddle", exact=True)),
        source="",
        notes="The Hessian vanishes at the origin; it is a saddle (f takes both signs nearby) "
        "that the second-derivative test cannot classify.",
    ),
)
