"""Uploaded datasets (SPEC.md §9.2): parsing CSV / JSON into ``(X, y)`` and keeping them in Redis.

Parsing checks everything a user can get wrong and names the row or column: an empty file, a
ragged row, a non-numeric cell, NaN or infinity, an unknown target column, too many rows.
(Whether the labels suit a model — {0, 1} for logistic regression — is checked when a job names
the dataset, by the engine's ``load_inline_data``.)

Keys (under ``descent:``), expiring after ``job_ttl_s`` like jobs:

- ``dataset:{id}`` — a hash: owner, created_at, expires_at, n_samples, n_features, columns
  (JSON), target, and ``X`` / ``y`` as raw little-endian float64 bytes.
- ``dataset_users:{id}`` — the record keys of the jobs and sweeps that name it (added when they
  are filed): a dataset that a queued or running one uses is not deleted (docs/spec.md §9.4).
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import redis
from redis.typing import EncodableT, FieldT

from engine import SpecError, dumps, loads
from worker.store import PREFIX, dataset_users_key, now_iso
from worker.store.keys import as_bytes
from worker.store.scripts import DELETE_DATASET


class DatasetError(ValueError):
    """An upload that cannot be a dataset; ``field`` is ``file``, ``target``, ``X`` or ``y``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class DatasetNotFound(LookupError):
    """No such dataset (or not this owner's, or expired)."""


class DatasetInUse(RuntimeError):
    """A queued or running job or sweep uses the dataset: ``jobs`` and ``sweeps`` name them."""

    def __init__(self, dataset_id: str, jobs: list[str], sweeps: list[str]) -> None:
        super().__init__(dataset_id)
        self.dataset_id, self.jobs, self.sweeps = dataset_id, jobs, sweeps


def _cell_problem(text: str, row: int, column: str) -> DatasetError:
    return DatasetError("file", f"row {row}, column '{column}': {text}")


def parse_csv(data: bytes, target: str | None = None, *, max_rows: int) -> tuple[
        np.ndarray, np.ndarray, list[str], str]:
    """``(X, y, feature columns, target column)`` from CSV with a header row.

    Rows are counted from 1 for the first data row (the header is row 0). The fast path is
    ``numpy.loadtxt``; when it refuses a file, a ``csv`` loop finds the first bad cell so the
    message can say where it is.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError("file", f"is not UTF-8 text (byte {error.start})") from None
    header_end = text.find("\n")
    header_line = text if header_end < 0 else text[:header_end]
    try:
        header = [name.strip() for name in next(csv.reader([header_line]), [])]
    except csv.Error as error:  # a bare carriage return, say
        raise DatasetError("file", f"the header row is not valid CSV: {_reason(error)}") from None
    if not text.strip() or not any(header):
        raise DatasetError("file", "is empty: a CSV dataset needs a header row and data rows")
    if len(set(header)) != len(header) or not all(header):
        raise DatasetError("file", "the header row needs a distinct, non-empty name per column")
    if len(header) < 2:
        raise DatasetError("file", "needs at least two columns: one or more features and a target")
    target_name = header[-1] if target is None else target
    if target_name not in header:
        raise DatasetError("target", f"no column '{target_name}'; the columns are {', '.join(header)}")
    body = "" if header_end < 0 else text[header_end + 1:]
    rows = body.count("\n") + (0 if body.endswith("\n") or not body else 1)
    if rows > max_rows:
        raise DatasetError("file", f"has {rows} data rows, over this server's limit of {max_rows}")
    matrix = None
    if body.strip():
        try:
            matrix = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2,
                                comments=None)
        except ValueError:
            matrix = None
        if matrix is None or matrix.shape[1] != len(header):
            _raise_first_bad_cell(body, header)
    if matrix is None or matrix.shape[0] == 0:
        raise DatasetError("file", "has a header but no data rows")
    finite = np.isfinite(matrix)
    if not finite.all():
        row, column = (int(v) for v in np.argwhere(~finite)[0])
        raise _cell_problem(f"{matrix[row, column]!r} is not a finite number", row + 1, header[column])
    column_index = header.index(target_name)
    features = [name for name in header if name != target_name]
    X = np.ascontiguousarray(np.delete(matrix, column_index, axis=1))
    y = np.ascontiguousarray(matrix[:, column_index])
    return X, y, features, target_name


def _reason(error: csv.Error) -> str:
    """The csv module's complaint without its advice to Python programmers."""
    return str(error).split(" - ")[0]


def _raise_first_bad_cell(body: str, header: list[str]) -> None:
    """Find and report the first ragged row or non-numeric cell (the slow, exact path)."""
    reader = csv.reader(io.StringIO(body))
    row = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # a bare carriage return inside a row, say
            raise DatasetError("file", f"row {row + 1} is not valid CSV: {_reason(error)}") from None
        row += 1
        if not cells or all(not cell.strip() for cell in cells):
            raise DatasetError("file", f"row {row} is empty")
        if len(cells) != len(header):
            raise DatasetError("file", f"row {row} has {len(cells)} cells; the header has "
                               f"{len(header)} columns")
        for column, cell in zip(header, cells):
            try:
                value = float(cell)
            except ValueError:
                raise _cell_problem(f"'{cell.strip()[:40]}' is not a number", row, column) from None
            if not math.isfinite(value):
                raise _cell_problem(f"{cell.strip()!r} is not a finite number", row, column)
    raise DatasetError("file", "could not be read as comma-separated numbers")


