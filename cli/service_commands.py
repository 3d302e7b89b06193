"""``descent serve``, ``worker`` and ``submit`` (docs/spec.md §10): the service's commands.

``serve`` is the whole stack in one command: an embedded Redis (unless ``DESCENT_REDIS_URL``
names one), a Celery worker with N prefork processes, and uvicorn. A worker that stops by
itself (Celery gives up on a broker error it cannot recover from, such as a full Redis
refusing an ack) is started again: its unacked jobs come back to it when their leases run out.
Ctrl-C or SIGTERM stops everything it started, Redis last (it flushes its append-only file on
the way out).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

from cli.errors import EXIT_FAILED, EXIT_OK, CommandError
from cli.submit_command import command_submit

WORKER_STOP_S = 10.0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``worker`` and ``submit`` to the ``descent`` command."""
    serve = commands.add_parser(
        "serve", help="the whole service on this machine",
        description="Run the whole service on this machine: the API and web page, Celery "
        "workers and, unless DESCENT_REDIS_URL names one, an embedded Redis that keeps its data "
        "in DESCENT_DATA_DIR (default ./data). Ctrl-C stops it all.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                       "127.0.0.1: this machine only; 0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes (default DESCENT_WORKERS or the core count)")
    serve.set_defaults(handler=command_serve)

    worker = commands.add_parser(
        "worker", help="a worker for the Redis named by DESCENT_REDIS_URL",
        description="Run a Celery worker that takes jobs and sweeps from the Redis named by "
        "DESCENT_REDIS_URL: start more of these, on any machine, to scale out. Ctrl-C lets "
        "running jobs finish, then stops.",
    )
    worker.add_argument("--concurrency", type=int, default=None, metavar="N",
                        help="pool processes (default DESCENT_WORKERS or the core count)")
    worker.add_argument("--loglevel", default="info",
                        choices=["debug", "info", "warning", "error", "critical"],
                        help="how much the worker logs (default info)")
    worker.add_argument("--name", default=None, metavar="NAME@HOST",
                        help="this worker's node name; %%h stands for the host name "
                        "(default descent-PID@%%h)")
    worker.set_defaults(handler=command_worker)

    submit = commands.add_parser(
        "submit", help="send a job spec to a server",
        description="Send a job spec to a descent server and print the job id; with --wait, "
        "show its progress and print a summary of the result.",
    )
    submit.add_argument("spec", metavar="SPEC.json",
                        help="the job spec (a JSON file; - reads stdin)")
    submit.add_argument("--url", default=os.environ.get("DESCENT_URL", "http://127.0.0.1:8000"),
                        help="the server (default $DESCENT_URL or http://127.0.0.1:8000)")
    submit.add_argument("--api-key", default=os.environ.get("DESCENT_API_KEY"),
                        help="sent as 'Authorization: Bearer KEY' (default $DESCENT_API_KEY)")
    submit.add_argument("--wait", action="store_true",
                        help="show progress until the job ends, then print a summary")
    submit.add_argument("-o", "--output", metavar="OUT.json",
                        help="write the result document here (implies --wait)")
    submit.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up waiting after this many seconds (exit 1)")
    submit.set_defaults(handler=command_submit)


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


class SupervisedWorker:
    """``descent worker`` as a child process, started again whenever it stops by itself."""

    RESTART_DELAY_S = 1.0

    def __init__(self, command: list[str], environment: dict[str, str]) -> None:
        self.command, self.environment = command, environment
        self.stopping = threading.Event()
        self.process = self._start()
        self.restarts = 0
        threading.Thread(target=self._watch, name="descent-worker-watch", daemon=True).start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command, env=self.environment)

    def _watch(self) -> None:
        while True:
            code = self.process.wait()
            if self.stopping.wait(self.RESTART_DELAY_S):
                return
            self.restarts += 1
            print(f"descent: the worker stopped by itself (exit {code}); starting it again",
                  file=sys.stderr)
            self.process = self._start()

    def stop(self) -> None:
        self.stopping.set()
        _stop_worker(self.process)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def load_settings(**values: Any) -> Any:
    """The service's settings from the environment, or a ``CommandError`` naming the variable
    that is wrong."""
    from pydantic import ValidationError

    from worker.settings import Settings

    try:
        return Settings(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"DESCENT_{'_'.join(str(part) for part in entry['loc']).upper()}: {entry['msg']}"
            for entry in error.errors()
        )
        raise CommandError(f"bad setting in the environment: {problems}") from None


def _check_port_free(host: str, port: int) -> None:
    """Fail before starting anything when uvicorn could not listen on ``host:port``."""
    if not 0 < port < 65536:
        raise CommandError(f"--port {port}: a port is a number from 1 to 65535")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        if isinstance(error, socket.gaierror) or (error.errno or 0) < 0:  # a name lookup error
            raise CommandError(f"--host {host}: not an address of this machine") from None
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise CommandError(f"cannot listen on {host}:{port}: {reason} "
                           "(another server there? choose one with --port)", EXIT_FAILED) from None


def command_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from worker.embedded import EmbeddedRedis

    settings = load_settings()
    workers = settings.worker_count if args.workers is None else args.workers
    if workers < 1:
        raise CommandError(f"--workers {workers}: at least 1")
    _check_port_free(args.host, args.port)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # clean up on SIGTERM while starting too
    embedded = None
    worker = None
    try:
        redis_url = settings.redis_url
        if not settings.redis_configured:
            try:
                embedded = EmbeddedRedis(settings.data_dir,
                                         maxmemory=settings.redis_maxmemory).start()
            except (OSError, RuntimeError) as error:
                raise CommandError(f"cannot start the embedded Redis in {settings.data_dir}: "
                                   f"{error}", EXIT_FAILED) from None
            redis_url = embedded.url
            print(f"descent: embedded Redis on {redis_url}, data in {embedded.data_dir}",
                  file=sys.stderr)
        environment = dict(os.environ, DESCENT_REDIS_URL=redis_url)
        worker = SupervisedWorker(
            [sys.executable, "-m", "cli", "worker", "--concurrency", str(workers),
             "--loglevel", "warning"], environment,
        )
        app_settings = load_settings(redis_url=redis_url)
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
            worker.stop()
        if embedded is not None:
            embedded.stop()
        if worker is not None or embedded is not None:
            print("descent: stopped", file=sys.stderr)
    return EXIT_OK


def command_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    concurrency = settings.worker_count if args.concurrency is None else args.concurrency
    if concurrency < 1:
        raise CommandError(f"--concurrency {concurrency}: at least 1")
    from worker.tasks import app  # registers run_job and the worker signals

    app.worker_main(argv=[
        "worker", "--pool", "prefork", "--concurrency", str(concurrency),
        "--loglevel", args.loglevel, "--queues", settings.queue_name,
        "--hostname", args.name or f"descent-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle",
    ])
    return EXIT_OK

