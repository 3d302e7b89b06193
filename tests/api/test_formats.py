"""Result formats by Accept (docs/spec.md §8.1), over real HTTP from a real worker's result.

Arrow and CSV are written from the same stored rows as JSON: every column holds exactly the
JSON document's numbers (float64 bit for bit: Arrow carries them raw, CSV in their shortest
round-trip form), ``max_points`` / ``every`` / ``fields`` pick the same rows and columns in
every format, and an Accept that names no offered format is a 406 that lists them.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from api.errors import ApiError
from api.formats import ARROW, CSV, json_pieces, negotiate
from engine import dumps, loads, run_spec
from tests.conftest import wait_job

JOB = {"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05, "max_steps": 300,
       "init": [0.5, -1.5]}


@pytest.fixture(scope="module")
def job_id(http: Any) -> str:
    job = http.post("/v1/jobs", json=JOB).json()
    assert wait_job(http, job["id"])["status"] == "succeeded"
    return str(job["id"])


def arrow_table(content: bytes) -> pa.Table:
    return pa.ipc.open_stream(content).read_all()


def csv_columns(content: bytes) -> dict[str, np.ndarray]:
    rows = list(csv.reader(io.StringIO(content.decode())))
    header, values = rows[0], np.array(rows[1:], dtype=float)
    return {name: values[:, column] for column, name in enumerate(header)}


def flat(trajectory: dict[str, Any]) -> dict[str, np.ndarray]:
    """A JSON trajectory as the flat table the other formats carry."""
    table: dict[str, np.ndarray] = {name: np.array(trajectory[name], dtype=float)
             for name in ("step", "loss", "grad_norm", "lr") if name in trajectory}
    if "params" in trajectory:
        params = np.array(trajectory["params"], dtype=float)
        table.update({f"p{i}": params[:, i] for i in range(params.shape[1])})
    return table


@pytest.mark.parametrize("query", [{}, {"max_points": 7}, {"every": 50, "fields": "loss"},
                                   {"fields": "params,lr"}],
                         ids=["whole", "max_points", "every+fields", "fields"])
def test_arrow_and_csv_hold_the_json_numbers_exactly(http: Any, job_id: str,
                                                     query: dict[str, Any]) -> None:
    url = f"/v1/jobs/{job_id}/result"
    document = http.get(url, params=query).json()
    expected = flat(document["trajectory"])

    arrow = http.get(url, params=query, headers={"Accept": ARROW})
    assert arrow.status_code == 200, arrow.text
    assert arrow.headers["content-type"] == ARROW and arrow.headers["vary"] == "Accept"
    table = arrow_table(arrow.content)
    assert table.column_names == list(expected)
    for name, column in expected.items():
        np.testing.assert_array_equal(table.column(name).to_numpy(), column)
    assert table.schema.field("step").type == pa.int64()
    metadata = loads(table.schema.metadata[b"descent"])
    assert "trajectory" not in metadata
    assert metadata == {key: value for key, value in document.items() if key != "trajectory"}

    text = http.get(url, params=query, headers={"Accept": CSV})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    columns = csv_columns(text.content)
    assert list(columns) == list(expected)
    for name, column in expected.items():
        np.testing.assert_array_equal(columns[name], column)


def test_an_accept_with_no_offered_format_is_a_406_listing_them(http: Any, job_id: str) -> None:
    answer = http.get(f"/v1/jobs/{job_id}/result", headers={"Accept": "application/xml"})
    assert answer.status_code == 406
    assert answer.headers["content-type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert all(kind in detail for kind in ("application/json", ARROW, "text/csv"))
    sweep = http.get("/v1/sweeps/no-such-sweep/result", headers={"Accept": "image/png"})
    assert sweep.status_code == 406


@pytest.mark.parametrize(("accept", "chosen"), [
    (None, "json"), ("", "json"), ("*/*", "json"), ("application/*", "json"),
    ("text/*", "csv"), (f"{CSV};q=0.5, {ARROW}", "arrow"), (f"{ARROW};q=0, */*;q=0.1", "json"),
    ("text/html, text/csv;q=0.9", "csv"), (f"{ARROW.upper()}", "arrow"),
])
def test_negotiation_takes_the_best_offered_type(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


@pytest.mark.parametrize("accept", ["image/png", f"{CSV};q=0", "application/xml;q=bad"])
def test_negotiation_refuses_what_is_not_offered(accept: str) -> None:
    with pytest.raises(ApiError) as refused:
        negotiate(accept)
    assert refused.value.status == 406


def test_a_sweep_result_is_a_table_of_runs_or_of_their_points(http: Any) -> None:
    rates = [0.001, 0.01, 0.1]
    sweep = http.post("/v1/sweeps", json={
        "base": {"function": "rosenbrock", "optimizer": "adam", "max_steps": 100},
        "grid": {"learning_rate": rates, "optimizer": ["adam", "sgd"]}}).json()

    def finished() -> bool:
        return http.get(f"/v1/sweeps/{sweep['id']}").json()["status"] == "succeeded"

    from tests.conftest import wait_for
    wait_for(finished, timeout=120, message="the sweep")
    url = f"/v1/sweeps/{sweep['id']}/result"
    document = http.get(url).json()
    runs = sorted(document["runs"], key=lambda run: run["index"])

    table = arrow_table(http.get(url, headers={"Accept": ARROW}).content)
    assert table.column("index").to_pylist() == [run["index"] for run in runs]
    assert table.column("learning_rate").to_pylist() == [
        run["overrides"]["learning_rate"] for run in runs]
    assert table.column("optimizer").to_pylist() == [run["overrides"]["optimizer"] for run in runs]
    assert table.column("loss").to_pylist() == [run["final"]["loss"] for run in runs]
    assert table.column("p1").to_pylist() == [run["final"]["params"][1] for run in runs]
    assert loads(table.schema.metadata[b"descent"])["table"] == document["table"]

    rows = list(csv.DictReader(io.StringIO(http.get(url, headers={"Accept": CSV}).text)))
    assert [row["stop_reason"] for row in rows] == [run["stop_reason"] for run in runs]

    traced = http.get(url, params={"runs": "0,4", "max_points": 5}, headers={"Accept": ARROW})
    points = arrow_table(traced.content)
    assert points.column_names[:2] == ["run", "step"]
    assert points.column("run").to_pylist() == [0] * 5 + [4] * 5
    by_run = {run["index"]: run for run in http.get(
        url, params={"runs": "0,4", "max_points": 5}).json()["runs"]}
    np.testing.assert_array_equal(points.column("loss").to_numpy()[5:],
                                  by_run[4]["trajectory"]["loss"])


def test_a_result_of_many_pieces_is_streamed_with_the_same_numbers(http: Any) -> None:
    """A result longer than one read of the store (``PIECE_BYTES``) is sent as it is
    written, chunked: in JSON the same document the engine gives, in Arrow one record batch a
    piece, every number bit for bit."""
    spec = {"function": "rosenbrock", "optimizer": "sgd", "learning_rate": 1e-4,
            "max_steps": 60_000}
    job = http.post("/v1/jobs", json=spec).json()
    assert wait_job(http, job["id"])["status"] == "succeeded"
    url = f"/v1/jobs/{job['id']}/result"
    answer = http.get(url)
    assert answer.headers.get("transfer-encoding") == "chunked"
    expected = run_spec(spec).trajectory
    trajectory = answer.json()["trajectory"]
    for name, column in expected.items():
        np.testing.assert_array_equal(np.array(trajectory[name], dtype=float), column)
    arrow = http.get(url, headers={"Accept": ARROW})
    batches = pa.ipc.open_stream(arrow.content)
    table = batches.read_all()
    assert len(table.column("step").chunks) > 2
    for name, column in flat(trajectory).items():
        np.testing.assert_array_equal(table.column(name).to_numpy(), column)


@pytest.mark.parametrize("column", [
    np.array([0.0, -0.0, 0.0, -0.0]), np.full(7, 1e-4), np.full(5, np.nan), np.arange(9),
    np.array([1.5, np.inf, -np.inf, np.nan, 2.0]), np.full(4, -0.0)], ids=str)
def test_json_written_in_pieces_is_the_whole_documents_bytes(column: np.ndarray) -> None:
    trajectory = {"step": column, "params": np.column_stack([column, column])}
    whole = {"stop_reason": "max_steps", "trajectory": trajectory, "epoch_loss": None}
    for size in (1, 2, 3, len(column)):
        pieces = {name: [values[start:start + size] for start in range(0, len(values), size)]
                  for name, values in trajectory.items()}
        written = b"".join(json_pieces({**whole, "trajectory": pieces}))
        assert written == dumps(whole)
