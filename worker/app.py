"""The Celery app, configured from ``Settings``; each reliability setting says why it is there.

``celery -A worker.app worker`` (or ``descent worker``) loads the module-level ``app``, built
from the environment's settings.
"""

from __future__ import annotations

import base64
import gc
import uuid
from typing import Any
from urllib.parse import urlparse

from celery import Celery

from engine import dumps
from worker.settings import Settings, get_settings

SOFT_LIMIT_GRACE_S = 10.0  # the cooperative budget check (in the progress callback) fires first
HARD_LIMIT_GRACE_S = 30.0  # after the soft limit, time to save and report before the kill
# An unacked message is a lease its live worker renews every second (worker.transport); one
# not renewed this long lost its whole worker (SIGKILL, power loss) and is handed out again.
LEASE_S = 20
# Each look for expired leases holds a Redis lock for its few milliseconds; a worker killed
# while holding it would stop every worker's look until it expires (kombu's default: 300 s).
RESTORE_LOCK_S = 5
VISIBILITY_MARGIN_S = 60.0  # other brokers (no leases): visibility = hard limit + this


def freeze_start_up_objects() -> None:
    """Set what a started service process holds (modules, its app, warmed kernels) aside from
    the cyclic garbage collector: it lives as long as the process, and each full collection
    would otherwise walk its ~200,000 objects (~0.1 s), a pause that any request or sweep
    chunk allocating many objects can trigger. Once per process (later calls do nothing)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()


def time_limits(budget_s: float) -> tuple[float, float]:
    """(soft, hard) Celery time limits for a job with this run-time budget.

    The budget itself is enforced cooperatively by the run's progress callback, which stops the
    run, keeps its partial trajectory and fails the job with a clear reason. The soft limit is a
    backstop a little later (a run stuck outside the loop), the hard limit kills the process.
    """
    soft = budget_s + SOFT_LIMIT_GRACE_S
    return soft, soft + HARD_LIMIT_GRACE_S


def enqueue(celery: Celery, settings: Settings, task: str, args: list[Any], task_id: str) -> None:
    """Queue ``task`` for the workers, with the time limits of the settings, at the least cost
    (measured: 0.7 -> 0.5 ms of CPU a task):

    - no Celery result is asked for (outcomes live in the job store): one would subscribe the
      sender to the task's result channel, a round trip and a subscription nobody reads;
    - no queue declaration: the message goes to the queue's Redis list by name whether or not
      a worker has declared the queue yet;
    - no kombu retry loop: a broker that is down fails the request at once (503), as the job
      store does, and redis-py itself still reconnects a dropped connection.
    """
    soft, hard = time_limits(settings.job_time_limit_s)
    celery.send_task(task, args=args, task_id=task_id, queue=settings.queue_name,
                     soft_time_limit=soft, time_limit=hard, ignore_result=True,
                     declare=[], retry=False)


def queued_in_store(settings: Settings) -> bool:
    """Whether the broker is the job store's Redis, through our transport: then a job's message
    is pushed by the script that files the job (``JobStore.create``), in one round trip."""
    return settings.broker == settings.redis_url and urlparse(settings.broker).scheme == "redis"


def broker_message(celery: Celery, settings: Settings, task: str, args: list[Any],
                   task_id: str) -> tuple[str, bytes]:
    """What ``enqueue`` has kombu's Redis transport push for a task, built without a
    publish: the queue's list key and the message (Celery's own task headers, in kombu's
    envelope: a base64 JSON body, the routing in ``delivery_info``, a fresh delivery tag).
    At ~0.1 ms against ``enqueue``'s 0.5 ms of CPU and its own round trip; tests check it
    against what ``enqueue`` pushes."""
    soft, hard = time_limits(settings.job_time_limit_s)
    headers, properties, body, _ = celery.amqp.as_task_v2(
        task_id, task, args, {}, reply_to=celery.thread_oid, time_limit=hard,
        soft_time_limit=soft, ignore_result=True)
    envelope = {
        "body": base64.b64encode(dumps(body)).decode(),
        "content-encoding": "utf-8", "content-type": "application/json", "headers": headers,
        "properties": {**properties, "delivery_mode": 2, "priority": 0,
                       "delivery_info": {"exchange": "", "routing_key": settings.queue_name},
                       "body_encoding": "base64", "delivery_tag": str(uuid.uuid4())},
    }
    return settings.queue_name, dumps(envelope)


def make_celery(settings: Settings) -> Celery:
    """A Celery app for these settings (the broker and result backend are both Redis)."""
    app = Celery("descent", broker=settings.broker, backend=settings.redis_url,
                 include=["worker.tasks"])
    soft, hard = time_limits(settings.job_time_limit_s)
    leased = urlparse(settings.broker).scheme == "redis"  # our transport renews leases
    transport_options = {
        # A message unacked for visibility_timeout is handed to another worker. On our
        # transport live workers renew theirs every second, so a long job still running is
        # never started twice and a dead worker's jobs and sweep chunks come back within
        # LEASE_S; elsewhere the timeout must exceed the hard time limit (minutes).
        "visibility_timeout": LEASE_S if leased else int(hard + VISIBILITY_MARGIN_S),
        # Renew leases and look for expired ones every second (kombu's default sweep runs
        # every 10 × 10 s).
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": RESTORE_LOCK_S,
    }
    if leased:
        app.conf.broker_transport = "worker.transport:Transport"
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue_name,
        # Ack after the job ran, not when it was received: a job whose worker dies mid-run is
        # delivered again instead of being lost.
        task_acks_late=True,
        # ...and that includes a pool process killed outright (SIGKILL, out of memory): the
        # message is rejected and requeued at once. run_job counts attempts and fails a job
        # after max_attempts, so a job that kills its worker cannot loop forever.
        task_reject_on_worker_lost=True,
        # One message at a time per process: long jobs are not hoarded by a busy process while
        # another one idles.
        worker_prefetch_multiplier=1,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        broker_transport_options=transport_options,
        result_backend_transport_options=dict(transport_options),
        # The Celery result is only a small summary (trajectories live in the job store); it
        # expires with the job records instead of Celery's one-day default.
        result_expires=settings.job_ttl_s,
        # One result backend for all threads of a process (the API's request threads), not one
        # built per thread on its first task.
        result_backend_thread_safe=True,
        # Pool processes warm the engine's compiled kernels at start (worker_process_init);
        # give them time to load or compile before the pool declares them dead.
        worker_proc_alive_timeout=180.0,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    app.conf.descent_settings = settings
    return app


app = make_celery(get_settings())
