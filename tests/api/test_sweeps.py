"""Sweeps over HTTP against the real Redis and Celery worker: product order, overrides, the cap,
results equal to single jobs, trajectories on request, cancel, events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import engine
from api.app import create_app
from tests.conftest import wait_for, wait_job, wait_sweep
from worker.settings import Settings

BASE = {"function": "rosenbrock", "optimizer": "adam", "max_steps": 300}


@pytest.fixture(scope="module")
def client(redis_url: str, worker: Any) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, max_sweep_runs=500, workers=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_sweep_runs_the_grid_product_in_order_then_the_overrides(client: TestClient) -> None:
    body = {"base": BASE, "grid": {"learning_rate": [0.001, 0.01, 0.1], "seed": [0, 1]},
            "overrides": [{"optimizer": "sgd", "learning_rate": 0.0005}]}
    response = client.post("/v1/sweeps", json=body)
    assert response.status_code == 202, response.text
    sweep = response.json()
    assert response.headers["location"] == f"/v1/sweeps/{sweep['id']}"
    assert sweep["progress"]["runs_total"] == 7
    done = wait_sweep(client, sweep["id"])
    assert done["status"] == "succeeded" and done["progress"]["runs_done"] == 7
    assert done["summary"]["runs"] == 7 and done["summary"]["best"]["index"] in (4, 5)
    result = client.get(f"/v1/sweeps/{sweep['id']}/result").json()
    assert [run["overrides"] for run in result["runs"]] == [
        {"learning_rate": lr, "seed": seed} for lr in (0.001, 0.01, 0.1) for seed in (0, 1)
    ] + [{"optimizer": "sgd", "learning_rate": 0.0005}]
    losses = [run["final"]["loss"] for run in result["runs"]]
    assert result["table"] == sorted(range(7), key=lambda i: losses[i])
    assert "trajectory" not in result["runs"][0]


def test_runs_equal_the_same_specs_submitted_as_jobs_with_trajectories_on_request(
        client: TestClient) -> None:
    learning_rates = [0.002, 0.02, 0.2, 0.05]
    body = {"base": BASE, "grid": {"learning_rate": learning_rates}}
    sweep_id = client.post("/v1/sweeps", json=body).json()["id"]
    wait_sweep(client, sweep_id)
    result = client.get(f"/v1/sweeps/{sweep_id}/result",
                        params={"runs": "0,2", "max_points": 11}).json()
    assert "trajectory" in result["runs"][0] and "trajectory" not in result["runs"][1]
    for index in (0, 2):
        spec = {**BASE, "learning_rate": learning_rates[index]}
        job_id = client.post("/v1/jobs", json=spec).json()["id"]
        wait_job(client, job_id)
        job = client.get(f"/v1/jobs/{job_id}/result", params={"max_points": 11}).json()
        run = result["runs"][index]
        np.testing.assert_allclose(run["final"]["params"], job["final"]["params"], rtol=1e-12)
        assert run["final"]["loss"] == pytest.approx(job["final"]["loss"], rel=1e-12)
        assert run["trajectory"]["step"] == job["trajectory"]["step"]
        np.testing.assert_allclose(run["trajectory"]["loss"], job["trajectory"]["loss"],
                                   rtol=1e-12)


@pytest.mark.parametrize(("body", "status", "text"), [
    ({"base": BASE, "grid": {"learning_rate": [0.1] * 30, "seed": list(range(20))}}, 422,
     "600 runs, over this server's cap of 500"),
    ({"base": BASE, "grid": {"learning_rate": [0.1, -2]}}, 422, "learning_rate[1]"),
    ({"base": {**BASE, "max_steps": 10**12}, "grid": {"seed": [1]}}, 422, "max_steps"),
    ({"base": BASE, "grid": {"learning_rate": 0.1}}, 422, "grid"),
])
def test_a_bad_sweep_is_refused_before_anything_is_queued(client: TestClient, body: dict,
                                                           status: int, text: str) -> None:
    response = client.post("/v1/sweeps", json=body)
    assert response.status_code == status and text in response.text, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_result_is_409_while_running_and_cancel_keeps_partial_results(client: TestClient) -> None:
    body = {"base": {"function": "rosenbrock", "function_params": {"dims": 20},
                     "max_steps": 10_000_000, "record_every": 10_000},
            "grid": {"learning_rate": [1e-4, 2e-4]}}
    sweep_id = client.post("/v1/sweeps", json=body).json()["id"]
    wait_for(lambda: client.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "running",
             message="the sweep to start")
    assert client.get(f"/v1/sweeps/{sweep_id}/result").status_code == 409
    cancelled = client.delete(f"/v1/sweeps/{sweep_id}")
    assert cancelled.status_code == 202 and cancelled.json()["cancel_requested"]
    done = wait_sweep(client, sweep_id, timeout=10)
    assert done["status"] == "cancelled"
    result = client.get(f"/v1/sweeps/{sweep_id}/result", params={"runs": "1"}).json()
    assert {run["stop_reason"] for run in result["runs"]} == {"cancelled"}
    assert result["runs"][1]["steps"] > 0 and len(result["runs"][1]["trajectory"]["step"]) >= 2
    assert client.delete(f"/v1/sweeps/{sweep_id}").status_code == 204  # finished: deleted


def test_events_stream_progress_and_the_final_status(client: TestClient) -> None:
    sweep_id = client.post("/v1/sweeps", json={"base": BASE, "grid": {"seed": [0, 1]}}).json()["id"]
    with client.stream("GET", f"/v1/sweeps/{sweep_id}/events") as stream:
        text = "".join(stream.iter_text())
    assert "event: status" in text and '"status":"succeeded"' in text.replace(" ", "")


def test_unknown_sweeps_and_bad_queries(client: TestClient) -> None:
    for path in ("/v1/sweeps/nope", "/v1/sweeps/nope/result", "/v1/sweeps/nope/events"):
        assert client.get(path).status_code == 404
    assert client.delete("/v1/sweeps/nope").status_code == 404
    sweep_id = client.post("/v1/sweeps", json={"base": BASE}).json()["id"]
    wait_sweep(client, sweep_id)
    for query in ({"runs": "0,9"}, {"runs": "x"}, {"max_points": 1}, {"max_points": 10**9}):
        assert client.get(f"/v1/sweeps/{sweep_id}/result", params=query).status_code == 422


def test_engine_result_matches_the_local_sweep(client: TestClient) -> None:
    body = {"base": BASE, "grid": {"optimizer": ["adam", "rmsprop"], "learning_rate": [0.01, 0.1]}}
    sweep_id = client.post("/v1/sweeps", json=body).json()["id"]
    wait_sweep(client, sweep_id)
    served = client.get(f"/v1/sweeps/{sweep_id}/result").json()
    local = engine.loads(engine.dumps(engine.sweep.run_sweep_locally(body)))
    assert served["table"] == local["table"]
    assert [run["final"] for run in served["runs"]] == [run["final"] for run in local["runs"]]


def test_best_by_gives_each_groups_best_run_never_a_diverged_one(client: TestClient) -> None:
    """docs/spec.md §9.1.1: ``best_by`` adds the best run of each group; the served result
    equals the local sweep's; a rate that diverges is never best; a non-grid key is a 422."""
    rates = [1e-4, 1e-3, 1e-2, 10.0]  # 10 diverges for gd on rosenbrock
    body = {"base": {**BASE, "max_steps": 200}, "best_by": ["optimizer"],
            "grid": {"optimizer": ["gd", "adam"], "learning_rate": rates}}
    sweep_id = client.post("/v1/sweeps", json=body).json()["id"]
    wait_sweep(client, sweep_id)
    served = client.get(f"/v1/sweeps/{sweep_id}/result").json()
    local = engine.loads(engine.dumps(engine.sweep.run_sweep_locally(body)))
    assert served["best"] == local["best"]
    runs = {run["index"]: run for run in served["runs"]}
    assert [entry["key"] for entry in served["best"]] == [{"optimizer": "gd"},
                                                           {"optimizer": "adam"}]
    for entry in served["best"]:
        group = [run for run in runs.values()
                 if run["overrides"]["optimizer"] == entry["key"]["optimizer"]
                 and run["stop_reason"] != "diverged"]
        best = min(group, key=lambda run: run["final"]["loss"])
        assert entry["run"] == best["index"]
        assert entry["learning_rate"] == best["overrides"]["learning_rate"]
        assert entry["final_loss"] == best["final"]["loss"]
    assert any(run["stop_reason"] == "diverged" for run in runs.values())
    refused = client.post("/v1/sweeps", json={**body, "best_by": ["seed"]})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "best_by"