def parse_json(payload: Any, *, max_rows: int) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """``(X, y, columns, target)`` from ``{"X": [[…], …], "y": […]}``; errors name ``X`` / ``y``
    and the row."""
    if not isinstance(payload, dict) or set(payload) != {"X", "y"}:
        raise DatasetError("body", "a JSON dataset is {\"X\": [[…], …], \"y\": […]} and nothing else")
    X, y = payload["X"], payload["y"]
    if not isinstance(X, list) or not X:
        raise DatasetError("X", "must be a non-empty list of rows")
    if len(X) > max_rows:
        raise DatasetError("X", f"has {len(X)} rows, over this server's limit of {max_rows}")
    width = len(X[0]) if isinstance(X[0], list) else -1
    for row, values in enumerate(X):
        if not isinstance(values, list) or len(values) != width or width < 1:
            raise DatasetError("X", f"row {row} is not a list of {max(width, 1)} numbers like row 0")
        for column, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise DatasetError("X", f"row {row}, column {column}: {value!r} is not a number")
            if not math.isfinite(value):
                raise DatasetError("X", f"row {row}, column {column}: {value!r} is not finite")
    if not isinstance(y, list) or len(y) != len(X):
        raise DatasetError("y", f"must be a list of {len(X)} numbers, one per row of X")
    for row, value in enumerate(y):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DatasetError("y", f"row {row}: {value!r} is not a finite number")
    columns = [f"x{j}" for j in range(width)]
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64), columns, "y"


class DatasetStore:
    """Datasets in Redis, filed under their owner, with the jobs' TTL."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self.redis, self.ttl_s = client, ttl_s
        self._delete = client.register_script(DELETE_DATASET)

    @staticmethod
    def key(dataset_id: str) -> str:
        return f"{PREFIX}dataset:{dataset_id}"

    def create(self, X: np.ndarray, y: np.ndarray, columns: list[str], target: str, *,
               owner: str) -> dict[str, Any]:
        dataset_id = uuid.uuid4().hex
        expires = datetime.now(UTC) + timedelta(seconds=self.ttl_s)
        document = {
            "id": dataset_id, "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
            "columns": columns, "target": target, "created_at": now_iso(),
            "expires_at": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        record: dict[FieldT, EncodableT] = {"owner": owner, "document": dumps(document),
                  "X": np.ascontiguousarray(X, dtype="<f8").tobytes(),
                  "y": np.ascontiguousarray(y, dtype="<f8").tobytes()}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(dataset_id), mapping=record)
        pipe.expire(self.key(dataset_id), self.ttl_s)
        pipe.execute()
        return document

    def _fields(self, dataset_id: str, names: list[str],
                owner: str | None) -> list[bytes | None]:
        """The named fields of the dataset's hash (``owner`` first, then ``names``), or
        ``DatasetNotFound`` when it is unknown, expired or another owner's."""
        stored_owner, *values = cast(list[bytes | None],
                                     self.redis.hmget(self.key(dataset_id), ["owner", *names]))
        if stored_owner is None or None in values or (
                owner is not None and stored_owner.decode() != owner):
            raise DatasetNotFound(dataset_id)
        return values

    def get(self, dataset_id: str, owner: str | None = None) -> dict[str, Any]:
        document, = self._fields(dataset_id, ["document"], owner)
        return loads(as_bytes(document))

    def load(self, dataset_id: str, owner: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        document, X, y = map(as_bytes, self._fields(dataset_id, ["document", "X", "y"], owner))
        n_features = int(loads(document)["n_features"])
        return (np.frombuffer(X, dtype="<f8").reshape(-1, n_features).copy(),
                np.frombuffer(y, dtype="<f8").copy())

    def delete(self, dataset_id: str, owner: str | None = None) -> None:
        """Remove the dataset for good, in one atomic step; ``DatasetInUse`` (naming them)
        while a queued or running job or sweep uses it, ``DatasetNotFound`` if unknown or
        another owner's."""
        reply = self._delete(keys=[self.key(dataset_id), dataset_users_key(dataset_id)],
                             args=[owner or ""])
        outcome, *records = [as_bytes(item).decode() for item in reply]
        if outcome == "missing":
            raise DatasetNotFound(dataset_id)
        if outcome == "in_use":
            users: dict[str, list[str]] = {"job": [], "sweep": []}
            for record in sorted(records):
                kind, _, user_id = record.removeprefix(PREFIX).partition(":")
                users.setdefault(kind, []).append(user_id)
            raise DatasetInUse(dataset_id, users["job"], users["sweep"])

    def loader(self, owner: str | None = None,
               used: set[str] | None = None) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
        """The ``load_dataset`` hook of ``engine.resolve_spec``: an unknown, expired or other
        owner's id is a spec error on ``data.dataset_id``. ``used`` collects the ids loaded
        (the datasets a job or sweep must keep while it is unfinished)."""
        def load_dataset(dataset_id: str) -> tuple[np.ndarray, np.ndarray]:
            try:
                loaded = self.load(dataset_id, owner)
            except DatasetNotFound:
                raise SpecError("data.dataset_id", f"no dataset {dataset_id} (unknown, expired "
                                "or not yours); upload it with POST /v1/datasets") from None
            if used is not None:
                used.add(dataset_id)
            return loaded
        return load_dataset


def stored_dataset_loader(client: redis.Redis,
                          owner: str | None = None) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    """The worker's ``load_dataset`` (the API checked the owner at submit time)."""
    return DatasetStore(client, 0).loader(owner)


__all__ = ["DatasetError", "DatasetInUse", "DatasetNotFound", "DatasetStore", "parse_csv", "parse_json",
           "stored_dataset_loader"]
