"""POST /v1/samples (the page's data view): the rows a job with this model and data trains on,
the generator's draw or an uploaded data set, thinned evenly when large; bad data is a 422
naming the field, as for a job."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.data import generate_dataset

MOONS = {"generator": "moons", "n_samples": 200, "noise": 0.1, "seed": 3}


def test_a_generated_data_set_comes_back_as_the_engine_draws_it(http: Any) -> None:
    answer = http.post("/v1/samples", json={"function": "mlp", "data": MOONS,
                                            "function_params": {"loss": "cross_entropy",
                                                                "hidden": 4}})
    assert answer.status_code == 200, answer.text
    document = answer.json()
    X, y = generate_dataset("moons", 200, None, 0.1, 3)
    np.testing.assert_array_equal(np.array(document["X"]), X)
    np.testing.assert_array_equal(np.array(document["y"]), y)
    assert document["n_samples"] == 200 and document["n_features"] == 2
    # W1 (2×4), b1 (4), W2 (4×2), b2 (2)
    assert document["parameters"] == 8 + 4 + 8 + 2
    assert document["parameter_names"][:2] == ["W1[1,1]", "W1[1,2]"]


def test_an_uploaded_data_set_is_read_back_and_large_ones_are_thinned(http: Any) -> None:
    rows = "\n".join(f"{i},{2 * i + 1}" for i in range(50))
    upload = http.post("/v1/datasets", content=f"x,y\n{rows}\n",
                       headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201, upload.text
    body = {"function": "linear_regression", "data": {"dataset_id": upload.json()["id"]},
            "max_samples": 10}
    document = http.post("/v1/samples", json=body).json()
    assert document["n_samples"] == 50 and len(document["X"]) == 10
    assert document["X"][0] == [0.0] and document["X"][-1] == [49.0]  # first and last kept
    assert all(target == 2 * x + 1 for (x,), target in zip(document["X"], document["y"]))
    assert document["parameter_names"] == ["w", "b"]


def test_bad_data_is_a_422_naming_the_field(http: Any) -> None:
    answer = http.post("/v1/samples", json={"function": "mlp", "data": {
        "generator": "moons", "n_samples": 0}})
    assert answer.status_code == 422
    assert [entry["loc"] for entry in answer.json()["detail"]] == [["body", "data", "n_samples"]]
    answer = http.post("/v1/samples", json={"function": "rosenbrock", "data": MOONS})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "function"]
    answer = http.post("/v1/samples", json={"function": "softmax_regression",
                                            "data": {"dataset_id": "no-such-id"}})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "data", "dataset_id"]
