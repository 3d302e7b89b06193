"""A full Redis (its ``maxmemory`` reached, policy ``noeviction``; issue 10 §3): writes answer
503 with Retry-After, what is stored stays readable and nothing is evicted, and once there is
room again the service takes work as before. A job that is running when Redis fills is not
lost: its record and its broker message are kept, and it runs again once there is room.

Real parts throughout: the embedded Redis started by descent's own code (``EmbeddedRedis``, as
``descent serve`` starts it), a Celery worker and the API over HTTP. Redis first fills through
the API (dataset uploads until one is refused); then, to keep it full deterministically,
``maxmemory`` is lowered (``CONFIG SET``) below what Redis holds by megabytes, so that no
fluctuation of Redis's own buffers can open room by chance.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import redis

from tests.conftest import start_api, start_worker, stop, wait_for, wait_job
from worker.embedded import EmbeddedRedis, free_port
from worker.store import FINISHED

MAXMEMORY = "64mb"
SMALL_JOB = {"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05,
             "max_steps": 300, "seed": 1}
BIG_JOB = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 0.001,
           "max_steps": 100_000}  # ~4 MB of trajectory in Redis: deleting it makes room
SWEEP = {"base": {"function": "booth", "optimizer": "sgd", "max_steps": 200},
         "grid": {"learning_rate": [0.01, 0.05]}}


def csv_dataset(rows: int, offset: int = 0) -> bytes:
    lines = ["x1,x2,y"] + [f"{(i + offset) * 0.001:.6f},{i % 97 * 0.01:.6f},{i % 13 * 0.1:.6f}"
                           for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def limit(client: redis.Redis) -> int:
    return int(cast(dict[str, str], client.config_get("maxmemory"))["maxmemory"])


def descent_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(match="descent:*", count=1000))


def assert_store_full(response: httpx.Response) -> None:
    """The answer to a write while Redis is full: a 503 problem naming the cause, never a 500."""
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["retry-after"] == "60"
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert "full" in detail and "DESCENT_REDIS_MAXMEMORY" in detail, detail


@contextmanager
def service(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, redis.Redis, list[Any], str]]:
    """An embedded Redis (maxmemory 64mb, noeviction), one worker (own process group, so that
    its pool goes with it) and the API. Yields the worker in a list: a test may replace it."""
    server = EmbeddedRedis(tmp_path / "redis", maxmemory=MAXMEMORY).start()
    client = redis.Redis.from_url(server.url)
    port = free_port()
    workers = [start_worker(server.url, concurrency=1, own_process_group=True)]
    api = start_api(server.url, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=90,
                 message="the API and the worker")
        yield server, client, workers, url
    finally:
        stop(api)
        for worker in workers:
            stop(worker)
            try:
                os.killpg(worker.pid, signal.SIGKILL)  # any pool process left behind
            except ProcessLookupError:
                pass
        client.close()
        server.stop()


def test_a_full_redis_refuses_writes_with_503_and_keeps_everything(tmp_path: Path) -> None:
    with service(tmp_path) as (_, client, workers, url), \
            httpx.Client(base_url=url, timeout=60) as http:
        # The embedded Redis as descent starts it: the configured limit, never evicting.
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("maxmemory") == {"maxmemory": str(64 * 1024 * 1024)}

        # --- what is stored before Redis fills
        job_ids = [http.post("/v1/jobs", json=spec).json()["id"]
                   for spec in (SMALL_JOB, {**SMALL_JOB, "seed": 2}, BIG_JOB)]
        for job_id in job_ids:
            assert wait_job(http, job_id, timeout=120)["status"] == "succeeded"
        big_id = job_ids[-1]
        uploaded = http.post("/v1/datasets", content=csv_dataset(200),
                             headers={"content-type": "text/csv"})
        assert uploaded.status_code == 201, uploaded.text
        dataset_id = uploaded.json()["id"]
        sweep_id = http.post("/v1/sweeps", json=SWEEP).json()["id"]
        wait_for(lambda: http.get(f"/v1/sweeps/{sweep_id}").json()["status"] in FINISHED,
                 timeout=90, message="the sweep")
        # Every task acknowledged (kombu's "unacked" hash empty) before Redis fills: an ack is
        # a write, and a worker whose ack is refused exits (see the test below).
        wait_for(lambda: client.hlen("unacked") == 0, timeout=30,
                 message="the worker to acknowledge its tasks")

        def reads(jobs: list[str]) -> dict[str, Any]:
            """Everything stored, as the API serves it: the jobs (document and whole
            result), the dataset, the sweep (document and result), and the list of jobs."""
            answers: dict[str, Any] = {}
            for path in [*(f"/v1/jobs/{job_id}{tail}" for job_id in jobs
                           for tail in ("", "/result")),
                         f"/v1/datasets/{dataset_id}", f"/v1/sweeps/{sweep_id}",
                         f"/v1/sweeps/{sweep_id}/result"]:
                response = http.get(path)
                assert response.status_code == 200, (path, response.text[:300])
                answers[path] = response.json()
            listed = http.get("/v1/jobs", params={"limit": 100})
            assert listed.status_code == 200
            answers["listed"] = {job["id"] for job in listed.json()["jobs"]}
            return answers

        before = reads(job_ids)
        assert before[f"/v1/jobs/{big_id}/result"]["steps"] == BIG_JOB["max_steps"]
        assert len(before[f"/v1/jobs/{big_id}/result"]["trajectory"]["loss"]) == 100_001

        # --- Redis fills through the API: uploads are stored until one is refused, with a 503
        client.config_set("maxmemory", memory(client) + 1024 * 1024)
        statuses = []
        for number in range(40):
            response = http.post("/v1/datasets", content=csv_dataset(8000, number * 8000),
                                 headers={"content-type": "text/csv"})
            statuses.append(response.status_code)
            if response.status_code != 201:
                assert_store_full(response)
                break
        assert statuses[-1] == 503 and set(statuses[:-1]) == {201}, statuses
        assert len(statuses) > 1, "the first upload should have fitted"

        # Keep it full, by megabytes: half the big job's memory over the limit. Deleting the
        # big job (which a full Redis allows) then leaves as much room again.
        big_keys = [f"descent:{kind}:{big_id}" for kind in ("job", "result", "result_json")]
        big_bytes = sum(int(client.memory_usage(key) or 0) for key in big_keys)
        assert big_bytes > 3 * 1024 * 1024, big_bytes
        client.config_set("maxmemory", memory(client) - big_bytes // 2)
        stored_keys = descent_keys(client)
        dbsize = client.dbsize()

        # --- while full: every write is a 503, everything stored reads as before
        assert_store_full(http.post("/v1/jobs", json=SMALL_JOB))
        assert http.get("/healthz").status_code == 200  # same client, the API is up
        assert_store_full(http.post("/v1/datasets", content=csv_dataset(50),
                                    headers={"content-type": "text/csv"}))
        assert http.get("/healthz").status_code == 200
        assert_store_full(http.post("/v1/sweeps", json=SWEEP))
        assert http.get("/healthz").status_code == 200
        assert_store_full(http.post("/v1/jobs", json={**SMALL_JOB, "seed": 3},
                                    headers={"Idempotency-Key": "while-full"}))
        assert reads(job_ids) == before
        assert memory(client) > limit(client)  # still full

        # Nothing evicted, nothing lost: every key is still there.
        assert descent_keys(client) >= stored_keys
        assert client.dbsize() >= dbsize
        assert client.info("stats")["evicted_keys"] == 0
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}

        # --- making room: deleting a finished job works while full, and writes work again
        assert http.delete(f"/v1/jobs/{big_id}").status_code == 204
        assert http.get(f"/v1/jobs/{big_id}").status_code == 404
        assert memory(client) < limit(client)
        submitted = http.post("/v1/jobs", json={**SMALL_JOB, "seed": 4})
        assert submitted.status_code == 202, submitted.text
        assert http.post("/v1/datasets", content=csv_dataset(50),
                         headers={"content-type": "text/csv"}).status_code == 201
        assert http.post("/v1/sweeps", json=SWEEP).status_code == 202
        # The worker lived through it: the new job runs.
        assert wait_job(http, submitted.json()["id"], timeout=90)["status"] == "succeeded"
        assert workers[0].poll() is None

        # What was stored before Redis filled is all still there, unchanged.
        after = reads(job_ids[:-1])
        assert after.pop("listed") == before["listed"] - {big_id} | {submitted.json()["id"]}
        assert after == {path: answer for path, answer in before.items()
                         if big_id not in path and path != "listed"}
        assert descent_keys(client) >= stored_keys - {key.encode() for key in big_keys}
        assert client.info("stats")["evicted_keys"] == 0


def test_a_job_running_when_redis_fills_is_kept_and_runs_again(tmp_path: Path) -> None:
    """The running job's next progress write is refused, then its failure record too (the
    FINISH script), so nothing about it changes in Redis: it stays ``running``, readable, and
    its broker message stays unacknowledged. Once there is room, the message's lease runs out
    and a worker runs the job again to success.

    What happens to the worker meanwhile, today: Celery's late acknowledgement of the failed
    task is a MULTI/EXEC (kombu's ``QoS.ack``), which Redis refuses over maxmemory; kombu
    raises it in the worker's main loop ("Unrecoverable error: OutOfMemoryError") and the
    whole worker exits, with status 0. ``descent serve`` and the compose file start it again
    (tests/e2e/test_serve.py); this test, running a bare worker, starts a new one itself if
    the first one is gone. The job is safe either way."""
    with service(tmp_path) as (server, client, workers, url), \
            httpx.Client(base_url=url, timeout=60) as http:
        spec = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 1e-4,
                "max_steps": 3_000_000, "record_every": 1000}
        job_id = http.post("/v1/jobs", json=spec).json()["id"]
        wait_for(lambda: http.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] > 0,
                 timeout=120, message="the job to start")
        client.config_set("maxmemory", memory(client) // 2)  # full, by far

        # While full the job is kept as it was, running, readable; submissions are 503s.
        assert_store_full(http.post("/v1/jobs", json=SMALL_JOB))
        worker = workers[0]
        give_up = time.monotonic() + 30  # the run hits the full store within a second
        while worker.poll() is None and time.monotonic() < give_up:
            time.sleep(0.1)
        held = http.get(f"/v1/jobs/{job_id}")
        assert held.status_code == 200 and held.json()["status"] == "running"
        assert held.json()["attempts"] == 1
        assert client.exists(f"descent:job:{job_id}") == 1
        assert client.info("stats")["evicted_keys"] == 0

        client.config_set("maxmemory", MAXMEMORY)  # room again
        if worker.poll() is not None:
            workers.append(start_worker(server.url, concurrency=1, own_process_group=True))
        try:
            job = wait_job(http, job_id, timeout=150)
        except AssertionError:
            raise AssertionError(f"the job was lost: {http.get(f'/v1/jobs/{job_id}').json()}") \
                from None
        assert job["status"] == "succeeded", job
        assert job["attempts"] >= 2  # run again from the start: the first run's work is gone
        result = http.get(f"/v1/jobs/{job_id}/result")
        assert result.status_code == 200 and result.json()["steps"] == spec["max_steps"]
