"""The API in-process (``create_app`` + Starlette's TestClient) against the real Redis and the
real Celery worker of the session: every status code, keys, CORS, limits, the catalogue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

import engine
from api.app import create_app
from tests.conftest import wait_for, wait_job
from worker.settings import Settings

SPEC = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 0.05, "max_steps": 400}
LONG = {"function": "rosenbrock", "function_params": {"dims": 50}, "max_steps": 10_000_000,
        "record_every": 1000}


def client_for(redis_url: str, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(redis_url=redis_url, **settings)),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(redis_url: str, worker: Any) -> Iterator[TestClient]:
    with client_for(redis_url) as test_client:
        yield test_client


def test_submit_answers_202_with_location_and_the_result_equals_the_engines(
        client: TestClient) -> None:
    response = client.post("/v1/jobs", json=SPEC)
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["spec"]["optimizer"]["betas"] == [0.9, 0.999]
    done = wait_job(client, job["id"])
    assert done["status"] == "succeeded" and done["started_at"] and done["finished_at"]
    result = client.get(f"/v1/jobs/{job['id']}/result").json()
    expected = engine.loads(engine.dumps(engine.run_spec(SPEC).to_document()))
    assert result.pop("elapsed_s") > 0 and expected.pop("elapsed_s") > 0
    assert result == expected and result["stop_reason"] == "max_steps"


def test_result_shrinks_with_max_points_every_and_fields(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json=SPEC).json()["id"]
    wait_job(client, job_id)
    full = client.get(f"/v1/jobs/{job_id}/result").json()["trajectory"]
    thin = client.get(f"/v1/jobs/{job_id}/result",
                      params={"max_points": 5, "fields": "loss"}).json()["trajectory"]
    assert set(thin) == {"step", "loss"} and len(thin["step"]) == 5
    assert thin["step"][0] == 0 and thin["step"][-1] == 400
    assert thin["loss"] == [full["loss"][s] for s in thin["step"]]
    every = client.get(f"/v1/jobs/{job_id}/result", params={"every": 100}).json()["trajectory"]
    assert every["step"] == [0, 100, 200, 300, 400]


@pytest.mark.parametrize(("body", "fields"), [
    ({"function": "rosenbrock", "bogus": 1}, [["body", "bogus"]]),
    ({"function": "no_such_function"}, [["body", "function"]]),
    ({"function": "sphere", "optimizer": {"name": "adam", "betas": [2, 0.9]}, "max_steps": 0},
     [["body", "max_steps"]]),
    ({"function": "sphere", "max_steps": 10**9}, [["body", "max_steps"]]),
    ({"function": {"expression": "__import__('os')", "variables": ["x"]}},
     [["body", "function", "expression"]]),
])
def test_a_bad_spec_is_a_422_naming_each_field(client: TestClient, body: dict,
                                               fields: list) -> None:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] == "Unprocessable Entity"
    locations = [entry["loc"][:len(fields[0])] for entry in problem["detail"]]
    for field in fields:
        assert field in locations, problem
    assert "Traceback" not in response.text


def test_unknown_ids_are_404_in_one_shape(client: TestClient) -> None:
    for method, path in (("get", "/v1/jobs/nope"), ("get", "/v1/jobs/nope/result"),
                         ("delete", "/v1/jobs/nope"), ("get", "/v1/jobs/nope/events"),
                         ("get", "/v1/functions/nope")):
        response = getattr(client, method)(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert set(response.json()) == {"type", "title", "status", "detail"}


def test_result_is_409_while_running_and_cancel_stops_within_a_second(
        client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json=LONG).json()["id"]
    wait_job(client, job_id, statuses=("running",))
    early = client.get(f"/v1/jobs/{job_id}/result")
    assert early.status_code == 409 and "running" in early.json()["detail"]
    wait_for(lambda: client.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] > 0,
             timeout=10, message="progress")
    cancel = client.delete(f"/v1/jobs/{job_id}")
    assert cancel.status_code == 202 and cancel.json()["cancel_requested"]
    job = wait_job(client, job_id, timeout=3)
    assert job["status"] == "cancelled"
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert result["stop_reason"] == "cancelled" and 0 < result["steps"] < 10_000_000
    assert result["trajectory"]["step"][-1] == result["steps"]
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204  # finished: deleted


def test_result_can_wait_for_the_job_to_finish(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json=SPEC).json()["id"]
    waited = client.get(f"/v1/jobs/{job_id}/result", params={"wait": 30, "max_points": 5})
    assert waited.status_code == 200 and len(waited.json()["trajectory"]["step"]) == 5
    started = time.monotonic()
    assert client.get("/v1/jobs/no-such-job/result", params={"wait": 30}).status_code == 404
    assert time.monotonic() - started < 5


def test_a_wait_ends_at_its_timeout_or_when_the_job_is_cancelled(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json=LONG).json()["id"]
    started = time.monotonic()
    early = client.get(f"/v1/jobs/{job_id}/result", params={"wait": 0.5})
    assert early.status_code == 409 and 0.5 <= time.monotonic() - started < 10
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.get, f"/v1/jobs/{job_id}/result", params={"wait": 60})
        wait_job(client, job_id, statuses=("running",))
        time.sleep(0.3)
        started = time.monotonic()
        client.delete(f"/v1/jobs/{job_id}")
        result = waiting.result(timeout=30)
    assert result.status_code == 200 and result.json()["stop_reason"] == "cancelled"
    assert time.monotonic() - started < 5


def test_idempotency_key(client: TestClient) -> None:
    headers = {"Idempotency-Key": "idem-test-1"}
    first = client.post("/v1/jobs", json=SPEC, headers=headers)
    again = client.post("/v1/jobs", json=SPEC, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/jobs", json={**SPEC, "max_steps": 5}, headers=headers)
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_list_is_newest_first_with_status_filter_and_cursor(client: TestClient) -> None:
    ids = [client.post("/v1/jobs", json={**SPEC, "max_steps": 5}).json()["id"] for _ in range(3)]
    page = client.get("/v1/jobs", params={"limit": 2}).json()
    assert [job["id"] for job in page["jobs"]] == ids[::-1][:2]
    following = client.get("/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert following["jobs"][0]["id"] == ids[0]
    for job_id in ids:
        wait_job(client, job_id)
    succeeded = client.get("/v1/jobs", params={"status": "succeeded", "limit": 500}).json()
    assert {job["status"] for job in succeeded["jobs"]} == {"succeeded"}
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422


def test_result_query_limits_are_422(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json={**SPEC, "max_steps": 5}).json()["id"]
    wait_job(client, job_id)
    for params in ({"max_points": 1}, {"max_points": 10**9}, {"fields": "params,bogus"},
                   {"every": 0}):
        assert client.get(f"/v1/jobs/{job_id}/result", params=params).status_code == 422


def test_a_body_over_the_limit_is_413(redis_url: str) -> None:
    with client_for(redis_url, max_body_bytes=2048) as small:
        response = small.post("/v1/jobs", json={"function": "sphere", "init": [1.0] * 1000})
        assert response.status_code == 413
        assert "2048" in response.json()["detail"]


def test_api_keys_authenticate_and_isolate_jobs(redis_url: str, worker: Any) -> None:
    with client_for(redis_url, api_keys="key-a,key-b") as keyed:
        a = {"Authorization": "Bearer key-a"}
        b = {"Authorization": "Bearer key-b"}
        assert keyed.post("/v1/jobs", json=SPEC).status_code == 401
        assert keyed.get("/v1/functions", headers={"Authorization": "Bearer nope"}
                         ).status_code == 401
        job_id = keyed.post("/v1/jobs", json=SPEC, headers=a).json()["id"]
        assert keyed.get(f"/v1/jobs/{job_id}", headers=a).status_code == 200
        assert keyed.get(f"/v1/jobs/{job_id}", headers=b).status_code == 404
        assert keyed.delete(f"/v1/jobs/{job_id}", headers=b).status_code == 404
        assert job_id not in [j["id"] for j in keyed.get("/v1/jobs", headers=b).json()["jobs"]]
        assert job_id in [j["id"] for j in keyed.get("/v1/jobs", headers=a).json()["jobs"]]
        assert keyed.get("/healthz").status_code == 200


def test_cors_origins_come_from_settings(redis_url: str) -> None:
    with client_for(redis_url, cors_origins="https://plots.example") as cors:
        allowed = cors.options("/v1/jobs", headers={
            "Origin": "https://plots.example", "Access-Control-Request-Method": "POST"})
        assert allowed.headers["access-control-allow-origin"] == "https://plots.example"
        other = cors.get("/v1/functions", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_redis_down_is_a_503_with_a_clear_message() -> None:
    from worker.embedded import free_port

    with client_for(f"redis://127.0.0.1:{free_port()}/0") as down:
        for method, path in (("post", "/v1/jobs"), ("get", "/v1/jobs/x"), ("get", "/v1/jobs"),
                             ("get", "/readyz")):
            response = getattr(down, method)(path, **({"json": SPEC} if method == "post" else {}))
            assert response.status_code == 503, path
            assert "Redis" in response.json()["detail"]


def test_a_job_over_its_time_limit_fails_and_keeps_its_partial_trajectory(
        redis_url: str, worker: Any) -> None:
    with client_for(redis_url, job_time_limit_s=0.5) as limited:
        job_id = limited.post("/v1/jobs", json=LONG).json()["id"]
        job = wait_job(limited, job_id, timeout=20)
        assert job["status"] == "failed" and job["error"]["type"] == "time_limit"
        assert "time limit of 0.5 s" in job["error"]["message"]
        result = limited.get(f"/v1/jobs/{job_id}/result").json()
        assert 0 < result["steps"] < LONG["max_steps"]
        assert len(result["trajectory"]["step"]) > 1


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["workers"] >= 1
    text = client.get("/metrics").text
    for name in ('descent_jobs{status="succeeded"}', "descent_job_run_seconds_bucket",
                 "descent_queue_depth", "descent_workers"):
        assert name in text


def test_catalogue_endpoints(client: TestClient) -> None:
    names = [entry["name"] for entry in client.get("/v1/functions").json()]
    assert "himmelblau" in names and "rosenbrock" in names
    himmelblau = client.get("/v1/functions/himmelblau").json()
    assert sum(p["kind"] == "global" for p in himmelblau["stationary_points"]) == 4
    surface = client.get("/v1/functions/himmelblau/surface",
                         params={"resolution": 7, "x_min": -1, "x_max": 2}).json()
    assert len(surface["x"]) == 7 and surface["x"][0] == -1 and surface["x"][-1] == 2
    assert len(surface["z"]) == len(surface["y"]) == 7
    x, y = surface["x"][3], surface["y"][1]
    assert surface["z"][1][3] == pytest.approx((x * x + y - 11) ** 2 + (x + y * y - 7) ** 2)
    expression = client.post("/v1/surface", json={
        "function": {"expression": "x**2 + 3*y**2", "variables": ["x", "y"]},
        "resolution": 3, "x_min": -1, "x_max": 1, "y_min": -1, "y_max": 1}).json()
    assert np.allclose(expression["z"], [[4, 3, 4], [1, 0, 1], [4, 3, 4]])
    assert client.get("/v1/functions/rastrigin/surface?resolution=4").status_code == 200
    assert client.get("/v1/functions/himmelblau/surface?resolution=1").status_code == 422
    optimizers = {entry["name"] for entry in client.get("/v1/optimizers").json()}
    assert {"sgd", "adam", "rmsprop"} <= optimizers
    assert "cosine" in {entry["name"] for entry in client.get("/v1/schedules").json()}
    analysis = client.post("/v1/analyze", json={
        "function": {"expression": "x**2 - y**2", "variables": ["x", "y"]},
        "bounds": [[-1, 1], [-1, 1]]}).json()
    assert [point["classification"] for point in analysis["points"]] == ["saddle"]


def test_openapi_documents_every_endpoint_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result",
                 "/v1/jobs/{job_id}/events", "/v1/functions", "/v1/functions/{name}/surface",
                 "/v1/surface", "/v1/analyze", "/v1/optimizers", "/v1/schedules", "/healthz",
                 "/readyz", "/metrics"):
        assert path in paths, path
    submit = paths["/v1/jobs"]["post"]
    examples = submit["requestBody"]["content"]["application/json"]["examples"]
    assert {"lbfgs", "newton", "warmup_cosine"} <= set(examples)
    spec_examples = schema["components"]["schemas"]["JobSpec"]["examples"]
    for example in [entry["value"] for entry in examples.values()] + spec_examples:
        engine.resolve_spec(example)  # every example shown is a valid spec
    assert client.get("/docs").status_code == 200
    assert client.get("/").status_code == 200
