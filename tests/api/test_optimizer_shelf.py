"""The optimizers that step differently (docs/spec.md §4.1) through the service, with a real
worker: ``lbfgs`` (several evaluations a step, ``final.function_evaluations``), ``muon`` (weight
matrices only, AdamW on the rest) and ``newton`` (the exact Hessian, ``final.hessian``). Each is
listed with its hyperparameters, runs as a job to the engine's result, sweeps over its own
hyperparameters, and refuses what it cannot do with a 422 naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

import engine
from api.app import create_app
from tests.conftest import wait_job, wait_sweep
from worker.settings import Settings

LBFGS = {"function": "rosenbrock", "max_steps": 20, "learning_rate": 1,
         "optimizer": {"name": "lbfgs", "line_search_fn": "strong_wolfe", "history_size": 10}}
MUON = {"function": "mlp", "function_params": {"hidden": 4},
        "data": {"generator": "moons", "n_samples": 40, "seed": 3},
        "optimizer": {"name": "muon", "adamw_lr": 3e-3}, "learning_rate": 0.02, "max_steps": 30}
NEWTON = {"function": {"expression": "3*x**2 + 2*x*y + y**2 - x", "variables": ["x", "y"]},
          "optimizer": "newton", "init": [-3, 2.5], "max_steps": 5}


@pytest.fixture(scope="module")
def client(redis_url: str, worker: Any) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(redis_url=redis_url)),
                    raise_server_exceptions=False) as test_client:
        yield test_client


def listed(client: TestClient, name: str) -> dict[str, Any]:
    (entry,) = [entry for entry in client.get("/v1/optimizers").json() if entry["name"] == name]
    return entry


def job_result(client: TestClient, spec: dict[str, Any]) -> dict[str, Any]:
    """The job's whole result, once checked equal to the engine's for the same spec."""
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert wait_job(client, job_id)["status"] == "succeeded"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    expected = engine.loads(engine.dumps(engine.run_spec(spec).to_document()))
    assert result.pop("elapsed_s") > 0 and expected.pop("elapsed_s") > 0
    assert result == expected
    return {**result, "id": job_id}


def sweep_runs(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/sweeps", json=body)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    assert wait_sweep(client, sweep_id, timeout=120)["status"] == "succeeded"
    runs: list[dict[str, Any]] = client.get(f"/v1/sweeps/{sweep_id}/result").json()["runs"]
    return runs


def refusal(client: TestClient, body: dict[str, Any], field: str) -> str:
    """The message of the 422's one entry naming ``field``."""
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    (entry,) = [entry for entry in response.json()["detail"] if entry["loc"][-1] == field]
    return str(entry["msg"])


# lbfgs

def test_lbfgs_is_listed_with_a_null_default_and_a_choice(client: TestClient) -> None:
    lbfgs = listed(client, "lbfgs")
    assert lbfgs["default_learning_rate"] == 1.0 and "step(closure)" in lbfgs["description"]
    hyper = {entry["name"]: entry for entry in lbfgs["hyperparameters"]}
    assert list(hyper) == ["max_iter", "max_eval", "tolerance_grad", "tolerance_change",
                           "history_size", "line_search_fn"]
    assert hyper["max_eval"]["default"] is None and hyper["max_eval"]["nullable"]
    assert hyper["line_search_fn"]["type"] == "choice"
    assert hyper["line_search_fn"]["choices"] == ["strong_wolfe"]


def test_an_lbfgs_job_counts_its_evaluations(client: TestClient) -> None:
    result = job_result(client, LBFGS)
    assert result["final"]["function_evaluations"] > result["steps"]


def test_an_lbfgs_sweep_grids_over_the_line_search(client: TestClient) -> None:
    runs = sweep_runs(client, {"base": {**LBFGS, "optimizer": "lbfgs"},
                               "grid": {"optimizer.line_search_fn": [None, "strong_wolfe"],
                                        "learning_rate": [0.01, 1.0]}})
    assert len(runs) == 4
    assert all(run["final"]["function_evaluations"] >= run["steps"] for run in runs)


@pytest.mark.parametrize(("optimizer", "field"), [
    ({"name": "lbfgs", "line_search_fn": "armijo"}, "line_search_fn"),
    ({"name": "lbfgs", "max_eval": 0}, "max_eval"),
])
def test_a_bad_lbfgs_hyperparameter_is_a_422_naming_it(client: TestClient, optimizer: dict,
                                                       field: str) -> None:
    assert refusal(client, {**LBFGS, "optimizer": optimizer}, field)


# muon

