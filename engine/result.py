"""The result document (SPEC.md §8): one vocabulary for the CLI, the worker and the API.

A ``RunResult`` keeps the trajectory as NumPy columns; ``to_document`` gives the JSON-ready
dict (arrays stay NumPy: ``engine.jsonio.dumps`` writes them straight, non-finite as null),
optionally shrunk with ``max_points`` / ``every`` / ``fields``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

STOP_REASONS = ("running", "max_steps", "max_epochs", "grad_tol", "target_loss", "diverged", "cancelled",
                "pruned")
TRAJECTORY_FIELDS = ("params", "loss", "grad_norm", "lr")


@dataclass
class RunResult:
    """One run's outcome. ``trajectory`` columns: step (int), params (n, d), loss, grad_norm, lr."""

    stop_reason: str
    steps: int
    epochs: float | None
    trajectory: dict[str, np.ndarray]
    final: dict[str, Any]
    epoch_loss: np.ndarray | None
    nearest_stationary_point: dict[str, Any] | None
    elapsed_s: float
    spec: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The small part (no trajectory): what job documents and sweep tables show."""
        return {
            "stop_reason": self.stop_reason,
            "steps": self.steps,
            "epochs": self.epochs,
            "final": self.final,
            "nearest_stationary_point": self.nearest_stationary_point,
            "elapsed_s": self.elapsed_s,
        }

    def to_document(
        self,
        *,
        max_points: int | None = None,
        every: int | None = None,
        fields: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """SPEC.md §8, with the trajectory shrunk as asked."""
        document = self.summary()
        document["trajectory"] = shrink_trajectory(
            self.trajectory, max_points=max_points, every=every, fields=fields
        )
        document["epoch_loss"] = self.epoch_loss
        return document


def shrink_indices(n: int, *, max_points: int | None = None, every: int | None = None) -> np.ndarray:
    """Which of n points to keep: every k-th, then at most M evenly spaced; the first and the
    last point always stay."""
    if every is not None and every > 1:  # every k-th and the last: built, not filtered
        kept = np.arange(0, n, every)
        index = kept if n == 0 or kept[-1] == n - 1 else np.append(kept, n - 1)
    else:
        index = None  # all n, never built: a million indices cost ~0.7 ms
    count = n if index is None else len(index)
    if max_points is not None and count > max_points:
        picks = np.unique(np.rint(np.linspace(0, count - 1, max(max_points, 2))).astype(np.int64))
        return picks if index is None else index[picks]
    return np.arange(n) if index is None else index


def shrink_trajectory(
    trajectory: dict[str, np.ndarray],
    *,
    max_points: int | None = None,
    every: int | None = None,
    fields: Iterable[str] | None = None,
) -> dict[str, np.ndarray]:
    """The columnar trajectory with only the kept points and the asked-for fields (``step``
    always stays: it says which points these are)."""
    keep = ("step", *(TRAJECTORY_FIELDS if fields is None else [f for f in TRAJECTORY_FIELDS if f in set(fields)]))
    index = shrink_indices(len(trajectory["step"]), max_points=max_points, every=every)
    whole = len(index) == len(trajectory["step"])
    return {name: trajectory[name] if whole else trajectory[name][index] for name in keep}
