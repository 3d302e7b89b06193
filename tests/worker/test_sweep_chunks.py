"""Sweep chunks as the worker runs them, against a real Redis: a chunk is counted once, a chunk
that kills its worker every time is failed after ``max_attempts`` (in-process and with a real
worker whose pool process is killed), and a sweep whose own bookkeeping breaks ends failed with
the reason instead of staying ``running``."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import start_worker, stop, wait_for
from worker.settings import Settings
from worker.sweeps import SweepStore, execute_chunk

BODY = {"base": {"function": "rosenbrock", "optimizer": "adam", "max_steps": 200},
        "grid": {"learning_rate": [0.001, 0.01]}, "overrides": []}


def int_or_none(reply: Any) -> int | None:
    return None if reply is None else int(reply)


@pytest.fixture
def sweeps(store: Any) -> SweepStore:
    return SweepStore(store.redis, 3600)


def two_chunk_sweep(sweeps: SweepStore) -> str:
    return sweeps.create(BODY, owner="chunk-tests", runs_total=2, tasks_total=2,
                         time_limit_s=60)


def test_each_chunk_is_counted_once_and_the_last_one_finishes_the_sweep(
        sweeps: SweepStore) -> None:
    sweep_id = two_chunk_sweep(sweeps)
    settings = Settings()
    execute_chunk(sweeps, sweep_id, 0, [0], settings)
    again = execute_chunk(sweeps, sweep_id, 0, [0], settings)  # a redelivery of a done chunk
    assert again["status"] == "chunk_done"
    assert sweeps.get(sweep_id)["status"] == "running"
    execute_chunk(sweeps, sweep_id, 1, [1], settings)
    sweep = sweeps.get(sweep_id)
    assert sweep["status"] == "succeeded" and sweep["progress"]["runs_done"] == 2


def test_a_chunk_over_its_attempts_fails_the_sweep_with_the_reason(sweeps: SweepStore) -> None:
    sweep_id = two_chunk_sweep(sweeps)
    settings = Settings(max_attempts=2)
    for _ in range(2):  # two deliveries that died mid-run (claimed, never finished)
        assert sweeps.claim(sweep_id, 0)[0] == "run"
    execute_chunk(sweeps, sweep_id, 0, [0], settings)
    execute_chunk(sweeps, sweep_id, 1, [1], settings)
    sweep = sweeps.get(sweep_id)
    assert sweep["status"] == "failed", sweep
    assert sweep["error"]["type"] == "worker_lost" and "2 times" in sweep["error"]["message"]
    runs = sweeps.result(sweep_id)["runs"]
    assert runs[0]["final"] is None and runs[1]["final"] is not None


def test_a_sweep_whose_bookkeeping_breaks_ends_failed_not_running(sweeps: SweepStore) -> None:
    sweep_id = two_chunk_sweep(sweeps)
    execute_chunk(sweeps, sweep_id, 0, [0], Settings())
    # run 0's stored entry is damaged (not JSON): finalising the sweep cannot read it
    sweeps.redis.hset(sweeps.key(sweep_id, "sweep_runs"), "0", b"\x00 not json")
    execute_chunk(sweeps, sweep_id, 1, [1], Settings())
    sweep = sweeps.get(sweep_id)
    assert sweep["status"] == "failed" and sweep["finished_at"] is not None
    assert sweep["error"]["type"] == "internal"
    assert "recording chunk 1 of the sweep failed" in sweep["error"]["message"]


@pytest.fixture
def crash_worker(redis_url: str) -> Iterator[tuple[str, Any]]:
    """A real worker on a queue of its own (the session's worker never sees these chunks) that
    gives a chunk two deliveries."""
    queue = f"chunk-crash-{uuid.uuid4().hex[:8]}"
    process = start_worker(redis_url, concurrency=1, own_process_group=True,
                           DESCENT_QUEUE_NAME=queue, DESCENT_MAX_ATTEMPTS="2")
    try:
        yield queue, process
    finally:
        stop(process)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_a_chunk_that_kills_its_worker_every_time_is_failed_after_its_attempts(
        redis_url: str, sweeps: SweepStore, crash_worker: tuple[str, Any]) -> None:
    queue, _ = crash_worker
    settings = Settings(redis_url=redis_url, queue_name=queue, workers=1)
    body = {"base": {"function": "rosenbrock", "max_steps": 10_000_000, "record_every": 10_000},
            "grid": {"learning_rate": [1e-4, 2e-4]}}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/v1/sweeps", json=body)
        assert response.status_code == 202, response.text
        sweep_id = response.json()["id"]
        attempts_key = sweeps.key(sweep_id, "sweep_attempts")
        killed: set[int] = set()
        for attempt in (1, 2):
            def running_in_a_new_process(attempt: int = attempt) -> int | None:
                count, pid = map(int_or_none, sweeps.redis.hmget(attempts_key, ["0", "0:pid"]))
                if count != attempt or pid is None or pid in killed:
                    return None
                return pid

            pid = wait_for(running_in_a_new_process, timeout=120,
                           message=f"delivery {attempt} of the chunk")
            os.kill(pid, signal.SIGKILL)  # the pool process dies: the chunk is delivered again
            killed.add(pid)

        def finished() -> dict[str, Any] | None:
            sweep = client.get(f"/v1/sweeps/{sweep_id}").json()
            return sweep if sweep["status"] in ("succeeded", "failed", "cancelled") else None

        sweep = wait_for(finished, timeout=120, message="the sweep to end")
        assert sweep["status"] == "failed", sweep
        assert sweep["error"]["type"] == "worker_lost"
        assert int_or_none(sweeps.redis.hget(attempts_key, "0")) == 3
