"""Deletion (docs/spec.md §9.4) over real HTTP (uvicorn in a subprocess, the real worker and
Redis, API keys on): a finished job or sweep is removed for good with everything it stored; an
unfinished one is cancelled instead; a dataset in use by a queued or running job or sweep is
kept (409 naming them); only the owner can delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import start_api, stop, wait_for, wait_job, wait_sweep
from worker.store import owner_of
from worker.sweep_store import PARTS, SweepStore

OWNER_KEY, OTHER_KEY = "delete-one", "delete-two"
OWNER = {"Authorization": f"Bearer {OWNER_KEY}"}
OTHER = {"Authorization": f"Bearer {OTHER_KEY}"}
SPEC = {"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05, "max_steps": 300}
LONG = {"function": "rosenbrock", "max_steps": 10_000_000, "record_every": 10_000}
CSV = b"a,b,y\n1,2,5.5\n3,4,11.5\n-1,0.5,0\n"


@pytest.fixture(scope="module")
def http(redis_url: str, worker: Any) -> Iterator[httpx.Client]:
    from worker.embedded import free_port

    port = free_port()
    process = start_api(redis_url, port, DESCENT_API_KEYS=f"{OWNER_KEY},{OTHER_KEY}")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=60,
                 message="the API")
        with httpx.Client(base_url=url, timeout=30, headers=OWNER) as client:
            yield client
    finally:
        stop(process)


def listed_jobs(http: httpx.Client) -> list[str]:
    return [job["id"] for job in http.get("/v1/jobs", params={"limit": 500}).json()["jobs"]]


def test_a_finished_job_is_deleted_with_its_result_for_good(http: httpx.Client,
                                                            store: Any) -> None:
    job_id = http.post("/v1/jobs", json=SPEC).json()["id"]
    assert wait_job(http, job_id, headers=OWNER)["status"] == "succeeded"
    assert http.get(f"/v1/jobs/{job_id}/result").status_code == 200
    assert job_id in listed_jobs(http)

    assert http.delete(f"/v1/jobs/{job_id}", headers=OTHER).status_code == 404  # not theirs
    assert http.get(f"/v1/jobs/{job_id}").status_code == 200
    deleted = http.delete(f"/v1/jobs/{job_id}")
    assert deleted.status_code == 204 and deleted.content == b""

    assert http.get(f"/v1/jobs/{job_id}").status_code == 404
    assert http.get(f"/v1/jobs/{job_id}/result").status_code == 404
    assert job_id not in listed_jobs(http)
    assert store.redis.zscore(store.index_key(owner_of(OWNER_KEY)), job_id) is None
    for key in (store.job_key(job_id), store.result_key(job_id)):
        assert not store.redis.exists(key), key
    assert http.delete(f"/v1/jobs/{job_id}").status_code == 404


def test_deleting_an_unfinished_job_cancels_it_and_then_deletes_it(http: httpx.Client) -> None:
    job_id = http.post("/v1/jobs", json=LONG).json()["id"]
    wait_job(http, job_id, statuses=("running",), headers=OWNER)
    cancelling = http.delete(f"/v1/jobs/{job_id}")
    assert cancelling.status_code == 202 and cancelling.json()["cancel_requested"]
    assert wait_job(http, job_id, timeout=10, headers=OWNER)["status"] == "cancelled"
    assert http.get(f"/v1/jobs/{job_id}/result").status_code == 200  # the partial trajectory
    assert http.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert http.get(f"/v1/jobs/{job_id}").status_code == 404


def test_a_deleted_jobs_idempotency_key_makes_a_new_job(http: httpx.Client) -> None:
    headers = {**OWNER, "Idempotency-Key": "delete-then-again"}
    first = http.post("/v1/jobs", json=SPEC, headers=headers).json()["id"]
    wait_job(http, first, headers=OWNER)
    assert http.delete(f"/v1/jobs/{first}").status_code == 204
    again = http.post("/v1/jobs", json=SPEC, headers=headers)
    assert again.status_code == 202 and again.json()["id"] != first
    assert wait_job(http, again.json()["id"], headers=OWNER)["status"] == "succeeded"


def test_a_finished_sweep_is_deleted_with_every_runs_result(http: httpx.Client,
                                                            store: Any) -> None:
    body = {"base": SPEC, "grid": {"learning_rate": [0.01, 0.05, 0.1]}}
    sweep_id = http.post("/v1/sweeps", json=body).json()["id"]
    assert wait_sweep(http, sweep_id)["status"] == "succeeded"
    assert http.get(f"/v1/sweeps/{sweep_id}/result", params={"runs": "0"}).status_code == 200
    sweeps = SweepStore(store.redis, 3600)
    stored = [sweeps.key(sweep_id, part) for part in ("sweep_runs", "sweep_traj")]
    assert all(store.redis.exists(key) for key in stored)

    assert http.delete(f"/v1/sweeps/{sweep_id}", headers=OTHER).status_code == 404
    assert http.delete(f"/v1/sweeps/{sweep_id}").status_code == 204
    assert http.get(f"/v1/sweeps/{sweep_id}").status_code == 404
    assert http.get(f"/v1/sweeps/{sweep_id}/result").status_code == 404
    mine = [sweep["id"] for sweep in http.get("/v1/sweeps").json()["sweeps"]]
    assert sweep_id not in mine
    for key in (sweeps.key(sweep_id), *(sweeps.key(sweep_id, part) for part in PARTS)):
        assert not store.redis.exists(key), key
    assert http.delete(f"/v1/sweeps/{sweep_id}").status_code == 404


def test_deleting_a_running_sweep_cancels_it_first(http: httpx.Client) -> None:
    sweep_id = http.post("/v1/sweeps", json={"base": LONG, "grid": {
        "learning_rate": [1e-4, 2e-4]}}).json()["id"]
    wait_sweep(http, sweep_id, statuses=("running",))
    assert http.delete(f"/v1/sweeps/{sweep_id}").status_code == 202
    assert wait_sweep(http, sweep_id)["status"] == "cancelled"
    assert http.delete(f"/v1/sweeps/{sweep_id}").status_code == 204


def test_a_dataset_in_use_is_kept_with_a_409_naming_the_jobs(http: httpx.Client) -> None:
    def upload() -> str:
        response = http.post("/v1/datasets", content=CSV,
                             headers={**OWNER, "Content-Type": "text/csv"})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    dataset_id = upload()
    uses = {"function": "linear_regression", "data": {"dataset_id": dataset_id},
            "max_steps": 10_000_000, "record_every": 10_000}
    job_id = http.post("/v1/jobs", json=uses).json()["id"]
    sweep_id = http.post("/v1/sweeps", json={"base": uses, "grid": {
        "learning_rate": [1e-4, 2e-4]}}).json()["id"]

    assert http.delete(f"/v1/datasets/{dataset_id}", headers=OTHER).status_code == 404
    refused = http.delete(f"/v1/datasets/{dataset_id}")
    assert refused.status_code == 409, refused.text
    assert job_id in refused.json()["detail"] and sweep_id in refused.json()["detail"]
    assert http.get(f"/v1/datasets/{dataset_id}").status_code == 200

    http.delete(f"/v1/jobs/{job_id}")  # cancel the job: the sweep still holds the dataset
    wait_job(http, job_id, headers=OWNER)
    still = http.delete(f"/v1/datasets/{dataset_id}")
    assert still.status_code == 409 and job_id not in still.json()["detail"]
    assert sweep_id in still.json()["detail"]
    http.delete(f"/v1/sweeps/{sweep_id}")
    wait_sweep(http, sweep_id)

    assert http.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert http.get(f"/v1/datasets/{dataset_id}").status_code == 404
    assert http.delete(f"/v1/datasets/{dataset_id}").status_code == 404
    # a job filed afterwards cannot name it
    assert http.post("/v1/jobs", json=uses).status_code == 422

    unused = upload()  # a dataset nothing used goes at once
    assert http.delete(f"/v1/datasets/{unused}").status_code == 204
