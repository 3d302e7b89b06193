"""``Idempotency-Key`` over real HTTP (uvicorn in a subprocess, real Redis and worker): many
concurrent submissions with one key make one job and all get it; a submission the broker
refused (503) leaves the key free, so the retry files and runs the job."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.conftest import start_api, start_worker, stop, wait_for, wait_job
from worker.store import owner_of

SPEC = {"function": "booth", "optimizer": "adam", "learning_rate": 0.1, "max_steps": 200}


def test_concurrent_submissions_with_one_key_make_one_job(api_url: str, store: Any) -> None:
    threads = 24
    for round_number in range(4):
        key = f"concurrent-{uuid.uuid4().hex}"
        barrier = threading.Barrier(threads)
        before = store.redis.zcard(store.index_key(owner_of(None)))

        def submit(_: int, key: str = key, barrier: threading.Barrier = barrier) -> Any:
            with httpx.Client(base_url=api_url, timeout=30) as client:  # a connection each
                barrier.wait()
                return client.post("/v1/jobs", json=SPEC, headers={"Idempotency-Key": key})

        with ThreadPoolExecutor(threads) as pool:
            responses = list(pool.map(submit, range(threads)))
        assert {response.status_code for response in responses} == {202}, round_number
        assert len({response.json()["id"] for response in responses}) == 1
        assert store.redis.zcard(store.index_key(owner_of(None))) == before + 1


def test_a_submission_the_broker_refused_can_be_retried_with_its_key(
        tmp_path: Any, redis_url: str, worker: Any) -> None:
    """The job store stays up; only the broker (a Redis of its own here) is down."""
    from worker.embedded import EmbeddedRedis, free_port

    broker = EmbeddedRedis(tmp_path / "broker").start()
    port = free_port()
    environment = {"DESCENT_BROKER_URL": broker.url, "DESCENT_API_KEYS": "broker-test"}
    api = start_api(redis_url, port, **environment)
    broker_worker = None
    headers = {"Authorization": "Bearer broker-test", "Idempotency-Key": "broker-down-retry"}
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=60,
                 message="the API")
        with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
            broker.stop()
            refused = http.post("/v1/jobs", json=SPEC)
            assert refused.status_code == 503, refused.text

            broker = EmbeddedRedis(tmp_path / "broker", port=broker.port).start()
            broker_worker = start_worker(redis_url, 1, DESCENT_BROKER_URL=broker.url,
                                         DESCENT_API_KEYS="broker-test")
            retried = http.post("/v1/jobs", json=SPEC)
            assert retried.status_code == 202, retried.text
            job = wait_job(http, retried.json()["id"], timeout=120)
            assert job["status"] == "succeeded"
            again = http.post("/v1/jobs", json=SPEC)
            assert again.status_code == 202 and again.json()["id"] == job["id"]

            jobs = {entry["id"]: entry for entry in http.get("/v1/jobs").json()["jobs"]}
            assert len(jobs) == 2  # the refused one, failed with the reason, and the retry
            abandoned = next(entry for entry in jobs.values() if entry["id"] != job["id"])
            assert abandoned["status"] == "failed"
            assert abandoned["error"]["type"] == "queue_unreachable"
    finally:
        for process in (broker_worker, api):
            if process is not None:
                stop(process)
        broker.stop()
