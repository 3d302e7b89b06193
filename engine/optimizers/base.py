"""What every optimizer is: a compiled update kernel over ``(R, d)`` state, plus its
hyperparameters (names, defaults, ranges, torch semantics) and how its state starts.

The optax shape, adapted to a compiled loop: ``init_state(hyper, R, d) -> state`` builds the
buffers once; the kernel (``engine.kernels.OPTIMIZER_SIGNATURE``) updates params and state in
place, so the hot loop allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter, as ``GET /v1/optimizers`` lists it.

    ``kind``: ``float``, ``int``, ``bool`` or ``pair`` (two floats, e.g. ``betas``: it takes two
    columns of the hyper row). ``minimum``/``maximum`` with ``exclusive_*`` give the range.
    """

    name: str
    default: Any
    kind: Literal["float", "int", "bool", "pair"] = "float"
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    description: str = ""

    @property
    def width(self) -> int:
        return 2 if self.kind == "pair" else 1


@dataclass(frozen=True)
class OptimizerDef:
    """An optimizer family (``sgd``, ``adam``, ...)."""

    name: str
    kernel: Callable
    hyperparameters: tuple[Hyperparameter, ...]
    state_slots: int
    default_lr: float
    init_state: Callable[[np.ndarray, int, int], np.ndarray]  # (hyper, R, d) -> state
    description: str = ""
    momentum_column: int | None = None  # the hyper column OneCycleLR cycles (momentum or beta1)
