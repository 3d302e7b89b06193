"""A run's result as NumPy arrays, from a local run or from the service's Arrow answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import loads


@dataclass(frozen=True)
class Trajectory:
    """The recorded points: ``step`` (n,), ``params`` (n, d), ``loss``, ``grad_norm``, ``lr``
    (n,). A column left out with ``fields=`` is ``None``."""

    step: np.ndarray
    params: np.ndarray | None
    loss: np.ndarray | None
    grad_norm: np.ndarray | None
    lr: np.ndarray | None

    def __len__(self) -> int:
        return len(self.step)


@dataclass(frozen=True)
class Result:
    """A finished run: ``stop_reason``, ``steps``, ``final`` ({"params", "loss", "grad_norm"})
    and ``trajectory``; ``document`` holds the rest of the result document (docs/spec.md §8)."""

    stop_reason: str
    steps: int
    final: dict[str, Any]
    trajectory: Trajectory
    epoch_loss: np.ndarray | None = None
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_pandas(self) -> Any:
        """The trajectory as a DataFrame (``pip install 'descent[pandas]'``): ``step`` as the
        index, then ``loss``, ``grad_norm``, ``lr`` and ``p0 …``."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Result.to_pandas needs pandas: pip install 'descent[pandas]'") \
                from None
        columns: dict[str, np.ndarray] = {
            name: getattr(self.trajectory, name) for name in ("loss", "grad_norm", "lr")
            if getattr(self.trajectory, name) is not None}
        if self.trajectory.params is not None:
            for column in range(self.trajectory.params.shape[1]):
                columns[f"p{column}"] = self.trajectory.params[:, column]
        return pd.DataFrame(columns, index=pd.Index(self.trajectory.step, name="step"))


def result_from_document(document: dict[str, Any]) -> Result:
    """A result document (JSON, or an Arrow answer's metadata with its columns filled in)."""
    columns = document.get("trajectory") or {}

    def column(name: str, dtype: type) -> np.ndarray | None:
        values = columns.get(name)
        return None if values is None else np.asarray(values, dtype=dtype)

    params = column("params", float)
    trajectory = Trajectory(
        step=np.asarray(columns.get("step", []), dtype=np.int64),
        params=None if params is None else params.reshape(len(params), -1),
        loss=column("loss", float), grad_norm=column("grad_norm", float), lr=column("lr", float))
    epoch_loss = document.get("epoch_loss")
    rest = {key: value for key, value in document.items() if key != "trajectory"}
    return Result(stop_reason=document["stop_reason"], steps=int(document["steps"]),
                  final=document.get("final") or {}, trajectory=trajectory,
                  epoch_loss=None if epoch_loss is None else np.asarray(epoch_loss, dtype=float),
                  document=rest)


def result_from_arrow(content: bytes) -> Result:
    """The service's Arrow answer (docs/spec.md §8.1): the table's columns, zero-copy where
    Arrow allows, and the document in its metadata."""
    import pyarrow as pa

    table = pa.ipc.open_stream(content).read_all()
    document = loads(table.schema.metadata[b"descent"])
    names = table.column_names
    trajectory: dict[str, Any] = {name: table.column(name).to_numpy()
                                  for name in ("step", "loss", "grad_norm", "lr") if name in names}
    parameters = [name for name in names if name.startswith("p") and name[1:].isdigit()]
    if parameters:
        trajectory["params"] = np.column_stack([table.column(name).to_numpy()
                                                for name in parameters])
    return result_from_document({**document, "trajectory": trajectory})
