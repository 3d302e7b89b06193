"""The Redis job store against a real Redis, and ``execute_job`` (the task's body) run
in-process against it: no Celery needed here."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio

import engine
from worker.settings import Settings
from worker.store import IdempotencyConflict, JobNotFound, JobStore, owner_of
from worker.tasks import execute_job

SPEC = {"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05, "max_steps": 300}


def resolved(body: dict = SPEC) -> dict:
    return engine.resolve_spec(body).spec


def new_job(store: JobStore, owner: str = "test-owner",
            idempotency: tuple[str, str] | None = None) -> str:
    document, created = store.create(resolved(), owner=owner, time_limit_s=60,
                                     idempotency=idempotency)
    assert created and document == store.get(document["id"])
    return document["id"]


def test_a_new_job_is_queued_with_its_spec_and_timestamps(store: JobStore) -> None:
    job = store.get(new_job(store))
    assert job["status"] == "queued"
    assert job["created_at"].endswith("Z") and job["started_at"] is None
    assert job["spec"]["optimizer"]["name"] == "adam"
    assert job["progress"] == {"step": 0, "total_steps": 300, "fraction": 0.0, "loss": None}


def result_record(redis_url: str, store: JobStore, job_id: str,
                  owner: str | None = None) -> dict:
    """The API's read of a result's record, through an asyncio client of the same Redis."""
    async def read() -> dict:
        async with redis.asyncio.Redis.from_url(redis_url) as client:
            return await store.result_record(client, job_id, owner)
    return asyncio.run(read())


@pytest.mark.parametrize("reader", ["get", "cancel", "result_record"])
def test_unknown_ids_and_other_owners_jobs_are_not_found(store: JobStore, reader: str,
                                                         redis_url: str) -> None:
    job_id = new_job(store, owner="alice")
    read = partial(result_record, redis_url, store) if reader == "result_record" else getattr(store, reader)
    for job, owner in (("no-such-job", "alice"), (job_id, "bob")):
        with pytest.raises(JobNotFound):
            read(job, owner)


def test_the_job_runs_to_the_engine_result_and_is_idempotent(store: JobStore,
                                                            redis_url: str) -> None:
    job_id = new_job(store)
    settings = Settings()
    assert execute_job(store, job_id, settings)["status"] == "succeeded"
    assert execute_job(store, job_id, settings) == {"id": job_id, "status": "succeeded"}
    expected = engine.run_spec(SPEC)
    job = store.get(job_id)
    assert job["summary"]["final"]["loss"] == expected.final["loss"]
    assert job["attempts"] == 1 and job["progress"]["fraction"] == 1.0
    layout = result_record(redis_url, store, job_id)["layout"]
    fields = ("params", "loss", "grad_norm", "lr")
    rows = store.read_trajectory(job_id, layout, None, fields)
    for name, column in expected.trajectory.items():
        np.testing.assert_array_equal(np.concatenate(rows[name]), column)
    picks = np.array([0, 7, 150, 300])
    thinned = store.read_trajectory(job_id, layout, picks, ("loss",))
    assert set(thinned) == {"step", "loss"}
    np.testing.assert_array_equal(np.concatenate(thinned["loss"]), expected.trajectory["loss"][picks])
    # read with the record's head (all of this small result): the same rows, no other read
    head = result_record(redis_url, store, job_id)["head"]
    assert len(head) == layout["points"] * 8 * (2 + 4)
    for picked in (None, picks):
        from_head = store.read_trajectory(job_id, layout, picked, fields, head)
        from_store = store.read_trajectory(job_id, layout, picked, fields)
        for name in from_store:
            np.testing.assert_array_equal(np.concatenate(from_head[name]),
                                          np.concatenate(from_store[name]))
    # the result is stored once, as rows: exactly 8 × (dims + 4) bytes a point
    assert store.redis.strlen(store.result_key(job_id)) == layout["points"] * 8 * (2 + 4)
    # a result that expires before it is read is not found, never a document of nulls
    store.redis.delete(store.result_key(job_id))
    with pytest.raises(JobNotFound):
        store.read_trajectory(job_id, layout, None, fields)


def test_cancelling_a_queued_job_means_it_never_runs(store: JobStore, redis_url: str) -> None:
    job_id = new_job(store)
    assert store.cancel(job_id) == "cancelled_now"
    assert execute_job(store, job_id, Settings())["status"] == "cancelled"
    job = store.get(job_id)
    assert job["status"] == "cancelled" and job["started_at"] is None
    assert result_record(redis_url, store, job_id)["layout"] is None
    assert store.cancel(job_id) == "cancelled"


def test_an_attempt_over_the_cap_fails_the_job_with_the_reason(store: JobStore) -> None:
    job_id = new_job(store)
    settings = Settings(max_attempts=2)
    for _ in range(2):  # two deliveries that died mid-run (claimed, never finished)
        assert store.claim(job_id)[0] == "run"
    execute_job(store, job_id, settings)
    job = store.get(job_id)
    assert job["status"] == "failed" and job["error"]["type"] == "worker_lost"


def test_idempotency_key_same_body_same_job_other_body_conflict(store: JobStore) -> None:
    first = new_job(store, idempotency=("key-1", "hash-a"))
    again, created = store.create(resolved(), owner="test-owner", time_limit_s=60,
                                  idempotency=("key-1", "hash-a"))
    assert (again["id"], created) == (first, False)
    with pytest.raises(IdempotencyConflict):
        store.create(resolved(), owner="test-owner", time_limit_s=60,
                     idempotency=("key-1", "hash-b"))
    other_owner, created = store.create(resolved(), owner="someone-else", time_limit_s=60,
                                        idempotency=("key-1", "hash-b"))
    assert created and other_owner["id"] != first


def test_lists_are_newest_first_filtered_and_paginated(store: JobStore) -> None:
    owner = owner_of("pagination")
    ids = [new_job(store, owner=owner) for _ in range(7)]
    store.cancel(ids[2], owner)
    seen, cursor = [], None
    while True:
        page, cursor = store.list(owner, limit=3, cursor=cursor)
        assert len(page) <= 3
        seen += [job["id"] for job in page]
        if cursor is None:
            break
    assert seen == ids[::-1]
    cancelled, _ = store.list(owner, status="cancelled")
    assert [job["id"] for job in cancelled] == [ids[2]]
    assert store.list(owner_of("nobody"))[0] == []


def test_one_idempotency_key_from_many_threads_at_once_makes_one_job(store: JobStore) -> None:
    """Every caller gets the one job, whole, never an error: the key and the record are
    written by one script, so no caller can see the key before the record exists."""
    owner = owner_of("idempotency-race")
    threads = 32
    barrier = threading.Barrier(threads)

    def submit(_: int) -> tuple[str, bool, str]:
        barrier.wait()
        document, created = store.create(resolved(), owner=owner, time_limit_s=60,
                                          idempotency=("race-key", "hash-a"))
        return document["id"], created, document["status"]

    for round_number in range(8):  # the old two-step create failed ~half such rounds
        store.redis.delete(f"descent:idempotency:{owner}:race-key")
        before = store.redis.zcard(store.index_key(owner))
        with ThreadPoolExecutor(threads) as pool:
            answers = list(pool.map(submit, range(threads)))
        assert len({job_id for job_id, _, _ in answers}) == 1, round_number
        assert sum(created for _, created, _ in answers) == 1
        assert {status for _, _, status in answers} == {"queued"}
        assert store.redis.zcard(store.index_key(owner)) == before + 1


def test_a_job_the_broker_refused_frees_its_idempotency_key(store: JobStore) -> None:
    refused = new_job(store, idempotency=("retry-key", "hash-a"))
    store.mark_unqueued(refused)
    job = store.get(refused)
    assert job["status"] == "failed" and job["error"]["type"] == "queue_unreachable"
    retried, created = store.create(resolved(), owner="test-owner", time_limit_s=60,
                                    idempotency=("retry-key", "hash-a"))
    assert created and retried["id"] != refused and retried["status"] == "queued"
    again, created = store.create(resolved(), owner="test-owner", time_limit_s=60,
                                  idempotency=("retry-key", "hash-a"))
    assert (again["id"], created) == (retried["id"], False)


def test_deleting_a_finished_job_removes_everything_it_stored(store: JobStore) -> None:
    owner = owner_of("deletion")
    job_id = new_job(store, owner=owner, idempotency=("delete-key", "hash-a"))
    assert store.delete(job_id, owner) == "queued"  # unfinished: left alone
    execute_job(store, job_id, Settings())
    with pytest.raises(JobNotFound):
        store.delete(job_id, owner_of("someone else"))
    assert store.delete(job_id, owner) == "deleted"
    for key in (store.job_key(job_id), store.result_key(job_id),
                f"descent:idempotency:{owner}:delete-key"):
        assert not store.redis.exists(key), key
    assert store.redis.zscore(store.index_key(owner), job_id) is None
    with pytest.raises(JobNotFound):
        store.delete(job_id, owner)
    # the key is free again: the same request makes a new job
    again, created = store.create(resolved(), owner=owner, time_limit_s=60,
                                  idempotency=("delete-key", "hash-a"))
    assert created and again["id"] != job_id


def test_a_job_the_broker_refused_while_redis_is_full_is_removed_not_left_queued(
        tmp_path: Path) -> None:
    """A full Redis refuses the broker's LPUSH and then the write that fails the job: the job
    is removed with commands a full Redis still takes (no queued record without a message, no
    Idempotency-Key pointing at it), and the API's answer names the full store."""
    from kombu.exceptions import OperationalError

    from worker.embedded import EmbeddedRedis
    from worker.store.keys import out_of_memory

    server = EmbeddedRedis(tmp_path / "redis", maxmemory="0").start()
    try:
        full = JobStore.from_url(server.url)
        job_id = new_job(full, owner="alice", idempotency=("full-key", "hash"))
        full.redis.config_set("maxmemory", 1)  # every write that needs memory is refused
        with pytest.raises(redis.RedisError) as refused:
            full.redis.hset(full.job_key(job_id), "unqueued", "1")
        assert out_of_memory(refused.value)
        full.mark_unqueued(job_id)
        assert not full.redis.exists(full.job_key(job_id))
        assert full.redis.zscore(full.index_key("alice"), job_id) is None
        assert not full.redis.exists("descent:idempotency:alice:full-key")
        full.redis.config_set("maxmemory", 0)
        again, created = full.create(resolved(), owner="alice", time_limit_s=60,
                                     idempotency=("full-key", "hash"))
        assert created and again["id"] != job_id  # the key is free for the retry
    finally:
        server.stop()
    wrapped = OperationalError("the broker failed")
    wrapped.__cause__ = redis.exceptions.OutOfMemoryError(
        "OOM command not allowed when used memory > 'maxmemory'.")
    assert out_of_memory(wrapped) and not out_of_memory(OperationalError("connection refused"))