HALVING_RATES = [1e-4, 1.5e-4, 2.2e-4, 3.3e-4, 5e-4, 7.5e-4, 1.1e-3, 1.6e-3, 2e-3]
HALVING_BODY: dict[str, Any] = {
    "base": {"function": "rosenbrock", "max_steps": 270},  # no run diverges or converges
    "grid": {"optimizer": ["gd", "adam"], "learning_rate": HALVING_RATES},
    "best_by": ["optimizer"], "search": {"method": "halving", "eta": 3, "min_steps": 30}}


def test_a_halving_sweep_prunes_in_the_service_as_the_rule_says(client: TestClient) -> None:
    """docs/spec.md §9.1.1 end to end: each optimizer's 9 rates run 30 steps, its best 3 go on
    to 90, its best one to 270; the others stop ``pruned`` with the result of their job at that
    step; the survivors equal the same specs submitted as jobs; the summary counts the steps."""
    response = client.post("/v1/sweeps", json=HALVING_BODY)
    assert response.status_code == 202, response.text
    done = wait_sweep(client, response.json()["id"])
    assert done["status"] == "succeeded" and done["tasks"] == 2  # one task per best_by group
    per_group = 9 * 30 + 3 * 60 + 1 * 180
    assert done["summary"]["search"] == {
        "method": "halving", "eta": 3, "min_steps": 30, "rungs": [30, 90, 270],
        "run_steps": 2 * per_group, "full_grid_run_steps": 18 * 270,
        "run_steps_fraction": round(2 * per_group / (18 * 270), 4)}
    served = client.get(f"/v1/sweeps/{done['id']}/result",
                        params={"runs": ",".join(map(str, range(18)))}).json()
    local = engine.loads(engine.dumps(engine.sweep.run_sweep_locally(HALVING_BODY)))
    assert served["table"] == local["table"] and served["best"] == local["best"]
    assert served["summary"] == local["summary"] == done["summary"]
    reasons = [(run["stop_reason"], run["steps"]) for run in served["runs"]]
    assert sorted(reasons) == sorted([("max_steps", 270)] * 2 + [("pruned", 90)] * 4
                                     + [("pruned", 30)] * 12)
    for run in served["runs"]:
        spec = {**HALVING_BODY["base"], **run["overrides"]}
        alone = engine.run_spec(spec)
        steps = run["steps"]
        assert run["final"]["loss"] == pytest.approx(alone.trajectory["loss"][steps], rel=1e-12)
        np.testing.assert_allclose(run["trajectory"]["loss"], alone.trajectory["loss"][:steps + 1],
                                   rtol=1e-12)
        if run["stop_reason"] == "pruned":
            continue
        job_id = client.post("/v1/jobs", json=spec).json()["id"]
        wait_job(client, job_id)
        job = client.get(f"/v1/jobs/{job_id}/result").json()
        np.testing.assert_allclose(run["final"]["params"], job["final"]["params"], rtol=1e-12)
        np.testing.assert_allclose(run["trajectory"]["params"], job["trajectory"]["params"],
                                   rtol=1e-12)
        assert run["index"] in {entry["run"] for entry in served["best"]}


