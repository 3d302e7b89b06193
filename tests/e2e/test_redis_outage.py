"""Redis goes away and comes back: the API answers 503 meanwhile and resumes by itself; a worker
started before Redis waits for it and connects."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import start_api, start_worker, stop, wait_for, wait_job

SPEC = {"function": "booth", "optimizer": "adam", "learning_rate": 0.1, "max_steps": 200}


def test_service_survives_a_redis_outage(tmp_path: Any) -> None:
    from worker.embedded import EmbeddedRedis, free_port

    redis_port, api_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    worker = start_worker(redis_url, concurrency=1)  # before Redis exists
    api = start_api(redis_url, api_port)
    server = None
    try:
        url = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, timeout=60,
                 message="the API")
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.post("/v1/jobs", json=SPEC).status_code == 503

            server = EmbeddedRedis(tmp_path / "redis", port=redis_port).start()
            wait_for(lambda: http.get("/readyz").status_code == 200, timeout=90,
                     message="the waiting worker to connect")
            first = http.post("/v1/jobs", json=SPEC).json()["id"]
            assert wait_job(http, first, timeout=60)["status"] == "succeeded"

            server.stop()
            down = http.get(f"/v1/jobs/{first}")
            assert down.status_code == 503 and "Redis" in down.json()["detail"]

            server = EmbeddedRedis(tmp_path / "redis", port=redis_port).start()
            wait_for(lambda: http.get("/readyz").status_code == 200, timeout=90,
                     message="the service to resume")
            assert http.get(f"/v1/jobs/{first}").json()["status"] == "succeeded"  # kept (AOF)
            second = wait_for(lambda: http.post("/v1/jobs", json=SPEC).json()["id"], timeout=30,
                              message="a job accepted again")
            assert wait_job(http, second, timeout=60)["status"] == "succeeded"
    finally:
        stop(api)
        stop(worker)
        if server is not None:
            server.stop()
