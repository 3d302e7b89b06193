"""``descent serve``, ``worker`` and ``submit`` (SPEC.md §10): the service's commands.

``serve`` is the whole stack in one command: an embedded Redis (unless ``DESCENT_REDIS_URL``
names one), a Celery worker with N prefork processes, and uvicorn. Ctrl-C or SIGTERM stops
everything it started, Redis last (it flushes its append-only file on the way out).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cli.main import EXIT_BAD_SPEC, EXIT_FAILED, EXIT_OK, read_json

WORKER_STOP_S = 10.0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``worker`` and ``submit`` to the ``descent`` command."""
    serve = commands.add_parser("serve", help="the whole service on this machine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None,
                       help="worker processes (default DESCENT_WORKERS or the core count)")
    serve.set_defaults(handler=command_serve)

    worker = commands.add_parser("worker", help="a Celery worker for the configured Redis")
    worker.add_argument("--concurrency", type=int, default=None,
                        help="pool processes (default DESCENT_WORKERS or the core count)")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(handler=command_worker)

    submit = commands.add_parser("submit", help="send a job spec to a server")
    submit.add_argument("spec", help="the job spec (JSON file, - for stdin)")
    submit.add_argument("--url", default=os.environ.get("DESCENT_URL", "http://127.0.0.1:8000"))
    submit.add_argument("--api-key", default=os.environ.get("DESCENT_API_KEY"),
                        help="sent as 'Authorization: Bearer' (default $DESCENT_API_KEY)")
    submit.add_argument("--wait", action="store_true", help="show progress, fetch the result")
    submit.add_argument("-o", "--output", help="write the result document here (implies --wait)")
    submit.add_argument("--timeout", type=float, default=None, help="give up waiting after s")
    submit.set_defaults(handler=command_submit)

    from cli.sweep_command import register as register_sweep

    register_sweep(commands)


def _stop_worker(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (running jobs finish), then cold (their messages are requeued), then kill."""
    for stop_signal, wait_s in ((signal.SIGTERM, WORKER_STOP_S), (signal.SIGQUIT, 5.0),
                                (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        process.send_signal(stop_signal)
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def command_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from worker.embedded import EmbeddedRedis
    from worker.settings import Settings

    signal.signal(signal.SIGTERM, _raise_interrupt)  # clean up on SIGTERM while starting too
    settings = Settings()
    workers = args.workers or settings.worker_count
    embedded = None
    worker = None
    try:
        redis_url = settings.redis_url
        if not settings.redis_configured:
            embedded = EmbeddedRedis(settings.data_dir).start()
            redis_url = embedded.url
            print(f"descent: embedded Redis on {redis_url}, data in {embedded.data_dir}",
                  file=sys.stderr)
        environment = dict(os.environ, DESCENT_REDIS_URL=redis_url)
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", "--concurrency", str(workers),
             "--loglevel", "warning"], env=environment,
        )
        app_settings = Settings(redis_url=redis_url)
        from api.app import create_app

        print(f"descent: {workers} worker process(es); API on http://{args.host}:{args.port}",
              file=sys.stderr)
        uvicorn.run(create_app(app_settings), host=args.host, port=args.port, log_level="warning")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if worker is not None:
            _stop_worker(worker)
        if embedded is not None:
            embedded.stop()
        print("descent: stopped", file=sys.stderr)
    return EXIT_OK


def command_worker(args: argparse.Namespace) -> int:
    from worker.settings import get_settings
    from worker.tasks import app  # registers run_job and the worker signals

    settings = get_settings()
    concurrency = args.concurrency or settings.worker_count
    app.worker_main(argv=[
        "worker", "--pool", "prefork", "--concurrency", str(concurrency),
        "--loglevel", args.loglevel, "--queues", settings.queue_name,
        "--hostname", f"descent-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
    ])
    return EXIT_OK


def _problem_text(response: Any) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text
    if isinstance(detail, list):
        return "\n".join(f"  - {'.'.join(str(p) for p in entry['loc'][1:]) or '(spec)'}: "
                         f"{entry['msg']}" for entry in detail)
    return str(detail)


def command_submit(args: argparse.Namespace) -> int:
    import httpx

    from cli.main import format_summary
    from cli.progress import ProgressBar

    spec = read_json(args.spec)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    with httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=60) as client:
        response = client.post("/v1/jobs", json=spec)
        if response.status_code == 422:
            print("The spec is invalid:\n" + _problem_text(response), file=sys.stderr)
            return EXIT_BAD_SPEC
        if response.status_code != 202:
            print(f"descent: {response.status_code}: {_problem_text(response)}", file=sys.stderr)
            return EXIT_FAILED
        job = response.json()
        location = response.headers["Location"]
        print(f"job {job['id']} {job['status']} ({args.url.rstrip('/')}{location})",
              file=sys.stderr)
        if not (args.wait or args.output):
            print(job["id"])
            return EXIT_OK
        bar = ProgressBar(enabled=sys.stderr.isatty())
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        try:
            while job["status"] in ("queued", "running"):
                if deadline is not None and time.monotonic() > deadline:
                    print(f"\ndescent: gave up waiting for job {job['id']}", file=sys.stderr)
                    return EXIT_FAILED
                time.sleep(0.2)
                job = client.get(location).json()
                bar.update(SimpleNamespace(**job["progress"]))
        finally:
            bar.close()
        if job["status"] == "failed" and job.get("error"):
            print(f"job {job['id']} failed: {job['error'].get('message')}", file=sys.stderr)
        result = client.get(f"{location}/result")
        if result.status_code == 200:
            if args.output:
                Path(args.output).write_bytes(result.content)
            print(format_summary(result.json(), job["spec"]))
        return EXIT_OK if job["status"] == "succeeded" else EXIT_FAILED
