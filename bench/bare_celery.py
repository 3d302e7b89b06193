"""The baseline of ``bench.service``: a bare Celery app, none of the project's code, configured
as the project's workers are where it matters for a round trip (late acks, prefetch 1, JSON),
with one no-op task.

Its worker is started by the bench (``python -m celery -A bench.bare_celery worker``) on the
bench's own Redis, in database 1: kombu's Redis transport keeps the unacked messages of every
queue of a database in the same two keys, and the project's transport restores the messages
whose lease was not renewed there, so the two apps share the Redis server, not the database.
Broker and result backend: ``BENCH_BARE_REDIS_URL``.
"""

from __future__ import annotations

import os

from celery import Celery

QUEUE = "bare"
NOOP = "bare.noop"


def make_app(url: str) -> Celery:
    app = Celery("bare", broker=url, backend=url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.task(name=NOOP)(noop)
    return app


def noop() -> None:
    return None


app = make_app(os.environ.get("BENCH_BARE_REDIS_URL", "redis://127.0.0.1:6379/1"))
