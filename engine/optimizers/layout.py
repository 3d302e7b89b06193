"""The parameter tensors behind a flat parameter vector, for optimizers that work per tensor.

Lamb's trust ratio is one number per parameter tensor and Adafactor factors the second moment
of every 2-D tensor into row and column averages, so both need to know which coordinates of the
flat vector form which tensor. The shapes are those of docs/spec.md §3.3, in order:

    analytic functions, formulas               x (d,)
    linear_regression, logistic_regression     w (d,), b (1,)
    softmax_regression                         W (d, k), b (k,)
    mlp                                        W1 (d, h), b1 (h,), W2 (h, o), b2 (o,)

(matrices row-major, as the flat vector stores them: W is features × classes, the transpose of
torch ``nn.Linear.weight``). A kernel reads the layout from two state slots that
``layout_slots`` fills, the same for every run: at each coordinate, the end (exclusive) of the
tensor it belongs to, and the tensor's column count (0 for a vector).
"""

from __future__ import annotations

import math

import numpy as np

from engine.errors import SpecError
from engine.objectives.base import Objective
from engine.optimizers.base import Layout


def parameter_layout(objective: Objective) -> Layout:
    """The tensor shapes of ``objective``'s parameter vector (see the module docstring)."""
    if not objective.n_samples:
        return ((objective.dims,),)
    features = objective.data.shape[1] - 1
    if objective.name == "softmax_regression":
        classes = int(objective.consts[0])
        return ((features, classes), (classes,))
    if objective.name == "mlp":
        hidden, outputs = int(objective.consts[0]), int(objective.consts[1])
        return ((features, hidden), (hidden,), (hidden, outputs), (outputs,))
    return ((features,), (1,))


def layout_slots(layout: Layout | None, n_runs: int, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """The two state slots that carry ``layout`` into a kernel, each (R, d): the end of each
    coordinate's tensor, and its column count (0 for a vector, a 0-d or 1-D tensor)."""
    shapes = layout if layout is not None else ((dims,),)
    ends = np.empty(dims)
    columns = np.empty(dims)
    start = 0
    for shape in shapes:
        size = math.prod(shape)
        ends[start:start + size] = start + size
        columns[start:start + size] = shape[1] if len(shape) == 2 else 0
        start += size
    if start != dims:
        raise ValueError(f"layout {shapes} holds {start} parameters, not {dims}")
    return np.tile(ends, (n_runs, 1)), np.tile(columns, (n_runs, 1))


def require_weight_matrices(objective: Objective, optimizer_name: str) -> None:
    """Refuse an optimizer that steps weight matrices (Muon) on an objective without one:
    ``SpecError("optimizer", ...)`` saying why."""
    if not any(len(shape) == 2 for shape in parameter_layout(objective)):
        raise SpecError(
            "optimizer",
            f"{optimizer_name} orthogonalises 2-D weight matrices and {objective.name} has "
            "none (its parameters are vectors); use it on softmax_regression or mlp, or "
            "choose another optimizer",
        )
