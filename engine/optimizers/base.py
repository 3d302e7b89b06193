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

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Layout = tuple[tuple[int, ...], ...]
"""The shapes of the parameter tensors, in the order the flat parameter vector holds them."""


def hyper_columns(*names: str) -> Any:
    """The columns of a family's hyper row by name: a namedtuple whose fields are ``names`` and
    whose values are their positions 0..n-1, so a kernel reads ``hyper[r, ADAM.beta1]``.

    numba freezes a global namedtuple as a constant, and LLVM folds the attribute to the
    column number: the compiled code is the same as with literal columns (and caches the
    same). ``OptimizerDef`` checks these names against its declared hyperparameters. Typed
    ``Any``: the fields are made at run time, beyond mypy's sight."""
    return namedtuple("HyperColumns", names)(*range(len(names)))


class InitState(Protocol):
    """``(hyper (R, H), R, d, layout=None, learning_rate=None) -> state (S, R, d)``; a missing
    layout is one tensor of shape (d,), a missing learning rate is read from the first update."""

    def __call__(self, hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
                 learning_rate: np.ndarray | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter, as ``GET /v1/optimizers`` lists it.

    ``kind``: ``float``, ``int``, ``bool``, ``pair`` (two floats, e.g. ``betas``: it takes two
    columns of the hyper row, named by ``parts``) or ``choice`` (one of ``choices``, a string;
    its column holds its 1-based position). ``minimum``/``maximum`` with ``exclusive_*`` give
    the range. ``nullable``: ``null`` is accepted too (torch's ``None``: column nan for a
    number, 0 for a choice).
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
    parts: tuple[str, ...] = ()
    """A pair's two columns as the kernel names them (``betas``: ``beta1``, ``beta2``)."""

    def __post_init__(self) -> None:
        if len(self.parts) != (2 if self.kind == "pair" else 0):
            raise ValueError(f"hyperparameter {self.name!r}: a pair names its two columns in "
                             f"parts, and only a pair has parts; got kind={self.kind!r}, "
                             f"parts={self.parts!r}")

    @property
    def width(self) -> int:
        return 2 if self.kind == "pair" else 1

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of the hyper row's columns it takes: a pair's parts, else its name."""
        return self.parts if self.kind == "pair" else (self.name,)


@dataclass(frozen=True)
class OptimizerDef:
    """An optimizer family (``sgd``, ``adam``, ...).

    ``columns`` (``hyper_columns``, declared beside the kernel) names the hyper row's columns
    as the kernel reads them; the declared hyperparameters, a pair expanded to its parts, must
    name the same columns in the same order, or the family is refused at import."""

    name: str
    kernel: Callable
    hyperparameters: tuple[Hyperparameter, ...]
    columns: Any
    state_slots: int
    default_lr: float
    description: str = ""
    start_state: InitState | None = None
    """How a run's state starts (``init_state``); None: ``state_slots`` zero slots."""
    momentum_column: int | None = None
    """The hyper column OneCycleLR and CyclicLR cycle (momentum or beta1), given by name:
    ``momentum_column=ADAM.beta1``."""
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
    state_size: Callable[[dict[str, Any], int], int] | None = None
    """The floats one run's optimizer holds (state and per-step scratch), from its resolved
    hyperparameters and the parameter count, for the byte budgets; None: ``state_slots × d``."""

    def init_state(self, hyper: np.ndarray, n_runs: int, dims: int, layout: Layout | None = None,
                   learning_rate: np.ndarray | None = None) -> np.ndarray:
        """The runs' starting state ``(slots, n_runs, dims)``: ``start_state``'s, or zeros."""
        if self.start_state is None:
            return np.zeros((self.state_slots, n_runs, dims))
        return self.start_state(hyper, n_runs, dims, layout, learning_rate)

    def floats_per_run(self, config: dict[str, Any], dims: int) -> int:
        """What ``state_size`` says, or ``state_slots × dims``."""
        if self.state_size is None:
            return self.state_slots * dims
        return self.state_size(config, dims)

    def __post_init__(self) -> None:
        declared = tuple(column for hyper in self.hyperparameters for column in hyper.columns)
        kernel = tuple(getattr(self.columns, "_fields", ()))
        if declared != kernel:
            raise ValueError(
                f"optimizer {self.name!r}: the declared hyperparameters give the hyper columns "
                f"{declared}, but its kernel reads {kernel}; declare them in the kernel's order "
                "(a pair's parts as the kernel names them)"
            )
        if self.momentum_column is not None and not 0 <= self.momentum_column < len(kernel):
            raise ValueError(f"optimizer {self.name!r}: momentum_column {self.momentum_column} "
                             f"is not one of its {len(kernel)} columns")