def test_muon_is_listed_with_the_adamw_part_named(client: TestClient) -> None:
    muon = listed(client, "muon")
    assert "torch.optim.Muon" in muon["description"] and "AdamW" in muon["description"]
    names = [hyper["name"] for hyper in muon["hyperparameters"]]
    assert names == ["momentum", "nesterov", "weight_decay", "eps", "ns_steps", "adjust_lr_fn",
                     "adamw_lr", "adamw_betas", "adamw_eps", "adamw_weight_decay"]
    (adjust,) = [hyper for hyper in muon["hyperparameters"] if hyper["name"] == "adjust_lr_fn"]
    assert adjust["choices"] == ["original", "match_rms_adamw"]


def test_a_muon_job_equals_the_engines_result(client: TestClient) -> None:
    job_result(client, MUON)


def test_a_muon_sweep_runs_each_of_its_options(client: TestClient) -> None:
    runs = sweep_runs(client, {"base": MUON, "grid": {
        "optimizer.nesterov": [True, False],
        "optimizer.adjust_lr_fn": ["original", "match_rms_adamw"]}})
    assert len({tuple(run["final"]["params"]) for run in runs}) == 4


@pytest.mark.parametrize("body", [
    {"function": "rosenbrock"},
    {"function": "linear_regression", "data": {"generator": "linear", "n_samples": 30}},
])
def test_muon_without_a_weight_matrix_is_a_422_naming_optimizer(client: TestClient,
                                                                body: dict) -> None:
    message = refusal(client, {**body, "optimizer": "muon", "max_steps": 3}, "optimizer")
    assert "orthogonalises 2-D weight matrices" in message


# newton

def test_newton_is_listed_with_its_damping(client: TestClient) -> None:
    newton = listed(client, "newton")
    assert newton["default_learning_rate"] == 1.0
    (damping,) = newton["hyperparameters"]
    assert damping["name"] == "damping" and damping["default"] == 0.0 and damping["minimum"] == 0.0


def test_a_newton_job_lands_in_one_step_and_reports_its_hessians(client: TestClient) -> None:
    result = job_result(client, NEWTON)
    np.testing.assert_allclose(result["trajectory"]["params"][1], [0.25, -0.25], rtol=0,
                               atol=1e-12)
    assert result["final"]["hessian"] == {
        "positive_definite_steps": 5, "indefinite_steps": 0, "singular_steps": 0,
        "first_not_positive_definite": None, "last": "positive_definite"}
    # the Arrow format carries the same summary in its metadata
    arrow = client.get(f"/v1/jobs/{result['id']}/result",
                       headers={"Accept": "application/vnd.apache.arrow.stream"})
    assert arrow.status_code == 200
    table = pa.ipc.open_stream(arrow.content).read_all()
    assert engine.loads(table.schema.metadata[b"descent"])["final"]["hessian"] == \
        result["final"]["hessian"]


def test_a_newton_sweep_over_damping_reports_each_runs_hessian(client: TestClient) -> None:
    undamped, damped = sweep_runs(client, {
        "base": {"function": "saddle", "optimizer": "newton", "init": [1.0, 0.1], "max_steps": 3},
        "grid": {"optimizer.damping": [0.0, 3.0]}})
    # H = diag(2, −2): undamped, the step lands on the saddle; H + 3I = diag(5, 1) runs away
    assert undamped["final"]["params"] == [0.0, 0.0]
    assert undamped["final"]["hessian"]["indefinite_steps"] == 3  # H is the same everywhere
    assert damped["final"]["hessian"]["positive_definite_steps"] == 3
    assert abs(damped["final"]["params"][1]) > 0.1  # |y| grows: away from the saddle


@pytest.mark.parametrize("body", [
    {"function": "softmax_regression", "data": {"generator": "blobs", "n_samples": 30}},
    {"function": "mlp", "data": {"generator": "moons", "n_samples": 30}},
])
def test_newton_without_an_exact_hessian_is_a_422_naming_optimizer(client: TestClient,
                                                                   body: dict) -> None:
    message = refusal(client, {**body, "optimizer": "newton", "max_steps": 3}, "optimizer")
    assert "Hessian" in message


# sparse_adam: torch's, for sparse gradients only

@pytest.mark.parametrize("optimizer", ["sparse_adam", {"name": "sparse_adam"}])
def test_sparse_adam_is_listed_as_not_applicable_and_refused_saying_why(client: TestClient,
                                                                        optimizer: Any) -> None:
    sparse = listed(client, "sparse_adam")
    assert sparse["applicable"] is False and sparse["hyperparameters"] == []
    message = refusal(client, {"function": "sphere", "optimizer": optimizer}, "optimizer")
    assert "not applicable" in message and "dense" in message
