"""Result formats by ``Accept`` (docs/spec.md §8.1): JSON, an Apache Arrow IPC stream, CSV.

Every format is written from the same columns, read from the one stored form of a result (raw
rows, ``worker.store.results``): the trajectory as a table ``step, loss, grad_norm, lr, p0 …
p{d-1}`` (``params`` split into one float64 column per parameter), in Arrow with the rest of
the document (the summary) as the schema's metadata under ``descent``. ``fields`` picks the
columns; ``max_points`` and ``every`` have already picked the rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Literal

import numpy as np
from fastapi import Response
from fastapi.responses import StreamingResponse

from api.errors import ApiError
from engine import dumps

JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"
CSV = "text/csv"
OFFERED = (JSON, ARROW, CSV)
Format = Literal["json", "arrow", "csv"]
_BY_TYPE: dict[str, Format] = {JSON: "json", ARROW: "arrow", CSV: "csv"}
VARY = {"Vary": "Accept"}
_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # the end of an Arrow IPC stream
RESULT_FORMATS: dict[str, Any] = {
    ARROW: {"schema": {"type": "string", "format": "binary"}, "example": "(an Arrow IPC stream: "
            "step, loss, grad_norm, lr, p0 … p{d-1}; the summary in the schema metadata)"},
    CSV: {"schema": {"type": "string"}, "example": "step,loss,grad_norm,lr,p0,p1\n"
          "0,24.2,232.0,0.001,-1.2,1.0\n"},
}
NOT_ACCEPTABLE: dict[int | str, dict[str, Any]] = {406: {"description": "The Accept header names no offered format (JSON, "
                        "Arrow, CSV); the answer lists them."}}


def negotiate(accept: str | None) -> Format:
    """The format an ``Accept`` header asks for: the offered type with the highest quality
    (JSON first among equals, and for ``*/*``, ``application/*`` or no header); 406 listing
    the offered types when none is acceptable."""
    if not accept or not accept.strip():
        return "json"
    best: tuple[float, int, Format] | None = None
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        for rank, offered in enumerate(OFFERED):
            kind = offered.partition("/")[0]
            if media in (offered, f"{kind}/*", "*/*") and quality > 0:
                candidate = (quality, -rank, _BY_TYPE[offered])
                best = candidate if best is None or candidate > best else best
    if best is None:
        raise ApiError(406, f"cannot answer in {accept[:200]!r}; this resource is offered as "
                       f"{', '.join(OFFERED)}")
    return best[2]


Pieces = dict[str, list[np.ndarray]]  # each column of a table as a list of row ranges


def trajectory_table(trajectory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trajectory columns as a flat table: ``step``, then ``loss``, ``grad_norm``, ``lr``
    (those present), then ``p0 … p{d-1}`` when ``params`` is present."""
    table: dict[str, np.ndarray] = {name: trajectory[name] for name in ("step", "loss", "grad_norm", "lr")
             if name in trajectory}
    params = trajectory.get("params")
    if params is not None:
        params = np.asarray(params, dtype=np.float64).reshape(len(trajectory["step"]), -1)
        for column in range(params.shape[1]):
            table[f"p{column}"] = params[:, column]
    return table


def arrow_pieces(tables: Iterable[dict[str, np.ndarray]], metadata: dict[str, Any]
                 ) -> Iterator[bytes | memoryview]:
    """One Arrow IPC stream, in pieces: the schema (from the first table; ``metadata`` as JSON
    under the key ``descent``), a record batch a table, the end marker."""
    import pyarrow as pa  # here, not at the top: importing pyarrow takes ~0.2 s

    schema = None
    for table in tables:
        arrays = _arrow_arrays(table)
        if schema is None:
            schema = pa.schema([pa.field(name, array.type) for name, array in zip(table, arrays)],
                               metadata={"descent": dumps(metadata)})
            yield memoryview(schema.serialize())
        yield memoryview(pa.RecordBatch.from_arrays(arrays, schema=schema).serialize())
    yield _EOS


def json_pieces(document: dict[str, Any]) -> Iterator[bytes]:
    """The document's JSON in pieces, the bytes ``dumps`` writes for it with each trajectory
    column whole: ``document["trajectory"]`` holds each column as a list of pieces."""
    trajectory: Pieces = document["trajectory"]
    marker = "descent-trajectory-" + "0" * 32  # a string no summary holds: where it goes
    head, _, tail = dumps({**document, "trajectory": marker}).partition(dumps(marker))
    yield head + b"{"
    for number, (name, pieces) in enumerate(trajectory.items()):
        yield (b"," if number else b"") + dumps(name) + b":["
        written = (_numbers(piece) for piece in pieces if len(piece))
        yield from (b"," + text if index else text for index, text in enumerate(written))
        yield b"]"
    yield b"}" + tail


def _arrow_arrays(table: dict[str, np.ndarray]) -> list[Any]:
    """The table's columns as Arrow arrays (a strided column is copied once, others not)."""
    import pyarrow as pa

    return [pa.array(np.ascontiguousarray(column)) for column in table.values()]


def csv_text(table: dict[str, np.ndarray]) -> bytes:
    """The table as CSV: a header row, then one row a point; floats round-trip exactly
    (shortest form), a non-finite value as ``nan``, ``inf`` or ``-inf``."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    sink = pa.BufferOutputStream()
    pa_csv.write_csv(pa.table(_arrow_arrays(table), names=list(table)), sink,
                     write_options=pa_csv.WriteOptions(quoting_style="none", quoting_header="none"))
    return sink.getvalue().to_pybytes()


def result_response(fmt: Format, document: dict[str, Any]) -> Response:
    """A job's result document in ``fmt``, its trajectory's columns given as lists of pieces
    (``Pieces``): as it is in JSON; in Arrow and CSV, its trajectory as the table, and in Arrow
    the rest of the document as the metadata. A trajectory in more than one piece is sent in
    JSON and Arrow as it is written (chunked), a piece at a time."""
    trajectory: Pieces = document["trajectory"]
    count = len(trajectory["step"])  # pieces
    if fmt == "csv":
        whole = {name: np.concatenate(pieces) for name, pieces in trajectory.items()}
        return _csv_response(trajectory_table(whole))
    if fmt == "json":
        pieces: Iterator[bytes | memoryview] = iter(json_pieces(document))
    else:
        metadata = {key: value for key, value in document.items() if key != "trajectory"}
        tables = (trajectory_table({name: parts[index] for name, parts in trajectory.items()})
                  for index in range(count))
        pieces = arrow_pieces(tables, metadata)
    media_type = JSON if fmt == "json" else ARROW
    if count == 1:
        return Response(b"".join(pieces), media_type=media_type, headers=VARY)
    return StreamingResponse(_sent_as_written(pieces), media_type=media_type, headers=VARY)


def _numbers(column: np.ndarray) -> bytes:
    """The column's JSON without its outer brackets. A column of one repeated number (the
    learning rate of a constant schedule) is that number's text, repeated (the same bits: 0.0
    and -0.0 are written apart)."""
    if column.ndim == 1 and len(column) > 1 and column.dtype.itemsize == 8:
        bits = column.view(np.int64)
        if bits[0] == bits[-1] and np.all(bits == bits[0]):
            return ((dumps(column[:1])[1:-1] + b",") * len(column))[:-1]
    return dumps(np.ascontiguousarray(column))[1:-1]


async def _sent_as_written(pieces: Iterator[bytes | memoryview]
                           ) -> AsyncIterator[bytes | memoryview]:
    """The pieces, each written in the event loop when the last is sent (a few milliseconds
    of work each: no thread hop per piece)."""
    for piece in pieces:
        yield piece


def sweep_result_response(fmt: Format, document: dict[str, Any]) -> Response:
    """A sweep's result document in ``fmt``: in Arrow and CSV, ``sweep_table`` of it, and in
    Arrow the comparison ``table`` and ``summary`` as the metadata."""
    if fmt == "json":
        return Response(dumps(document), media_type=JSON, headers=VARY)
    if fmt == "csv":
        return _csv_response(sweep_table(document))
    metadata = {"table": document["table"], "summary": document["summary"]}
    return Response(b"".join(arrow_pieces([sweep_table(document)], metadata)),
                    media_type=ARROW, headers=VARY)


def _csv_response(table: dict[str, np.ndarray]) -> Response:
    return Response(csv_text(table), media_type=f"{CSV}; charset=utf-8", headers=VARY)


def sweep_table(document: dict[str, Any]) -> dict[str, np.ndarray]:
    """A sweep result as one table. With trajectories (``?runs=``): their points, one row each,
    after a ``run`` column. Without: one row a run, in index order: ``index``, a column per
    swept field (numbers as numbers, anything else as its JSON), ``stop_reason``, ``steps``,
    the final ``loss`` and ``grad_norm`` and ``p0 …`` (NaN where a run has no final point or
    fewer parameters)."""
    runs = document["runs"]
    traced = [run for run in runs if run.get("trajectory") is not None]
    if traced:
        parts = [trajectory_table(run["trajectory"]) for run in traced]
        columns = list(dict.fromkeys(name for part in parts for name in part))
        table = {"run": np.concatenate([np.full(len(part["step"]), run["index"])
                                        for run, part in zip(traced, parts)])}
        for name in columns:
            table[name] = np.concatenate([
                part[name] if name in part else np.full(len(part["step"]), np.nan)
                for part in parts])
        return table
    table = {"index": np.array([run["index"] for run in runs], dtype=np.int64)}
    for field in dict.fromkeys(key for run in runs for key in run["overrides"]):
        values = [run["overrides"].get(field) for run in runs]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        table[field] = (np.array(values, dtype=np.float64) if numeric else
                        np.array([v if isinstance(v, str) else dumps(v).decode()
                                  for v in values], dtype=object))
    table["stop_reason"] = np.array([run["stop_reason"] for run in runs], dtype=object)
    table["steps"] = np.array([run["steps"] for run in runs], dtype=np.int64)
    finals = [run.get("final") or {} for run in runs]
    for name in ("loss", "grad_norm"):
        table[name] = np.array([np.nan if final.get(name) is None else final[name]
                                for final in finals], dtype=np.float64)
    dims = max((len(final.get("params") or ()) for final in finals), default=0)
    params = np.full((len(runs), dims), np.nan)
    for row, final in enumerate(finals):
        values = list(final.get("params") or [])
        params[row, :len(values)] = values
    for column in range(dims):
        table[f"p{column}"] = params[:, column]
    return table
