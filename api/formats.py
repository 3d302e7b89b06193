"""Result formats by ``Accept`` (docs/spec.md §8.1): JSON, an Apache Arrow IPC stream, CSV.

Every format is written from the same columns, read from the one stored form of a result (raw
rows, ``worker.store.results``): the trajectory as a table ``step, loss, grad_norm, lr, p0 …
p{d-1}`` (``params`` split into one float64 column per parameter), in Arrow with the rest of
the document (the summary) as the schema's metadata under ``descent``. ``fields`` picks the
columns; ``max_points`` and ``every`` have already picked the rows.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from fastapi import Response

from api.errors import ApiError
from engine import dumps

JSON = "application/json"
ARROW = "application/vnd.apache.arrow.stream"
CSV = "text/csv"
OFFERED = (JSON, ARROW, CSV)
Format = Literal["json", "arrow", "csv"]
_BY_TYPE: dict[str, Format] = {JSON: "json", ARROW: "arrow", CSV: "csv"}
VARY = {"Vary": "Accept"}
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


def arrow_stream(table: dict[str, np.ndarray], metadata: dict[str, Any]) -> memoryview:
    """One Arrow IPC stream: the table, and ``metadata`` as JSON under the schema key
    ``descent``. Written once into a buffer of its exact size (a dry run counts it), and
    handed out without a copy."""
    import pyarrow as pa  # here, not at the top: importing pyarrow takes ~0.2 s

    arrays = _arrow_arrays(table)
    schema = pa.schema([pa.field(name, array.type) for name, array in zip(table, arrays)],
                       metadata={"descent": dumps(metadata)})
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)

    def write(sink: Any) -> None:
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_batch(batch)

    counter = pa.MockOutputStream()
    write(counter)
    buffer = pa.allocate_buffer(counter.size())
    write(pa.FixedSizeBufferWriter(buffer))
    return memoryview(buffer)


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
    """A job's result document in ``fmt``: as it is in JSON; in Arrow and CSV, its trajectory
    as the table, and in Arrow the rest of the document as the metadata."""
    if fmt == "json":
        return Response(dumps(document), media_type=JSON, headers=VARY)
    metadata = {key: value for key, value in document.items() if key != "trajectory"}
    return _table_response(fmt, trajectory_table(document["trajectory"]), metadata)


def sweep_result_response(fmt: Format, document: dict[str, Any]) -> Response:
    """A sweep's result document in ``fmt``: in Arrow and CSV, ``sweep_table`` of it, and in
    Arrow the comparison ``table`` and ``summary`` as the metadata."""
    if fmt == "json":
        return Response(dumps(document), media_type=JSON, headers=VARY)
    metadata = {"table": document["table"], "summary": document["summary"]}
    return _table_response(fmt, sweep_table(document), metadata)


def _table_response(fmt: Format, table: dict[str, np.ndarray], metadata: dict[str, Any]
                    ) -> Response:
    if fmt == "csv":
        return Response(csv_text(table), media_type=f"{CSV}; charset=utf-8", headers=VARY)
    return Response(arrow_stream(table, metadata), media_type=ARROW, headers=VARY)


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
