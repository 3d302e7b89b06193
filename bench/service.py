"""Service speed figures (issue 3), measured side by side on one Redis:

- raw Celery no-op round trip (p50) and throughput, two worker processes;
- a tiny job (200 steps, 2-D) from POST to result available: p50, and its ratio to the no-op
  round trip (target ≤ 3×);
- 1,000 tiny jobs: throughput and its ratio to the no-op throughput (target ≥ 0.5×);
- ``GET /result`` of a 1,000,000-point 2-D trajectory (target < 0.5 s) and with
  ``max_points=1000`` (target < 20 ms).

The HTTP figures are taken with two clients: a lean stdlib load generator (the service's own
cost) and httpx (what a Python user would write; on 2 cores its CPU competes with the service).

Run: ``python -m bench.service``. Starts its own Redis, worker and API; stops them after.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import start_api, start_worker, stop, wait_for
from worker.app import make_celery
from worker.embedded import EmbeddedRedis, free_port
from worker.settings import Settings
from worker.store import JobStore

TINY = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 0.01, "max_steps": 200}
TINY_BODY = json.dumps(TINY).encode()


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def noop_figures(celery, rounds: int = 200, burst: int = 1000) -> tuple[float, float]:
    for _ in range(20):
        celery.send_task("descent.noop").get(timeout=10)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        celery.send_task("descent.noop").get(timeout=10)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    results = [celery.send_task("descent.noop") for _ in range(burst)]
    for result in results:
        result.get(timeout=60)
    return p50(times), burst / (time.perf_counter() - start)


class LeanClient:
    """A load generator: stdlib ``http.client``, one keep-alive connection per thread. It costs a
    fraction of httpx's CPU, which on a small machine competes with the service for the same
    cores; the figures are then the service's own (both clients are reported)."""

    name = "http.client"

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection("127.0.0.1",
                                                                            self.port)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()


class HttpxClient:
    name = "httpx"

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        response = self.http.request(method, path, content=body, headers=headers)
        return response.status_code, response.content


def job_latency(client: LeanClient | HttpxClient, rounds: int = 100) -> float:
    """POST, then one ``GET /result?wait=`` that answers as soon as the job has finished."""
    times = []
    for _ in range(rounds + 10):
        start = time.perf_counter()
        status, body = client.request("POST", "/v1/jobs", TINY_BODY)
        job_id = json.loads(body)["id"]
        status, _ = client.request("GET", f"/v1/jobs/{job_id}/result?max_points=2&wait=10")
        assert status == 200, status
        times.append(time.perf_counter() - start)
    return p50(times[10:])


def job_throughput(client: LeanClient | HttpxClient, store: JobStore,
                   count: int = 1000) -> float:
    """``count`` jobs posted from 4 threads, until the last one has succeeded."""
    before = store.metrics("descent")["status_counts"].get("succeeded", 0)
    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        statuses = set(pool.map(lambda _: client.request("POST", "/v1/jobs", TINY_BODY)[0],
                                range(count)))
    assert statuses == {202}, statuses
    wait_for(lambda: store.metrics("descent")["status_counts"].get("succeeded", 0)
             - before >= count, timeout=300, interval=0.005, message="1000 jobs")
    return count / (time.perf_counter() - start)


def big_job(client: LeanClient) -> str:
    """A finished job with a 1,000,000-point trajectory."""
    spec = {"function": "rosenbrock", "optimizer": "sgd", "learning_rate": 1e-4,
            "max_steps": 999_999}
    job_id = json.loads(client.request("POST", "/v1/jobs", json.dumps(spec).encode())[1])["id"]
    status, _ = client.request("GET", f"/v1/jobs/{job_id}/result?max_points=2&wait=60")
    assert status == 200, status
    return job_id


def big_result(client: LeanClient | HttpxClient, job_id: str) -> tuple[float, float, int]:
    """p50 over five reads of the whole result and of ``max_points=1000``."""
    full, thin = [], []
    size = 0
    for _ in range(5):
        start = time.perf_counter()
        status, body = client.request("GET", f"/v1/jobs/{job_id}/result")
        full.append(time.perf_counter() - start)
        assert status == 200, status
        size = len(body)
        start = time.perf_counter()
        status, _ = client.request("GET", f"/v1/jobs/{job_id}/result?max_points=1000")
        thin.append(time.perf_counter() - start)
        assert status == 200, status
    return p50(full), p50(thin), size


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir, EmbeddedRedis(data_dir) as redis_server:
        store = JobStore.from_url(redis_server.url)
        worker = start_worker(redis_server.url, concurrency=2)
        port = free_port()
        api = start_api(redis_server.url, port)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: store.live_workers() > 0, timeout=120, message="the worker")
            wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=60,
                     message="the API")
            celery = make_celery(Settings(redis_url=redis_server.url))
            noop_rtt, noop_rate = noop_figures(celery)
            with httpx.Client(base_url=url, timeout=60) as http:
                figures = {}
                big = big_job(LeanClient(port))
                for client in (LeanClient(port), HttpxClient(http)):
                    figures[client.name] = (job_latency(client), job_throughput(client, store),
                                            *big_result(client, big))
        finally:
            stop(api)
            stop(worker)
    print(f"celery no-op round trip p50      {noop_rtt * 1e3:8.2f} ms")
    print(f"celery no-op throughput          {noop_rate:8.0f} /s")
    for name, (latency, rate, full, thin, size) in figures.items():
        print(f"client: {name}")
        print(f"  tiny job POST→result p50       {latency * 1e3:8.2f} ms   "
              f"ratio {latency / noop_rtt:5.2f}× (target ≤ 3×)")
        print(f"  tiny job throughput (1000)     {rate:8.0f} /s   "
              f"ratio {rate / noop_rate:5.2f}× (target ≥ 0.5×)")
        print(f"  GET /result 1,000,000 points   {full * 1e3:8.1f} ms ({size / 1e6:.0f} MB; "
              "target < 500 ms)")
        print(f"  GET /result max_points=1000    {thin * 1e3:8.1f} ms (target < 20 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
