"""Sweep and dataset speed figures (issues 6 and 11), on one machine with its own Redis, two
worker processes and the API:

- a sweep of 1,000 learning rates × 1,000 Adam steps on Rosenbrock, from ``POST /v1/sweeps`` to
  the result (runs and table) fetched: its ratio to the engine's own time for the same multi-run
  call (target ≤ 2× + 0.2 s) and to the same 1,000 runs submitted as separate jobs (target ≥ 20×
  faster);
- uploading a 100,000 × 20 CSV dataset (target < 2 s).

Run: ``python -m bench.sweep``. Starts its own Redis, worker and API; stops them after.
"""

from __future__ import annotations

import sys
import tempfile
import time

import httpx
import numpy as np

from engine import resolve_spec, run_group
from tests.conftest import start_api, start_worker, stop, wait_for
from worker.embedded import EmbeddedRedis, free_port
from worker.store import JobStore

RUNS, STEPS = 1000, 1000
ENGINE_RATIO, ENGINE_MARGIN_S = 2, 0.2  # the sweep over HTTP ≤ 2 × the engine's call + 0.2 s
BASE = {"function": "rosenbrock", "optimizer": "adam", "max_steps": STEPS}
LEARNING_RATES = [float(v) for v in np.geomspace(1e-4, 1.0, RUNS)]


def engine_seconds() -> float:
    """The engine's own multi-run call (resolve + one run_group), best of three."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        runs = [resolve_spec({**BASE, "learning_rate": lr}) for lr in LEARNING_RATES]
        for run in runs:
            run.objective = runs[0].objective
        run_group(runs)
        best = min(best, time.perf_counter() - start)
    return best


def sweep_seconds(http: httpx.Client) -> float:
    body = {"base": BASE, "grid": {"learning_rate": LEARNING_RATES}}
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        sweep_id = http.post("/v1/sweeps", json=body).json()["id"]
        while http.get(f"/v1/sweeps/{sweep_id}/result").status_code != 200:
            time.sleep(0.01)
        best = min(best, time.perf_counter() - start)
    return best


def jobs_seconds(http: httpx.Client) -> float:
    start = time.perf_counter()
    ids = [http.post("/v1/jobs", json={**BASE, "learning_rate": lr}).json()["id"]
           for lr in LEARNING_RATES]
    for job_id in ids:
        while http.get(f"/v1/jobs/{job_id}/result", params={"max_points": 2}).status_code != 200:
            time.sleep(0.005)
    return time.perf_counter() - start


def csv_upload_seconds(http: httpx.Client, rows: int = 100_000, columns: int = 20) -> float:
    data = np.random.default_rng(0).normal(size=(rows, columns + 1))
    header = ",".join([f"x{j}" for j in range(columns)] + ["y"])
    text = header + "\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in data) + "\n"
    payload = text.encode()
    start = time.perf_counter()
    response = http.post("/v1/datasets", content=payload, headers={"Content-Type": "text/csv"})
    seconds = time.perf_counter() - start
    assert response.status_code == 201, response.text
    print(f"  CSV payload {len(payload) / 1e6:.1f} MB")
    return seconds


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        redis_server = EmbeddedRedis(data_dir).start()
        limits = {"DESCENT_MAX_BODY_BYTES": str(64 << 20), "DESCENT_MAX_DATASET_BYTES": str(64 << 20),
                  "DESCENT_WORKERS": "2"}
        worker = start_worker(redis_server.url, concurrency=2, own_process_group=False, **limits)
        port = free_port()
        api = start_api(redis_server.url, port, **limits)
        try:
            store = JobStore.from_url(redis_server.url)
            wait_for(lambda: store.live_workers() > 0, timeout=120, message="the worker")
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=60,
                     message="the API")
            with httpx.Client(base_url=url, timeout=120) as http:
                engine_s = engine_seconds()
                sweep_s = sweep_seconds(http)
                print(f"sweep of {RUNS} lrs × {STEPS} Adam steps on Rosenbrock")
                print(f"  engine multi-run call     {engine_s:8.3f} s")
                target_s = ENGINE_RATIO * engine_s + ENGINE_MARGIN_S
                print(f"  HTTP POST → result        {sweep_s:8.3f} s   "
                      f"(target ≤ {ENGINE_RATIO} × engine + {ENGINE_MARGIN_S} = {target_s:.3f} s: "
                      f"{'ok' if sweep_s <= target_s else 'MISSED'})")
                print(f"  ratio sweep / engine      {sweep_s / engine_s:8.2f}×")
                jobs_s = jobs_seconds(http)
                print(f"  {RUNS} separate jobs        {jobs_s:8.3f} s   "
                      f"(sweep is {jobs_s / sweep_s:.1f}× faster; target ≥ 20×: "
                      f"{'ok' if jobs_s >= 20 * sweep_s else 'MISSED'})")
                upload_s = csv_upload_seconds(http)
                print(f"CSV upload 100,000 × 20     {upload_s:8.3f} s   (target < 2 s: "
                      f"{'ok' if upload_s < 2 else 'MISSED'})")
        finally:
            stop(api)
            stop(worker)
            redis_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
