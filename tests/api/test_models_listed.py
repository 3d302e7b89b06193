"""The catalogue lists the dataset models (docs/spec.md §3.3): ``GET /v1/functions`` and
``descent functions`` show each with its parameter layout, labels and generators, and the
layout's example names are exactly the parameters a real run of that model has."""

from __future__ import annotations

import json
from typing import Any

import pytest

import engine
from tests.cli.commands import descent

GENERATOR = {"linear_regression": "linear", "logistic_regression": "logistic",
             "softmax_regression": "blobs", "mlp": "moons"}


def test_the_list_has_the_functions_then_the_models(http: Any) -> None:
    listed = http.get("/v1/functions").json()
    kinds = [entry["kind"] for entry in listed]
    assert kinds == sorted(kinds, key=["function", "model"].index)
    models = {entry["name"]: entry for entry in listed if entry["kind"] == "model"}
    assert set(models) == set(GENERATOR)
    for name, model in models.items():
        assert model == http.get(f"/v1/functions/{name}").json()
        assert model["layout"] and model["labels"] and model["loss"]
        assert GENERATOR[name] in model["generators"]


@pytest.mark.parametrize("name", sorted(GENERATOR))
def test_the_example_names_are_the_parameters_of_a_real_run(http: Any, name: str) -> None:
    model = http.get(f"/v1/functions/{name}").json()
    example = model["example"]
    result = engine.run_spec({
        "function": name, "function_params": example["function_params"],
        "data": {"generator": GENERATOR[name], "n_samples": 30,
                 "n_features": example["n_features"]},
        "max_steps": 3})
    assert len(result.final["params"]) == len(example["parameters"]) > 0
    assert len(set(example["parameters"])) == len(example["parameters"])


def test_descent_functions_prints_the_models() -> None:
    table = descent("functions")
    assert table.returncode == 0, table.stderr
    models = table.stdout.split("model (needs data)")[1]
    for name in GENERATOR:
        assert f"\n{name} " in models
    assert "e.g. 2 features (hidden=2, loss=cross_entropy, classes=2): W1[1,1]" in models
    assert "generators blobs, moons, logistic" in models
    listed = json.loads(descent("functions", "--json").stdout)
    assert [entry["name"] for entry in listed if entry["kind"] == "model"] == list(GENERATOR)
