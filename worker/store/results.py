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
import redis.asyncio

from engine import dumps, loads
from worker.store.keys import JobNotFound, as_bytes, job_key, result_key
from worker.store.scripts import StoreBase

GATHER_LIMIT = 20_000  # above this many rows, fetch the whole result and slice it locally
# Large values go to and from Redis in pieces of about this size: redis-py parses one 48 MB
# reply ~4× slower than 48 replies of 1 MB (its buffer grows by copying), 105 ms against 24 ms
# here; hiredis packs one 24 MB command ~8× slower than 24 of 1 MB (45 against 6 ms), and
# Redis appends a large command to its append-only file slower too.
PIECE_BYTES = 1 << 20
# ``result_record`` reads this much of the rows with the record, in the same round trip: all
# of a small result (1,365 2-D points), and little to spare for a large one.
HEAD_BYTES = 1 << 16


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


def _result_record(replies: list[Any], job_id: str, owner: str | None) -> dict[str, Any]:
    raw, head = replies
    stored_owner, status, summary, error, has_result, layout = map(as_bytes, raw)
    if stored_owner is None or (owner is not None and stored_owner.decode() != owner):
        raise JobNotFound(job_id)
    return {
        "status": status.decode(),
        "summary": loads(summary) if summary else None,
        "error": loads(error) if error else None,
        "layout": loads(layout) if has_result == b"1" else None,
        "head": as_bytes(head) or b"",
    }


def held_in_head(layout: dict[str, Any], head: bytes) -> bool:
    """Whether a record's ``head`` holds every row of its result."""
    return len(head) == int(layout["points"]) * row_dtype(int(layout["dims"])).itemsize


class ResultReader(StoreBase):
    """Reading a finished job's result: its record's outline, whole columns, chosen rows."""

    async def result_record(self, client: redis.asyncio.Redis, job_id: str,
                            owner: str | None = None) -> dict[str, Any]:
        """What ``GET /result`` needs of the job record, in one round trip through the API's
        asyncio client (no thread): ``status``, ``summary`` and ``error`` (parsed), ``layout``
        (None when there is no result) and ``head``, the first ``HEAD_BYTES`` of the rows
        (pass it to ``read_trajectory``)."""
        pipe = client.pipeline(transaction=False)  # reads only: a full Redis serves them
        pipe.hmget(job_key(job_id), ["owner", "status", "summary", "error", "has_result",
                                     "layout"])
        pipe.getrange(result_key(job_id), 0, HEAD_BYTES - 1)
        return _result_record(await pipe.execute(), job_id, owner)

    def read_trajectory(
        self, job_id: str, layout: dict[str, Any], indices: np.ndarray | None,
        fields: tuple[str, ...], head: bytes = b"",
    ) -> dict[str, list[np.ndarray]]:
        """The columns ``step`` and ``fields`` of the stored trajectory at ``indices`` (all when
        None), each as a list of pieces: views into the rows as they were read (a whole result
        ``PIECE_BYTES`` at a time, never copied into one buffer). A ``head`` (from
        ``result_record``) that holds every row is all that is read."""
        dtype = row_dtype(int(layout["dims"]))
        key = result_key(job_id)
        if held_in_head(layout, head):
            rows = np.frombuffer(head, dtype=dtype)
            pieces = [rows if indices is None else rows[indices]]
        elif indices is not None and len(indices) <= GATHER_LIMIT:
            gathered = self.scripts.gather(keys=[key], args=[dtype.itemsize, *indices.tolist()])
            pieces = [np.frombuffer(as_bytes(gathered), dtype=dtype)]
        else:
            pieces = self._read_rows(key, int(layout["points"]), dtype, job_id)
            if indices is not None:
                pieces = [np.concatenate(pieces)[indices]]
        return {name: [piece[name] for piece in pieces] for name in ("step", *fields)}

    def _read_rows(self, key: str, points: int, dtype: np.dtype, job_id: str
                   ) -> list[np.ndarray]:
        """The ``points`` stored rows of ``key``, read ``PIECE_BYTES`` (whole rows) at a
        time, each piece as it came (at least one, maybe empty); ``JobNotFound`` when the key
        is gone or shorter (deleted while being read)."""
        per_read = max(1, PIECE_BYTES // dtype.itemsize)
        pieces = []
        for first in range(0, points, per_read):
            count = min(per_read, points - first)
            piece = as_bytes(self.redis.getrange(key, first * dtype.itemsize,
                                                 (first + count) * dtype.itemsize - 1))
            if piece is None or len(piece) != count * dtype.itemsize:
                raise JobNotFound(job_id)
            pieces.append(np.frombuffer(piece, dtype=dtype))
        return pieces or [np.empty(0, dtype=dtype)]
