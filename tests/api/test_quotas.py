"""Fairness between callers (SPEC.md §9.4): the request rate limit and the cap on active jobs
and sweeps, per key (per client address without keys), on real uvicorn processes sharing the
session's Redis; and ``/metrics`` behind the key when the server sets keys.

Limits here are per minute and counts, never per second, so that no assertion depends on how
fast a busy machine answers.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import start_api, start_worker, stop, wait_for
from worker.embedded import free_port

JOB = {"function": "sphere", "optimizer": "sgd", "learning_rate": 0.1, "max_steps": 50}
SWEEP = {"base": JOB, "grid": {"seed": [1, 2]}}
KEYS = ("rate", "rate-other", "flood", "fair", "metrics", "cap", "cap-other", "cap-race")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def started_api(redis_url: str, **environment: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = start_api(redis_url, port, **environment)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, timeout=60,
             message=f"the API on {url}")
    return process, url


@pytest.fixture(scope="module")
def keyed_urls(redis_url: str, worker: Any) -> Iterator[list[str]]:
    """Two API processes with keys, 5 requests a minute and 5 active per key."""
    environment = {"DESCENT_API_KEYS": ",".join(KEYS), "DESCENT_RATE_LIMIT": "5/minute",
                   "DESCENT_MAX_ACTIVE": "5"}
    servers = [started_api(redis_url, **environment) for _ in range(2)]
    yield [url for _, url in servers]
    for process, _ in servers:
        stop(process)


@pytest.fixture(scope="module")
def capped(redis_url: str) -> Iterator[tuple[str, str]]:
    """An API with keys, at most 2 active per key and no rate limit, queueing on a queue of
    its own that no worker serves yet: its jobs stay queued until a test starts one."""
    queue = f"quota-test-{uuid.uuid4().hex[:8]}"
    process, url = started_api(
        redis_url, DESCENT_API_KEYS=",".join(KEYS), DESCENT_MAX_ACTIVE="2",
        DESCENT_RATE_LIMIT="none", DESCENT_QUEUE_NAME=queue)
    yield url, queue
    stop(process)


@pytest.fixture(scope="module")
def open_limited_url(redis_url: str, worker: Any) -> Iterator[str]:
    """An API without keys but with a rate limit: it applies per client address."""
    process, url = started_api(redis_url, DESCENT_RATE_LIMIT="5/minute")
    yield url
    stop(process)


def assert_too_many(response: httpx.Response, *words: str) -> int:
    """A 429 problem naming its limit, with a whole-seconds Retry-After; returns it."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    return retry_after


def test_over_the_rate_is_a_429_and_submissions_do_not_starve_reads(
        keyed_urls: list[str]) -> None:
    url = keyed_urls[0]
    with httpx.Client(base_url=url, headers=bearer("rate"), timeout=60) as client:
        ids = []
        for _ in range(5):
            response = client.post("/v1/jobs", json=JOB)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        assert_too_many(client.post("/v1/jobs", json=JOB),
                        "5/minute", "writes", "DESCENT_RATE_LIMIT")
        # The writes are spent; this key's reads have their own window.
        for job_id in ids[:4]:
            result = client.get(f"/v1/jobs/{job_id}/result", params={"wait": 50})
            assert result.status_code == 200, result.text
        assert client.get("/v1/jobs").status_code == 200
        assert_too_many(client.get("/v1/jobs"), "5/minute", "reads")
        # The count is the key's, not the process's: the other API process says the same.
        assert_too_many(httpx.get(f"{keyed_urls[1]}/v1/jobs", headers=bearer("rate")), "reads")
    # Another key is untouched by this one's spending.
    assert httpx.get(f"{url}/v1/jobs", headers=bearer("rate-other")).status_code == 200


def test_one_key_flooding_leaves_another_keys_jobs_running(keyed_urls: list[str]) -> None:
    """Sixteen threads send 200 submissions with one key, over both API processes, while
    another key submits three jobs: those are all accepted and finish, and the flooding key
    got no more than its rate (5 a minute) across both processes together."""
    def flood(number: int) -> int:
        url = keyed_urls[number % 2]
        response = httpx.post(f"{url}/v1/jobs", json=JOB, headers=bearer("flood"), timeout=60)
        if response.status_code != 202:
            assert_too_many(response, "DESCENT_")
        return response.status_code

    with ThreadPoolExecutor(16) as pool:
        flood_answers = pool.map(flood, range(200))
        with httpx.Client(headers=bearer("fair"), timeout=60) as fair:
            fair_ids = []
            for number in range(3):
                response = fair.post(f"{keyed_urls[number % 2]}/v1/jobs", json=JOB)
                assert response.status_code == 202, response.text
                fair_ids.append(response.json()["id"])
            codes = list(flood_answers)
            for job_id in fair_ids:
                result = fair.get(f"{keyed_urls[0]}/v1/jobs/{job_id}/result",
                                  params={"wait": 60})
                assert result.status_code == 200, result.text
                assert result.json()["stop_reason"] == "max_steps"
    assert 1 <= codes.count(202) <= 5
    assert codes.count(429) == 200 - codes.count(202)


