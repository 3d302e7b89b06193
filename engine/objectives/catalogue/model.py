"""What a catalogue entry is: its kernel and Hessian, its parameters (validated with messages
that name the field), and how its dims, bounds, start and stationary points follow from them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from engine.errors import SpecError

MAX_DIMS = 1000  # an n-D function's dims cap: quadratic keeps a d x d matrix in its constants

ParamKind = Literal["int", "float"]
Params = dict[str, Any]
Bounds = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class FunctionParam:
    """One entry of ``function_params``, as ``GET /v1/functions/{name}`` lists it."""

    name: str
    default: Any
    description: str
    kind: ParamKind = "float"
    minimum: float | None = None
    exclusive_minimum: bool = False
    nullable: bool = False  # ``None`` (the default) means "not used"

    def validate(self, function: str, value: Any) -> Any:
        """The value as the kernel wants it (int or float), or a SpecError naming it."""
        field_name = f"function_params.{self.name}"
        if value is None and self.nullable:
            return None
        # bool is an int in Python; a user who writes `true` means something else
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(field_name, f"must be a number, got {value!r}")
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise SpecError(field_name, f"must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise SpecError(field_name, f"must be a finite number, got {value!r}")
        if self.minimum is not None:
            too_small = value <= self.minimum if self.exclusive_minimum else value < self.minimum
            if too_small:
                relation = ">" if self.exclusive_minimum else ">="
                raise SpecError(
                    field_name, f"must be {relation} {self.minimum:g} for {function}, got {value!r}"
                )
        return value

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "name": self.name,
            "default": self.default,
            "type": self.kind,
            "description": self.description,
        }
        if self.minimum is not None:
            key = "exclusive_minimum" if self.exclusive_minimum else "minimum"
            out[key] = self.minimum
        return out


KindOrAuto = Literal["global", "local", "saddle", "maximum", "auto"]


@dataclass(frozen=True)
class KnownPoint:
    """A stationary point as the literature gives it, to a few digits. ``exact`` points are
    used as they are; the others are refined by Newton's method on the exact gradient."""

    params: tuple[float, ...]
    kind: KindOrAuto = "auto"
    exact: bool = False
    # box-constrained minima (eggholder's) sit on a bound: the gradient vanishes only along
    # the coordinates not in ``pinned``
    pinned: tuple[int, ...] = ()


@dataclass(frozen=True)
class CatalogueFunction:
    """One catalogue function.

    ``kernel`` follows ``engine.kernels.OBJECTIVE_SIGNATURE`` and reads its constants from
    ``make_consts(dims, params)``; ``hessian(x, consts) -> (R, d, d)``. ``known_points(dims,
    params)`` lists the stationary points as seeds (refined and classified when built).
    """

    name: str
    description: str
    formula: str
    kernel: Callable
    hessian: Callable[[np.ndarray, np.ndarray], np.ndarray]
    bounds: Callable[[int, Params], Bounds]
    start: Callable[[int, Params], tuple[float, ...]]
    known_points: Callable[[int, Params], tuple[KnownPoint, ...]]
    make_consts: Callable[[int, Params], np.ndarray] = lambda dims, params: np.zeros(0)
    params: tuple[FunctionParam, ...] = ()
    default_dims: int = 2
    n_dimensional: bool = False
    min_dims: int = 2
    notes: str = ""
    check_params: Callable[[int, Params], None] = lambda dims, params: None
    source: str = field(default="https://www.sfu.ca/~ssurjano/optimization.html")

    def resolve_params(self, params: Params | None) -> tuple[int, Params]:
        """``(dims, params with defaults filled)`` from a spec's ``function_params``."""
        given = dict(params or {})
        known = {p.name for p in self.params} | {"dims"}
        unknown = sorted(set(given) - known)
        if unknown:
            allowed = ", ".join(sorted(known)) if self.params or self.n_dimensional else "dims"
            raise SpecError(
                f"function_params.{unknown[0]}",
                f"unknown parameter {unknown[0]!r} for {self.name}; known: {allowed}",
            )
        dims = self._resolve_dims(given.pop("dims", None))
        resolved = {
            p.name: p.validate(self.name, given.get(p.name, p.default)) for p in self.params
        }
        self.check_params(dims, resolved)
        return dims, resolved

    def _resolve_dims(self, value: Any) -> int:
        if value is None:
            return self.default_dims
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not value.is_integer())
        ):
            raise SpecError("function_params.dims", f"must be an integer, got {value!r}")
        dims = int(value)
        if not self.n_dimensional:
            if dims != self.default_dims:
                raise SpecError(
                    "function_params.dims",
                    f"{self.name} is {self.default_dims}-dimensional; dims must be "
                    f"{self.default_dims}, got {dims}",
                )
            return dims
        if not self.min_dims <= dims <= MAX_DIMS:
            raise SpecError(
                "function_params.dims",
                f"{self.name} takes dims from {self.min_dims} to {MAX_DIMS}, got {dims}",
            )
        return dims


def parameter_names(dims: int, n_dimensional: bool) -> tuple[str, ...]:
    """``("x", "y")`` for the classic 2-D functions, ``("x1", ..., "xn")`` for n-D ones."""
    if not n_dimensional and dims == 2:
        return ("x", "y")
    return tuple(f"x{i + 1}" for i in range(dims))


def box(low: float, high: float) -> Callable[[int, Params], Bounds]:
    """The same interval in every dimension."""
    return lambda dims, params: tuple((float(low), float(high)) for _ in range(dims))


def cycled(*pattern: float) -> Callable[[int, Params], tuple[float, ...]]:
    """A start point: ``pattern`` repeated to fill the dims (Moré–Garbow–Hillstrom style)."""
    return lambda dims, params: tuple(float(pattern[i % len(pattern)]) for i in range(dims))


def fixed_points(*points: KnownPoint) -> Callable[[int, Params], tuple[KnownPoint, ...]]:
    return lambda dims, params: points
