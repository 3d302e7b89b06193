"""The whole service over real HTTP: uvicorn in a subprocess, a real Celery worker, a real
Redis. Submit, poll, fetch, cancel, follow events, survive a killed worker process, take a
burst of 200 jobs."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

import engine
from tests.conftest import wait_for, wait_job

SPEC = {"function": "himmelblau", "optimizer": "momentum", "learning_rate": 0.01,
        "max_steps": 1500, "init": [-1, 1]}
LONG = {"function": "rosenbrock", "function_params": {"dims": 50}, "max_steps": 10_000_000,
        "record_every": 1000}


def engine_document(spec: dict) -> dict:
    document = engine.loads(engine.dumps(engine.run_spec(spec).to_document()))
    document.pop("elapsed_s")
    return document


def fetched(http: httpx.Client, job_id: str) -> dict:
    document = http.get(f"/v1/jobs/{job_id}/result").json()
    document.pop("elapsed_s")
    return document


def test_submit_poll_result_equals_the_engine(http: httpx.Client) -> None:
    response = http.post("/v1/jobs", json=SPEC)
    assert response.status_code == 202
    job = wait_job(http, response.json()["id"])
    assert job["status"] == "succeeded"
    assert fetched(http, job["id"]) == engine_document(SPEC)


def test_events_stream_progress_and_status_until_the_end(http: httpx.Client) -> None:
    # A job that runs until it is cancelled, cancelled once the stream has shown it running:
    # what the stream shows does not depend on how fast the job or the machine is.
    job_id = http.post("/v1/jobs", json=LONG).json()["id"]
    events = []
    cancelled = False
    with http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=60) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, engine.loads(line[6:])))
                if name == "progress" and not cancelled:  # progress only comes once running
                    assert http.delete(f"/v1/jobs/{job_id}").status_code == 202
                    cancelled = True
    statuses = [data["status"] for kind, data in events if kind == "status"]
    assert statuses in (["queued", "running", "cancelled"], ["running", "cancelled"])
    progress = [data for kind, data in events if kind == "progress"]
    fractions = [data["fraction"] for data in progress]
    assert fractions == sorted(fractions) and 0 <= fractions[-1] < 1
    assert progress[-1] == events[-1][1]["progress"]  # the last event is the final document


def test_a_cancelled_queued_job_never_runs(http: httpx.Client) -> None:
    blockers = [http.post("/v1/jobs", json=LONG).json()["id"] for _ in range(2)]
    for job_id in blockers:
        wait_job(http, job_id, statuses=("running",))
    queued = http.post("/v1/jobs", json=SPEC).json()["id"]
    cancelled = http.delete(f"/v1/jobs/{queued}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    for job_id in blockers:
        assert http.delete(f"/v1/jobs/{job_id}").status_code == 202
    for job_id in blockers:
        assert wait_job(http, job_id, timeout=5)["status"] == "cancelled"
    job = http.get(f"/v1/jobs/{queued}").json()
    assert job["status"] == "cancelled" and job["started_at"] is None and job["attempts"] == 0
    assert http.get(f"/v1/jobs/{queued}/result").status_code == 409
    assert http.delete(f"/v1/jobs/{queued}").status_code == 204  # finished: deleted
    assert http.get(f"/v1/jobs/{queued}").status_code == 404


def test_a_job_whose_worker_process_is_killed_still_succeeds(http: httpx.Client,
                                                             store: Any) -> None:
    spec = {"function": "rosenbrock", "max_steps": 6_000_000, "record_every": 500}
    job_id = http.post("/v1/jobs", json=spec).json()["id"]
    wait_for(lambda: http.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] > 0,
             timeout=30, message="the job to make progress")
    pid = int(store.redis.hget(store.job_key(job_id), "worker_pid"))
    os.kill(pid, signal.SIGKILL)
    job = wait_job(http, job_id, timeout=90)
    assert job["status"] == "succeeded" and job["attempts"] == 2
    assert fetched(http, job_id) == engine_document(spec)


def test_two_hundred_jobs_at_once_all_succeed(http: httpx.Client) -> None:
    specs = [{"function": "booth", "optimizer": "adam", "learning_rate": 0.1, "max_steps": 200,
              "seed": seed, "init": [seed % 7 - 3, 1]} for seed in range(200)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda spec: http.post("/v1/jobs", json=spec), specs))
    assert {response.status_code for response in responses} == {202}
    ids = [response.json()["id"] for response in responses]

    def all_done() -> bool:
        page = http.get("/v1/jobs", params={"limit": 500}).json()["jobs"]
        status = {job["id"]: job["status"] for job in page}
        return all(status.get(job_id) == "succeeded" for job_id in ids)

    wait_for(all_done, timeout=120, interval=0.5, message="200 jobs")
    last = http.get(f"/v1/jobs/{ids[-1]}/result").json()
    assert last["final"] == engine_document(specs[-1])["final"]
