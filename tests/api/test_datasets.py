"""Datasets over HTTP (real Redis and worker): CSV, multipart and JSON uploads, every 422 naming
the row or column, limits, use in a job, unknown ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import engine
from api.app import create_app
from tests.conftest import wait_job
from worker.settings import Settings

CSV = b"a,b,label\n1,2,5.5\n3,4,11.5\n-1,0.5,0\n"


@pytest.fixture(scope="module")
def client(redis_url: str, worker: Any) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, max_dataset_rows=50, max_dataset_bytes=4096,
                        job_ttl_s=3600)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def upload_csv(client: TestClient, data: bytes, **params: str) -> Any:
    return client.post("/v1/datasets", content=data, params=params,
                       headers={"Content-Type": "text/csv"})


def test_csv_upload_answers_201_with_shape_columns_and_expiry(client: TestClient) -> None:
    response = upload_csv(client, CSV)
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert response.headers["location"] == f"/v1/datasets/{dataset['id']}"
    assert (dataset["n_samples"], dataset["n_features"], dataset["columns"]) == (3, 2, ["a", "b"])
    lifetime = (datetime.fromisoformat(dataset["expires_at"])
                - datetime.fromisoformat(dataset["created_at"]))
    assert abs(lifetime.total_seconds() - 3600) < 2
    assert client.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    chosen = upload_csv(client, CSV, target="a").json()
    assert chosen["columns"] == ["b", "label"] and chosen["target"] == "a"


def test_multipart_and_json_uploads(client: TestClient) -> None:
    multipart = client.post("/v1/datasets", files={"file": ("d.csv", CSV, "text/csv")})
    assert multipart.status_code == 201 and multipart.json()["n_samples"] == 3
    as_json = client.post("/v1/datasets", json={"X": [[1, 2], [3, 4]], "y": [0, 1]})
    assert as_json.status_code == 201 and as_json.json()["n_features"] == 2


@pytest.mark.parametrize(("body", "params", "text"), [
    (b"", {}, "empty"),
    (b"a,b,y\n", {}, "no data rows"),
    (b"a,b,y\n1,2,3\n4,5\n", {}, "row 2 has 2 cells"),
    (b"a,b,y\n1,2,3\n4,five,6\n", {}, "row 2, column 'b': 'five' is not a number"),
    (b"a,b,y\n1,nan,3\n", {}, "row 1, column 'b'"),
    (b"a,b,y\n1,2,inf\n", {}, "row 1, column 'y'"),
    (b"a,b,y\n1,2,3\n", {"target": "zzz"}, "no column 'zzz'"),
    (b"a,b,y\n" + b"1,2,3\n" * 51, {}, "51 data rows, over this server's limit of 50"),
    (b"a,b\ry\n1,2,3\n", {}, "the header row is not valid CSV: new-line character seen"),
    (b"a,b,y\n1,2,3\n4\r5,6\n", {}, "row 2 is not valid CSV: new-line character seen"),
])
def test_each_bad_csv_is_a_422_naming_the_row_or_column(client: TestClient, body: bytes,
                                                        params: dict, text: str) -> None:
    response = upload_csv(client, body, **params)
    assert response.status_code == 422 and text in response.text, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("body", "text"), [
    ({"X": [[1, 2], [3]], "y": [0, 1]}, "row 1"),
    ({"X": [[1, "x"]], "y": [0]}, "row 0, column 1"),
    ({"X": [[1, 2]], "y": [0, 1]}, "one per row"),
    ({"X": [[1, 2]]}, "nothing else"),
])
def test_each_bad_json_dataset_is_a_422(client: TestClient, body: dict, text: str) -> None:
    response = client.post("/v1/datasets", json=body)
    assert response.status_code == 422 and text in response.text, response.text


def test_size_and_type_limits(client: TestClient) -> None:
    assert upload_csv(client, b"a,y\n" + b"1.000000000,2\n" * 400).status_code == 413
    response = client.post("/v1/datasets", content=b"x", headers={"Content-Type": "image/png"})
    assert response.status_code == 415


def test_a_job_uses_an_uploaded_dataset_and_gets_the_inline_result(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X @ [1.5, -2.0] + 0.5
    rows = "\n".join(",".join(repr(float(v)) for v in (*x, t)) for x, t in zip(X, y))
    dataset_id = upload_csv(client, f"x1,x2,y\n{rows}\n".encode()).json()["id"]
    spec = {"function": "linear_regression", "optimizer": "adam", "learning_rate": 0.05,
            "max_steps": 200}
    job_id = client.post("/v1/jobs", json={**spec, "data": {"dataset_id": dataset_id}}).json()["id"]
    assert wait_job(client, job_id)["status"] == "succeeded"
    served = client.get(f"/v1/jobs/{job_id}/result").json()
    inline = engine.run_spec({**spec, "data": {"X": X.tolist(), "y": y.tolist()}})
    np.testing.assert_allclose(served["final"]["params"], inline.final["params"], rtol=1e-12)
    sweep = client.post("/v1/sweeps", json={"base": {**spec, "data": {"dataset_id": dataset_id}},
                                             "grid": {"learning_rate": [0.01, 0.05]}})
    assert sweep.status_code == 202


def test_unknown_or_deleted_dataset_ids_are_422_at_submit_and_404_to_read(
        client: TestClient) -> None:
    spec = {"function": "linear_regression", "data": {"dataset_id": "nope"}}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "data", "dataset_id"]
    sweep = client.post("/v1/sweeps", json={"base": spec, "grid": {"seed": [1, 2]}})
    assert sweep.status_code == 422 and "base.data.dataset_id" in sweep.text.replace('","', ".")
    dataset_id = upload_csv(client, CSV).json()["id"]
    assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert client.get(f"/v1/datasets/{dataset_id}").status_code == 404
    assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 404
    labels = upload_csv(client, CSV).json()["id"]
    bad_labels = client.post("/v1/jobs", json={"function": "logistic_regression",
                                               "data": {"dataset_id": labels}})
    assert bad_labels.status_code == 422 and "data" in bad_labels.text
