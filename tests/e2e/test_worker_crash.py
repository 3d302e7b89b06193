"""A whole worker killed outright (main process and pool, SIGKILL): its running job's message
lease (worker.app.LEASE_S) runs out and another worker runs it again to success, within seconds,
not after the job's hard time limit, minutes later."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx

from tests.conftest import start_api, start_worker, stop, wait_for, wait_job


def test_a_job_whose_whole_worker_dies_is_rescued_in_seconds(tmp_path: Any) -> None:
    from worker.embedded import EmbeddedRedis, free_port

    redis_server = EmbeddedRedis(tmp_path / "redis").start()
    port = free_port()
    doomed = start_worker(redis_server.url, concurrency=1, own_process_group=True)
    api = start_api(redis_server.url, port)
    survivor = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=90,
                 message="the API and the first worker")
        with httpx.Client(base_url=url, timeout=30) as http:
            spec = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 1e-4,
                    "max_steps": 8_000_000, "record_every": 1000}
            job_id = http.post("/v1/jobs", json=spec).json()["id"]
            wait_for(lambda: http.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] > 0,
                     timeout=60, message="the job to start")
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait(10)
            killed_at = http.get(f"/v1/jobs/{job_id}").json()
            assert killed_at["status"] == "running"

            survivor = start_worker(redis_server.url, concurrency=1, own_process_group=True)
            job = wait_job(http, job_id, timeout=120)
            assert job["status"] == "succeeded", job
            assert job["attempts"] == 2
            assert job["summary"]["steps"] == 8_000_000
    finally:
        for process in (survivor, api):
            if process is not None:
                stop(process)
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
        redis_server.stop()