def test_a_full_active_cap_is_a_429_until_the_jobs_finish(
        capped: tuple[str, str], redis_url: str) -> None:
    url, queue = capped
    with httpx.Client(base_url=url, headers=bearer("cap"), timeout=60) as client:
        job = client.post("/v1/jobs", json=JOB)
        sweep = client.post("/v1/sweeps", json=SWEEP)
        assert (job.status_code, sweep.status_code) == (202, 202), (job.text, sweep.text)
        retry_after = assert_too_many(client.post("/v1/jobs", json=JOB),
                                      "DESCENT_MAX_ACTIVE=2", "active")
        assert retry_after == 1
        assert_too_many(client.post("/v1/sweeps", json=SWEEP), "DESCENT_MAX_ACTIVE=2")
        assert client.get(f"/v1/jobs/{job.json()['id']}").json()["status"] == "queued"
        # The cap is per key: another key still submits.
        other = httpx.post(f"{url}/v1/jobs", json=JOB, headers=bearer("cap-other"), timeout=60)
        assert other.status_code == 202, other.text

        # A worker on this API's queue runs them; once finished, their places are free.
        process = start_worker(redis_url, concurrency=1, DESCENT_QUEUE_NAME=queue)
        try:
            def finished(path: str) -> bool:
                return client.get(path).json()["status"] == "succeeded"

            wait_for(lambda: finished(f"/v1/jobs/{job.json()['id']}"), timeout=120,
                     interval=0.2, message="the capped key's job")
            wait_for(lambda: finished(f"/v1/sweeps/{sweep.json()['id']}"), timeout=120,
                     interval=0.2, message="the capped key's sweep")
            accepted = wait_for(lambda: client.post("/v1/jobs", json=JOB).status_code == 202,
                                timeout=30, interval=0.2, message="a place under the cap")
            assert accepted
        finally:
            stop(process)


def test_the_active_cap_holds_under_concurrent_submissions(capped: tuple[str, str]) -> None:
    """Twelve submissions at once with a fresh key (its jobs stay queued: nothing serves
    this queue now): exactly two are accepted, the reservation is atomic."""
    url, _ = capped

    def submit(_: int) -> int:
        return httpx.post(f"{url}/v1/jobs", json=JOB, headers=bearer("cap-race"),
                          timeout=60).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(submit, range(12)))
    assert sorted(codes) == [202] * 2 + [429] * 10


def commands_during(redis_url: str, action: Callable[[], None]) -> list[str]:
    """Every command Redis received while ``action`` ran (Redis MONITOR)."""
    marker = f"quota-test-end-{uuid.uuid4().hex}"
    seen: list[str] = []
    monitoring = threading.Event()

    def record() -> None:
        with redis.Redis.from_url(redis_url).monitor() as monitor:
            monitoring.set()
            for entry in monitor.listen():
                if marker in entry["command"]:
                    return
                seen.append(entry["command"])

    recorder = threading.Thread(target=record, daemon=True)
    recorder.start()
    assert monitoring.wait(10)
    action()
    redis.Redis.from_url(redis_url).echo(marker)
    recorder.join(30)
    assert not recorder.is_alive()
    return seen


def test_without_keys_or_limits_nothing_is_limited_or_counted(
        api_url: str, redis_url: str) -> None:
    """The default local stack (no keys, no limits set): 60 reads and 20 submissions as fast
    as they come, none refused, and Redis never asked about a quota."""
    codes: list[int] = []

    def burst() -> None:
        with httpx.Client(base_url=api_url, timeout=60) as client:
            codes.extend(client.get("/v1/jobs", params={"limit": 1}).status_code
                         for _ in range(60))
            codes.extend(client.post("/v1/jobs", json=JOB).status_code for _ in range(20))

    commands = commands_during(redis_url, burst)
    assert codes == [200] * 60 + [202] * 20
    assert any("descent:job:" in command for command in commands)  # the monitor saw the burst
    assert not [c for c in commands if "descent:rate" in c or "descent:active" in c]


def test_without_keys_a_configured_limit_applies_per_client_address(
        open_limited_url: str) -> None:
    with httpx.Client(base_url=open_limited_url, timeout=60) as here:
        for _ in range(5):
            assert here.get("/v1/functions").status_code == 200
        assert_too_many(here.get("/v1/functions"), "5/minute", "reads")
        assert here.post("/v1/jobs", json=JOB).status_code == 202  # writes: their own window
    # Another client address (the loopback network is all this machine's) is counted apart.
    elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=open_limited_url, transport=elsewhere, timeout=60) as there:
        assert there.get("/v1/functions").status_code == 200


def test_metrics_needs_a_key_when_the_server_sets_keys(keyed_urls: list[str],
                                                       api_url: str) -> None:
    url = keyed_urls[0]
    missing = httpx.get(f"{url}/metrics")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/metrics", headers=bearer("not-a-key")).status_code == 401
    # A scrape is not a /v1 request: it does not spend the key's rate (5 reads a minute).
    for _ in range(7):
        scraped = httpx.get(f"{url}/metrics", headers=bearer("metrics"))
        assert scraped.status_code == 200
        assert "descent_jobs" in scraped.text
    assert httpx.get(f"{api_url}/metrics").status_code == 200  # no keys: open, as before
