"""What every optimizer is: a compiled update kernel over ``(R, d)`` state, plus its
hyperparameters (names, defaults, ranges, torch semantics) and how its state starts.

The optax shape, adapted to a compiled loop: ``init_state(hyper, R, d, layout, learning_rate)
-> state`` builds the buffers once; the kernel (``engine.kernels.OPTIMIZER_SIGNATURE``) updates
params and state in place, so the hot loop allocates nothing.

``layout`` is the shapes of the parameter tensors the flat vector of length d is made of
(``engine.optimizers.layout``): optimizers that work per tensor (Lamb's trust ratio,
Adafactor's factored second moment) keep it in their state. ``learning_rate`` (R,) is each
run's base learning rate (the constructor's ``lr``), for the few updates that read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Layout = tuple[tuple[int, ...], ...]
"""The shapes of the parameter tensors, in the order the flat parameter vector holds them."""


class InitState(Protocol):
    """``(hyper (R, H), R, d, layout=None, learning_rate=None) -> state (S, R, d)``; a missing
    layout is one tensor of shape (d,), a missing learning rate is read from the first update."""

    def __call__(self, hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
                 learning_rate: np.ndarray | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter, as ``GET /v1/optimizers`` lists it.

    ``kind``: ``float``, ``int``, ``bool``, ``pair`` (two floats, e.g. ``betas``: it takes two
    columns of the hyper row) or ``choice`` (one of ``choices``, a string; its column holds its
    1-based position). ``minimum``/``maximum`` with ``exclusive_*`` give the range. ``nullable``:
    ``null`` is accepted too (torch's ``None``: column nan for a number, 0 for a choice).
    """

    name: str
    default: Any
    kind: Literal["float", "int", "bool", "pair", "choice"] = "float"
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()
    nullable: bool = False

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
    init_state: InitState
    description: str = ""
    momentum_column: int | None = None  # the hyper column OneCycleLR cycles (momentum or beta1)
    reported_state: tuple[tuple[str, int], ...] = ()
    """State slots a result reports in ``final``, as (name, slot): ASGD's running average
    ``ax`` is ``final.averaged_params``."""
    closure: bool = False
    """``kernel`` is a closure optimizer kernel (``engine.kernels.CLOSURE_SIGNATURE``): it
    evaluates the objective itself within a step (L-BFGS, Newton), and the loop calls it instead
    of an update kernel."""
    needs_hessian: bool = False
    """The closure kernel calls the objective's exact Hessian kernel (Newton); the loop hands
    it ``engine.objectives.hessians.hessian_kernel(objective)``, compiled only then."""
    reports: tuple[tuple[str, Callable[[np.ndarray, int], Any]], ...] = ()
    """What a result reports in ``final`` computed from a run's state, as (name, function of
    the run's state ``(S, d)`` and its steps): Newton's ``hessian`` summary. None for a run of a
    group that stopped before the loop's last step (its row went on moving)."""
    needs_matrices: bool = False
    """The optimizer steps weight matrices (Muon): an objective whose parameters hold no 2-D
    tensor (``engine.optimizers.layout``) is refused at validation."""
