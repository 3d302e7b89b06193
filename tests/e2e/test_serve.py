"""``descent serve``: the whole stack from one command; stopped with SIGINT (Ctrl-C) and
started again on the same data dir, finished jobs and their results are still there; a worker
that stops by itself is started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, service_env, wait_for, wait_job
from worker.embedded import free_port

SPEC = {"function": "beale", "optimizer": "rmsprop", "learning_rate": 0.01, "max_steps": 800}


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    environment = service_env("unused", DESCENT_DATA_DIR=str(data_dir))
    del environment["DESCENT_REDIS_URL"]  # no Redis named: serve embeds one
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT, env=environment,
    )


def stop_with_ctrl_c(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(40)


def test_serve_restart_on_the_same_data_dir_keeps_jobs_and_results(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = serve(tmp_path, port)
    try:
        wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=90,
                 message="descent serve")
        with httpx.Client(base_url=url, timeout=10) as http:
            job_id = http.post("/v1/jobs", json=SPEC).json()["id"]
            assert wait_job(http, job_id)["status"] == "succeeded"
            result = http.get(f"/v1/jobs/{job_id}/result").json()
    finally:
        assert stop_with_ctrl_c(first) == 0
    assert (tmp_path / "appendonlydir").exists() or list(tmp_path.glob("*.aof*"))
    second = serve(tmp_path, port)
    try:
        wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=90,
                 message="descent serve, again")
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
            assert http.get(f"/v1/jobs/{job_id}/result").json() == result
            assert job_id in [job["id"] for job in http.get("/v1/jobs").json()["jobs"]]
    finally:
        assert stop_with_ctrl_c(second) == 0


def _worker_processes(serve_pid: int) -> list[int]:
    """The ``cli worker`` children of ``descent serve`` (of any of its threads)."""
    children = [pid for task in Path(f"/proc/{serve_pid}/task").iterdir()
                for pid in (task / "children").read_text().split()]
    return [int(pid) for pid in children
            if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]


def test_serve_starts_a_worker_again_when_it_stops_by_itself(tmp_path: Path) -> None:
    """A worker that exits on its own (Celery gives up on an unrecoverable broker error, such
    as a full Redis refusing an ack, and exits) is replaced, and jobs run again."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = serve(tmp_path, port)
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=90,
                 message="descent serve")
        (first,) = _worker_processes(process.pid)
        os.kill(first, signal.SIGKILL)
        replaced = wait_for(lambda: [pid for pid in _worker_processes(process.pid)
                                     if pid != first], timeout=60, message="a new worker")
        assert len(replaced) == 1
        with httpx.Client(base_url=url, timeout=10) as http:
            job_id = http.post("/v1/jobs", json=SPEC).json()["id"]
            assert wait_job(http, job_id, timeout=120)["status"] == "succeeded"
    finally:
        assert stop_with_ctrl_c(process) == 0
