"""A job queued by the script that files it (``JobStore.create`` with ``broker_message``)
carries the message Celery would publish: same headers, properties and body as ``enqueue``
(kombu's Redis transport) pushes, only the delivery tag differs; it is pushed only when the
job is created, and a real worker runs it (the end-to-end tests post every job this way)."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from engine import resolve_spec
from worker.app import broker_message, enqueue, make_celery, queued_in_store
from worker.settings import Settings
from worker.store import JobStore

TASK = "descent.run_job"


def pushed(client: redis.Redis, queue: str) -> dict[str, Any]:
    raw = client.rpop(queue)
    assert isinstance(raw, bytes)
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_the_message_is_the_one_celery_publishes(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, queue_name="message-check")
    celery = make_celery(settings)
    client = redis.Redis.from_url(redis_url)
    client.delete(settings.queue_name)
    enqueue(celery, settings, TASK, ["job-1"], "job-1")
    by_celery = pushed(client, settings.queue_name)
    queue, message = broker_message(celery, settings, TASK, ["job-1"], "job-1")
    assert queue == settings.queue_name
    client.lpush(queue, message)
    ours = pushed(client, queue)
    assert ours["properties"].pop("delivery_tag") != by_celery["properties"].pop("delivery_tag")
    assert ours == by_celery


def test_a_created_job_is_queued_in_the_same_step_and_an_existing_one_is_not(
        redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, queue_name="create-and-queue")
    assert queued_in_store(settings)
    assert not queued_in_store(Settings(redis_url=redis_url, broker_url="redis://other:6379/1"))
    celery = make_celery(settings)
    store = JobStore.from_url(redis_url, 60)
    client = redis.Redis.from_url(redis_url)
    client.delete(settings.queue_name)

    def message(job_id: str) -> tuple[str, bytes]:
        return broker_message(celery, settings, TASK, [job_id], job_id)

    spec = resolve_spec({"function": "booth", "optimizer": "sgd"}).spec
    document, created = store.create(spec, time_limit_s=60, idempotency=("key", "hash"),
                                     message=message)
    assert created and client.llen(settings.queue_name) == 1
    again, created = store.create(spec, time_limit_s=60, idempotency=("key", "hash"),
                                  message=message)
    assert not created and again["id"] == document["id"]
    assert client.llen(settings.queue_name) == 1
    assert pushed(client, settings.queue_name)["headers"]["id"] == document["id"]
