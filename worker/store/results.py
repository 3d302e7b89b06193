"""Result storage: a finished job's trajectory, stored once, as raw rows.

``result:{id}`` holds the trajectory as raw little-endian rows ``step:int64,
params:float64[d], loss, grad_norm, lr:float64`` (8·(d+4) bytes a point), one key, overwritten
(never appended) by each run of the job, written by ``JobStore.finish`` in the same script as
the job's final status. Raw rows rather than compressed columns: float trajectories barely
compress, and fixed-size rows let a ``max_points`` request fetch only the rows it shows with
one server-side gather (``GETRANGE`` per row), so a thinned view of a million points costs
milliseconds. Every answer (the whole JSON document included) is written from these rows when
it is asked for: one stored form keeps Redis at the trajectory's own size (a job's byte budget,
docs/spec.md §9.4, is what it stores).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import dumps, loads
from worker.store.keys import JobNotFound, as_bytes, job_key, result_key
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
                     epoch_loss: np.ndarray | None) -> tuple[bytes, bytes]:
    """What the finish script stores of a result: the rows and the layout (JSON); empty rows
    without a trajectory."""
    if trajectory is None:
        return b"", dumps({})
    data, layout = pack_trajectory(trajectory)
    return data, dumps({**layout, "epoch_loss": epoch_loss})


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
