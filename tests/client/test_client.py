"""``import descent`` (docs/spec.md §12) against the real stack: a real Redis, Celery worker
and API over HTTP; the sync and the async client; every error class; a submission retried
through a Redis restart; idempotent resubmission; results over Arrow equal to the JSON ones."""

from __future__ import annotations

import asyncio
import threading
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import descent
import engine
from tests.conftest import api_healthy, start_api, start_worker, stop, wait_for
from worker.embedded import EmbeddedRedis, free_port

SPEC = {"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05, "max_steps": 300}


def test_run_locally_is_the_engine_result_as_arrays() -> None:
    result = descent.run(SPEC)
    expected = engine.run_spec(SPEC)
    assert result.stop_reason == expected.stop_reason and result.steps == 300
    np.testing.assert_array_equal(result.trajectory.params, expected.trajectory["params"])
    np.testing.assert_array_equal(result.trajectory.loss, expected.trajectory["loss"])
    frame = result.to_pandas()
    assert list(frame.columns) == ["loss", "grad_norm", "lr", "p0", "p1"]
    assert frame.index.name == "step" and len(frame) == len(result.trajectory)


def test_a_bad_spec_is_a_spec_error_listing_every_field_locally_and_remotely(
        api_url: str) -> None:
    bad = {"function": "spheer", "optimizer": "adamm"}
    with pytest.raises(descent.SpecError) as local:
        descent.run(bad)
    with descent.Client(api_url) as client, pytest.raises(descent.SpecError) as remote:
        client.submit(bad)
    for error in (local.value, remote.value):
        assert {tuple(entry["loc"]) for entry in error.fields} == {
            ("body", "function"), ("body", "optimizer")}
        assert error.status == 422 and isinstance(error, descent.DescentError)


def test_submit_wait_and_fetch_over_arrow_equals_the_json_result(api_url: str,
                                                                  http: Any) -> None:
    with descent.Client(api_url) as client:
        job = client.submit(SPEC)
        result = job.result(timeout=120)
        assert job.refresh().status == "succeeded"
        thinned = job.result(max_points=5, fields="loss")
    document = http.get(f"/v1/jobs/{job.id}/result").json()
    assert result.stop_reason == document["stop_reason"] and result.final == document["final"]
    np.testing.assert_array_equal(result.trajectory.params, document["trajectory"]["params"])
    np.testing.assert_array_equal(result.trajectory.lr, document["trajectory"]["lr"])
    assert result.trajectory.step.dtype == np.int64
    assert len(thinned.trajectory) == 5 and thinned.trajectory.params is None
    assert result.document["nearest_stationary_point"] == document["nearest_stationary_point"]


def test_not_found_timeout_and_conflict(redis_url: str) -> None:
    """A job on a queue no worker serves stays queued: waiting for it times out, and once
    cancelled it has no result (409: Conflict)."""
    port = free_port()
    api = start_api(redis_url, port, DESCENT_QUEUE_NAME="nobody-serves-this")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(partial(api_healthy, url), timeout=90, message="the API")
        with descent.Client(url) as client:
            with pytest.raises(descent.NotFound):
                client.job("no-such-job")
            queued = client.submit(SPEC)
            with pytest.raises(descent.WaitTimeout):
                queued.result(timeout=0.5)
            assert queued.cancel().status == "cancelled"
            assert queued.cancel().status == "cancelled"  # finished: left as it is
            with pytest.raises(descent.Conflict, match="without a result"):
                queued.result(timeout=10)
            queued.delete()
            with pytest.raises(descent.NotFound):
                queued.refresh()
    finally:
        stop(api)


def test_idempotent_resubmission_gives_the_same_job(api_url: str) -> None:
    with descent.Client(api_url) as client:
        first = client.submit(SPEC, idempotency_key="client-test-key")
        again = client.submit(SPEC, idempotency_key="client-test-key")
        other = client.submit(SPEC)
    assert first.id == again.id != other.id


def test_events_stream_until_the_job_ends(api_url: str) -> None:
    with descent.Client(api_url) as client:
        job = client.submit(SPEC)
        events = list(job.events())
    assert events[-1]["event"] == "status" and events[-1]["data"]["status"] == "succeeded"


def test_upload_arrays_and_a_csv_file_then_train_on_them(api_url: str, tmp_path: Path) -> None:
    X = np.linspace(-1, 1, 20).reshape(-1, 1)
    y = 3 * X[:, 0] - 1
    csv_path = tmp_path / "line.csv"
    csv_path.write_text("x,label\n" + "".join(f"{a},{b}\n" for a, b in zip(X[:, 0], y)))
    with descent.Client(api_url) as client:
        from_arrays = client.upload(X, y)
        from_file = client.upload(csv_path, target="label")
        assert from_arrays.document["n_samples"] == from_file.document["n_samples"] == 20
        job = client.submit({"function": "linear_regression", "optimizer": "adam",
                             "learning_rate": 0.1, "max_steps": 300,
                             "data": {"dataset_id": from_file.id}})
        result = job.result(timeout=120)
    np.testing.assert_allclose(result.final["params"], [3, -1], atol=0.05)


def test_the_async_client_does_the_same(api_url: str) -> None:
    async def scenario() -> tuple[Any, ...]:
        async with descent.AsyncClient(api_url) as client:
            job = await client.submit(SPEC)
            result = await job.result(timeout=120)
            events = [event async for event in job.events()]
            sweep = await client.sweep({"base": SPEC, "grid": {"learning_rate": [0.01, 0.1]}})
            document = await sweep.result(timeout=120, runs="1")
            with pytest.raises(descent.NotFound):
                await client.job("no-such-job")
            return result, events, document

    result, events, document = asyncio.run(scenario())
    assert result.steps == 300 and result.trajectory.params.shape == (301, 2)
    assert events[-1]["data"]["status"] == "succeeded"
    assert len(document["runs"]) == 2 and "trajectory" in document["runs"][1]


def test_the_sync_sweep(api_url: str) -> None:
    with descent.Client(api_url) as client:
        sweep = client.sweep({"base": SPEC, "grid": {"optimizer": ["adam", "sgd", "momentum"]}})
        document = sweep.result(timeout=120)
    assert sweep.kind == "sweeps" and len(document["runs"]) == 3


def test_unauthorized_rate_limited_and_unavailable(redis_url: str) -> None:
    keyed, limited, broken = free_port(), free_port(), free_port()
    apis = [start_api(redis_url, keyed, DESCENT_API_KEYS="sesame"),
            start_api(redis_url, limited, DESCENT_RATE_LIMIT="1/minute"),
            start_api(f"redis://127.0.0.1:{free_port()}/0", broken)]
    try:
        for port in (keyed, limited, broken):
            wait_for(partial(api_healthy, f"http://127.0.0.1:{port}"), timeout=90, message="the API")
        with descent.Client(f"http://127.0.0.1:{keyed}", api_key="nope") as client, \
                pytest.raises(descent.Unauthorized):
            client.job("x")
        with descent.Client(f"http://127.0.0.1:{keyed}", api_key="sesame") as client, \
                pytest.raises(descent.NotFound):
            client.job("x")
        with descent.Client(f"http://127.0.0.1:{limited}", retries=0) as client:
            with pytest.raises(descent.NotFound):
                client.job("x")
            with pytest.raises(descent.RateLimited) as limited_error:
                client.job("x")
            assert limited_error.value.retry_after is not None
            assert limited_error.value.retry_after > 0
        with descent.Client(f"http://127.0.0.1:{broken}", retries=0) as client, \
                pytest.raises(descent.ServiceUnavailable):
            client.submit(SPEC)
        with descent.Client(f"http://127.0.0.1:{free_port()}", retries=1,
                            backoff_s=0.01) as client, \
                pytest.raises(descent.ServiceUnavailable, match="no answer"):
            client.job("x")
    finally:
        for api in apis:
            stop(api)


def test_a_submission_is_retried_through_a_redis_restart(tmp_path: Path) -> None:
    """Redis is down when the job is submitted: the API answers 503 with Retry-After, the
    client waits and retries, Redis comes back, the same submission goes through (once)."""
    redis_port, api_port = free_port(), free_port()
    server = EmbeddedRedis(tmp_path / "redis", port=redis_port).start()
    redis_url = server.url
    worker = start_worker(redis_url, concurrency=1)
    api = start_api(redis_url, api_port)
    restarted = threading.Event()
    try:
        url = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=90,
                 message="the stack")
        server.stop()
        seen_503 = httpx.post(f"{url}/v1/jobs", json=SPEC)
        assert seen_503.status_code == 503 and "Retry-After" in seen_503.headers

        def restart() -> None:
            nonlocal server
            server = EmbeddedRedis(tmp_path / "redis", port=redis_port).start()
            restarted.set()

        timer = threading.Timer(1.0, restart)
        timer.start()
        with descent.Client(url, retries=20) as client:
            job = client.submit(SPEC, idempotency_key="through-a-restart")
            assert restarted.is_set()
            result = job.result(timeout=120)
            assert client.submit(SPEC, idempotency_key="through-a-restart").id == job.id
        assert result.steps == 300
    finally:
        stop(api)
        stop(worker)
        server.stop()
