"""What every objective is: a compiled value-and-gradient kernel plus what users want to know
about it (dims, bounds, standard start, Hessian, known stationary points)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

StationaryKind = Literal["global", "local", "saddle", "maximum", "degenerate"]

EMPTY_DATA = np.zeros((0, 0))
EMPTY_BATCH = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class StationaryPoint:
    """A point where the gradient vanishes. ``kind``: ``global`` / ``local`` minimum,
    ``saddle``, ``maximum`` (or ``degenerate`` when the Hessian cannot tell)."""

    params: tuple[float, ...]
    value: float
    kind: StationaryKind

    def to_dict(self) -> dict:
        return {"params": list(self.params), "value": self.value, "kind": self.kind}


@dataclass(frozen=True)
class Objective:
    """One objective, ready for the run loop.

    ``kernel`` follows ``engine.kernels.OBJECTIVE_SIGNATURE``; ``consts`` and ``data`` are
    what it is called with. ``hessian(x (R, d)) -> (R, d, d)`` is NumPy (analysis only, not
    the hot loop). Dataset models have ``n_samples > 0`` and ``data`` holding one sample per row.
    """

    name: str
    dims: int
    kernel: Callable
    consts: np.ndarray
    hessian: Callable[[np.ndarray], np.ndarray] | None = None
    bounds: tuple[tuple[float, float], ...] = ()
    start: tuple[float, ...] | None = None
    stationary_points: tuple[StationaryPoint, ...] = ()
    data: np.ndarray = field(default_factory=lambda: EMPTY_DATA)
    n_samples: int = 0
    parameter_names: tuple[str, ...] = ()

    def evaluate(
        self, x: np.ndarray, batch: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Loss ``(R,)`` and gradient ``(R, d)`` at points ``x`` ``(R, d)`` (or ``(d,)``);
        dataset models average over ``batch`` (default: every sample)."""
        points = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
        if batch is None:
            batch = np.arange(self.n_samples, dtype=np.int64) if self.n_samples else EMPTY_BATCH
        loss = np.empty(points.shape[0])
        grad = np.empty_like(points)
        self.kernel(points, self.consts, self.data, batch, loss, grad)
        return loss, grad

    def value(self, x: np.ndarray) -> np.ndarray:
        """The loss at each row of ``x``."""
        return self.evaluate(x)[0]

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """The gradient at each row of ``x``."""
        return self.evaluate(x)[1]
