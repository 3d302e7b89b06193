"""Result storage: a finished job's trajectory as raw rows and as JSON columns.

- ``result:{id}`` — the trajectory as raw little-endian rows ``step:int64, params:float64[d],
  loss, grad_norm, lr:float64`` (8·(d+4) bytes a point), one key, overwritten (never appended)
  by each run of the job. Raw rows rather than compressed columns: float trajectories barely
  compress, and fixed-size rows let a ``max_points`` request fetch only the rows it shows with
  one server-side gather (``GETRANGE`` per row), so a thinned view of a million points costs
  milliseconds.
- ``result_json:{id}`` — a hash: each trajectory column (``step``, ``params``, ``loss``,
  ``grad_norm``, ``lr``) already written as JSON, by the worker when the job finishes. A full
  ``GET /result`` streams them as they are: writing a million-point trajectory as JSON takes
  longer (~0.4 s) than the whole request may.

Both are written by ``JobStore.finish`` in the same script as the job's final status.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from engine import dumps, loads
from engine.result import TRAJECTORY_FIELDS
from worker.store.keys import JobNotFound, as_bytes, job_key, result_json_key, result_key
from worker.store.scripts import StoreBase

GATHER_LIMIT = 20_000  # above this many rows, fetch the whole result and slice it locally


def row_dtype(dims: int) -> np.dtype:
    return np.dtype(
        [("step", "<i8"), ("params", "<f8", (dims,)), ("loss", "<f8"), ("grad_norm", "<f8"),
         ("lr", "<f8")]
    )


def pack_trajectory(trajectory: dict[str, np.ndarray]) -> tuple[bytes, dict[str, int]]:
    """The trajectory columns as raw rows, and the layout needed to read them back."""
    params = np.asarray(trajectory["params"], dtype=float)
    n, dims = params.shape
    rows = np.empty(n, dtype=row_dtype(dims))
    for name in ("step", "loss", "grad_norm", "lr"):
        rows[name] = trajectory[name]
    rows["params"] = params
    return rows.tobytes(), {"points": n, "dims": dims}


def result_arguments(trajectory: dict[str, np.ndarray] | None,
                     epoch_loss: np.ndarray | None) -> tuple[bytes, bytes, list[Any]]:
    """What the finish script stores of a result: the rows, the layout (JSON) and the JSON
    columns as field/value pairs (all empty without a trajectory)."""
    if trajectory is None:
        return b"", dumps({}), []
    data, layout = pack_trajectory(trajectory)
    columns = [item for name in ("step", *TRAJECTORY_FIELDS)
               for item in (name, dumps(trajectory[name]))]
    return data, dumps({**layout, "epoch_loss": epoch_loss}), columns


class ResultReader(StoreBase):
    """Reading a finished job's result: its record's outline, whole columns, chosen rows."""

    def result_record(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        """What ``GET /result`` needs of the job record, in one round trip: ``status``,
        ``summary`` and ``error`` (parsed) and ``layout`` (None when there is no result)."""
        raw = self.redis.hmget(job_key(job_id),
                               ["owner", "status", "summary", "error", "has_result", "layout"])
        stored_owner, status, summary, error, has_result, layout = map(as_bytes, raw)
        if stored_owner is None or (owner is not None and stored_owner.decode() != owner):
            raise JobNotFound(job_id)
        return {
            "status": status.decode(),
            "summary": loads(summary) if summary else None,
            "error": loads(error) if error else None,
            "layout": loads(layout) if has_result == b"1" else None,
        }

    def written_columns(self, job_id: str, names: tuple[str, ...]) -> Iterator[bytes] | None:
        """The whole columns ``names`` as the JSON the worker wrote, each fetched as the caller
        iterates (a million-point trajectory is ~100 MB: the answer can start going out while the
        rest is read); None for a result stored before these columns existed."""
        key = result_json_key(job_id)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hstrlen(key, name)
        if not all(pipe.execute()):
            return None
        return (self._written_column(job_id, key, name) for name in names)

    def _written_column(self, job_id: str, key: str, name: str) -> bytes:
        column = self.redis.hget(key, name)
        if column is None:  # expired mid-answer: fail it rather than answer a wrong document
            raise JobNotFound(job_id)
        return as_bytes(column)

    def read_trajectory(
        self, job_id: str, layout: dict[str, Any], indices: np.ndarray | None,
        fields: tuple[str, ...],
    ) -> dict[str, np.ndarray]:
        """The columns ``step`` and ``fields`` of the stored trajectory at ``indices`` (all when
        None), from its rows."""
        dtype = row_dtype(int(layout["dims"]))
        key = result_key(job_id)
        if indices is not None and len(indices) <= GATHER_LIMIT:
            gathered = self.scripts.gather(keys=[key], args=[dtype.itemsize, *indices.tolist()])
            rows = np.frombuffer(as_bytes(gathered), dtype=dtype)
        else:
            data = self.redis.get(key)
            if data is None:
                raise JobNotFound(job_id)
            rows = np.frombuffer(as_bytes(data), dtype=dtype)
            if indices is not None:
                rows = rows[indices]
        return {name: np.ascontiguousarray(rows[name]) for name in ("step", *fields)}
