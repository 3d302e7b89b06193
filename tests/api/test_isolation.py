"""API keys (SPEC.md §9.3): one key can neither read, list, cancel, stream nor use another key's
jobs, sweeps or datasets (404, never 403), and no key is a 401."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from worker.settings import Settings

OWNER = {"Authorization": "Bearer key-one"}
OTHER = {"Authorization": "Bearer key-two"}
SPEC = {"function": "sphere", "max_steps": 20}


@pytest.fixture(scope="module")
def client(redis_url: str, worker: Any) -> Iterator[TestClient]:
    settings = Settings(redis_url=redis_url, api_keys="key-one,key-two")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def owned(client: TestClient) -> dict[str, str]:
    """One job, one sweep and one dataset made with key-one."""
    job = client.post("/v1/jobs", json=SPEC, headers=OWNER).json()["id"]
    sweep = client.post("/v1/sweeps", json={"base": SPEC, "grid": {"seed": [1, 2]}},
                        headers=OWNER).json()["id"]
    dataset = client.post("/v1/datasets", content=b"x,y\n1,2\n", headers={
        **OWNER, "Content-Type": "text/csv"}).json()["id"]
    return {"job": job, "sweep": sweep, "dataset": dataset}


CALLS = [
    ("GET", "/v1/jobs/{job}"), ("GET", "/v1/jobs/{job}/result"), ("DELETE", "/v1/jobs/{job}"),
    ("GET", "/v1/jobs/{job}/events"),
    ("GET", "/v1/sweeps/{sweep}"), ("GET", "/v1/sweeps/{sweep}/result"),
    ("DELETE", "/v1/sweeps/{sweep}"), ("GET", "/v1/sweeps/{sweep}/events"),
    ("GET", "/v1/datasets/{dataset}"), ("DELETE", "/v1/datasets/{dataset}"),
]


@pytest.mark.parametrize(("method", "path"), CALLS)
def test_another_keys_resource_is_a_404(client: TestClient, owned: dict, method: str,
                                        path: str) -> None:
    response = client.request(method, path.format(**owned), headers=OTHER)
    assert response.status_code == 404, response.text
    assert response.json()["title"] == "Not Found"


@pytest.mark.parametrize(("method", "path"), [
    *CALLS, ("GET", "/v1/jobs"), ("GET", "/v1/sweeps"), ("POST", "/v1/sweeps"),
    ("POST", "/v1/datasets"), ("POST", "/v1/jobs"),
])
def test_no_key_or_a_wrong_key_is_a_401(client: TestClient, owned: dict, method: str,
                                        path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.request(method, path.format(**owned), headers=headers)
        assert response.status_code == 401, (path, response.text)


def test_lists_never_show_another_keys_resources(client: TestClient, owned: dict) -> None:
    other_jobs = [job["id"] for job in client.get("/v1/jobs", headers=OTHER).json()["jobs"]]
    other_sweeps = [s["id"] for s in client.get("/v1/sweeps", headers=OTHER).json()["sweeps"]]
    assert owned["job"] not in other_jobs and owned["sweep"] not in other_sweeps
    mine = [s["id"] for s in client.get("/v1/sweeps", headers=OWNER).json()["sweeps"]]
    assert owned["sweep"] in mine


def test_another_keys_dataset_cannot_be_used_in_a_job_or_sweep(client: TestClient,
                                                             owned: dict) -> None:
    spec = {"function": "linear_regression", "data": {"dataset_id": owned["dataset"]}}
    assert client.post("/v1/jobs", json=spec, headers=OTHER).status_code == 422
    assert client.post("/v1/sweeps", json={"base": spec}, headers=OTHER).status_code == 422
    assert client.post("/v1/jobs", json=spec, headers=OWNER).status_code == 202
    assert client.get(f"/v1/datasets/{owned['dataset']}", headers=OWNER).status_code == 200