@pytest.mark.parametrize(("search", "grid", "loc"), [
    ({"method": "random", "min_steps": 30}, None, ["body", "search", "method"]),
    ({"method": "halving", "eta": 1, "min_steps": 30}, None, ["body", "search", "eta"]),
    ({"method": "halving", "eta": 2.5, "min_steps": 30}, None, ["body", "search", "eta"]),
    ({"method": "halving", "min_steps": 0}, None, ["body", "search", "min_steps"]),
    ({"method": "halving", "min_steps": 271}, None, ["body", "search", "min_steps"]),
    ({"method": "halving", "min_steps": 30, "budget": 1}, None, ["body", "search", "budget"]),
    ({"method": "halving", "min_steps": 30}, {"max_steps": [100, 300]},
     ["body", "grid", "max_steps"]),
])
def test_a_bad_search_is_one_422_entry_naming_the_field(
        client: TestClient, search: dict[str, Any], grid: dict[str, Any] | None,
        loc: list[str]) -> None:
    body = {**HALVING_BODY, "search": search,
            "grid": {**HALVING_BODY["grid"], **(grid or {})}}
    response = client.post("/v1/sweeps", json=body)
    assert response.status_code == 422, response.text
    (entry,) = response.json()["detail"]
    assert entry["loc"] == loc, entry


def test_the_openapi_document_types_search_and_the_halving_summary(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    search = schemas["SweepRequest"]["properties"]["search"]
    assert {"$ref": "#/components/schemas/HalvingSearch"} in search["anyOf"]
    halving = schemas["HalvingSearch"]
    assert halving["properties"]["eta"]["minimum"] == 2
    assert halving["properties"]["min_steps"]["minimum"] == 1
    assert set(halving["required"]) == {"method", "min_steps"}
    assert "pruned" in str(schemas["SweepRun"]["properties"]["stop_reason"])
    assert "run_steps_fraction" in schemas["HalvingSummary"]["properties"]
