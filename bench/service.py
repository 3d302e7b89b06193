"""Service speed on the user's path (issue 11), against a bare Celery app on the same Redis.

Started by the bench itself: an embedded Redis, the project's worker (2 prefork processes) and
API (uvicorn), and a bare Celery worker (``bench.bare_celery``: no project code, late acks,
prefetch 1, 2 prefork processes, a no-op task) in another database of the same Redis.

Rows (every one printed with its figure, target and ratio, in one run):

- bare Celery, measured beside each client's figures so that a busy machine slows both alike:
  ``apply_async`` + ``.get()`` round trip p50 (in turns with the tiny job's rounds), and 1,000
  no-op tasks posted from 16 threads, each thread then awaiting its own (tasks/s; just before
  the client's own 1,000 jobs);
- for each HTTP client, a lean stdlib one (the service's own cost: it takes little of the CPU
  the service also needs on a small machine) and httpx (what a Python user writes):

  - ``GET /healthz`` p50, the floor of one request;
  - ``POST /v1/jobs`` of the tiny job (Adam, 200 steps, 2-D Rosenbrock: 201 points) p50, and
    its excess over ``/healthz`` (target ≤ 1.5 ms), both over the hot floor and over a
    ``/healthz`` taken after the same pause as the POST (each POST follows a bare Celery round
    trip and a 10 ms pause; a request after a pause pays for waking the processes);
  - POST → whole result (``GET /v1/jobs/{id}/result?wait=30``, no ``max_points``) p50 and its
    ratio to the bare Celery round trip (target ≤ 2×);
  - small GETs of a finished tiny job and the catalogue (job document, the 201-point result,
    ``/v1/functions/rosenbrock``), interleaved with ``/healthz``: each p50 over the floor
    (target ≤ 1 ms);
  - 1,000 tiny jobs posted from 16 threads, each thread then awaiting its own with
    ``GET /result?wait=30`` (whole result): jobs/s and the ratio to bare Celery (target ≥ 0.7×);
    the same with ``max_points=2`` (the old measure, no target); CPU per job of each process;
  - a 1,000,000-point 2-D result: whole JSON (target < 300 ms; p50 of five) and
    ``max_points=1000`` (target < 5 ms; p50 of thirty);

- result formats and ``import descent`` (issue 12): the 1,000,000-point result as Arrow
  (target < 60 ms) beside JSON, read into NumPy by ``descent.Client`` (target < 100 ms), and
  ``descent.Client``'s round trip of the tiny job over raw httpx doing the same (target
  < 0.3 ms more);
- Redis ``MEMORY USAGE`` of a finished job's keys (``descent:job:{id}`` and
  ``descent:result:{id}``) per stored 2-D point, for the 1,000,000-point job (target ≤ 56 B) and
  the tiny one.

``--profile DIR`` then runs the 1,000-job load once more (lean client) under py-spy (``pip
install py-spy``) on the API, the worker's main process and one of its pool processes, keeps
the raw stacks in DIR and prints the top functions of each, by own and by inclusive samples.

Run: ``python -m bench.service [--profile DIR]``. Starts everything it needs; stops it after.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

import httpx
import redis

from bench.bare_celery import NOOP, QUEUE, make_app
from tests.conftest import ROOT, start_api, start_worker, stop, wait_for
from worker.embedded import EmbeddedRedis, free_port
from worker.store import JobStore
from worker.store.keys import job_key, result_key

TINY = {"function": "rosenbrock", "optimizer": "adam", "learning_rate": 0.01, "max_steps": 200}
TINY_BODY = json.dumps(TINY).encode()
TINY_POINTS = 201
BIG = {"function": "rosenbrock", "optimizer": "sgd", "learning_rate": 1e-4, "max_steps": 999_999}
BIG_POINTS = 1_000_000
THREADS = 16
BURST = 1000
ROUNDS = 200  # small requests, interleaved
LATENCY_ROUNDS = 100  # POST → whole result
BIG_READS = 5
THIN_READS = 30
WAIT = "wait=30"
# Between two round trips: a worker still acknowledging the last task (it answers first, acks
# after) would otherwise slow the next round trip, whichever app it belongs to.
SETTLE_S = 0.01

T = TypeVar("T")


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


# ---------------------------------------------------------------------------------------------
# The table


@dataclass
class Row:
    """One figure. ``limit`` is the target on ``ratio`` (``ratio`` is the figure over the bare
    Celery figure for relative targets, over the target itself for absolute ones); ``at_most``
    says which side of it meets the target. Rows without a limit are information."""

    name: str
    client: str
    figure: float
    unit: str
    target: str = ""
    ratio: float | None = None
    limit: float | None = None
    at_most: bool = True

    @property
    def verdict(self) -> str:
        if self.ratio is None or self.limit is None:
            return ""
        met = self.ratio <= self.limit if self.at_most else self.ratio >= self.limit
        return "ok" if met else "MISSED"


def ms_row(name: str, client: str, seconds: float, limit_ms: float | None = None) -> Row:
    """A time; with ``limit_ms``, the target ``≤ limit_ms`` and the ratio figure / limit."""
    figure = seconds * 1e3
    if limit_ms is None:
        return Row(name, client, figure, "ms")
    return Row(name, client, figure, "ms", f"≤ {limit_ms:g} ms", figure / limit_ms, 1.0)


def print_table(rows: list[Row]) -> None:
    width = max(len(row.name) for row in rows)
    print(f"{'measure':<{width}}  {'client':<11}  {'figure':>14}  {'target':<18}  "
          f"{'ratio':>7}")
    for row in rows:
        digits = 2 if row.unit == "ms" and row.figure < 100 else 0 if row.figure >= 100 else 1
        figure = f"{row.figure:.{digits}f} {row.unit}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}×"
        print(f"{row.name:<{width}}  {row.client:<11}  {figure:>14}  {row.target:<18}  "
              f"{ratio:>7}  {row.verdict}".rstrip())
    print("ratio: to bare Celery where the target says so, else figure ÷ target (≤ 1 meets it)")


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc (Linux): which process spends the machine's two cores


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


class CpuMeter:
    """CPU seconds spent by named process trees (and this process) over a ``with`` block."""

    def __init__(self, trees: dict[str, int]) -> None:
        self.pids = {name: descendants(pid) for name, pid in trees.items()}
        self.pids["bench (clients)"] = [os.getpid()]
        self.spent: dict[str, float] = {}

    def total(self) -> dict[str, float]:
        return {name: sum(map(cpu_seconds, pids)) for name, pids in self.pids.items()}

    def __enter__(self) -> Self:
        self.start = self.total()
        return self

    def __exit__(self, *_: object) -> None:
        end = self.total()
        self.spent = {name: end[name] - self.start[name] for name in end}

    def per_item(self, count: int) -> float:
        """CPU seconds of all the processes per item of a burst of ``count``."""
        return sum(self.spent.values()) / count

    def rows(self, client: str, count: int, baseline: CpuMeter | None = None) -> list[Row]:
        """One row a process, and one for all of them; with ``baseline``, the ratio of all to
        the baseline's all (on a CPU-bound quiet machine, about the inverse of the ratio of
        the throughputs, however busy the machine was during the bursts)."""
        rows = [Row(f"  CPU per job: {name}", client, seconds / count * 1e3, "ms")
                for name, seconds in self.spent.items()]
        ratio = None if baseline is None else self.per_item(count) / baseline.per_item(count)
        rows.append(Row("  CPU per job: all", client, self.per_item(count) * 1e3, "ms",
                        "" if baseline is None else "(÷ bare's)", ratio))
        return rows


# ---------------------------------------------------------------------------------------------
# Load from many threads


def burst(post: Callable[[], T], finish: Callable[[T], None], warm: Callable[[], None],
          count: int = BURST, threads: int = THREADS) -> float:
    """``count`` items over ``threads`` threads, each posting its share and then finishing
    (awaiting) each of its own; the rate from the moment all threads are warm (``warm`` runs
    once in each thread first: connections opened, clients built) until the last one ends."""
    shares = [count // threads + (i < count % threads) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def run(share: int) -> None:
        try:
            try:
                warm()
            finally:
                barrier.wait()
            handles = [post() for _ in range(share)]
            for handle in handles:
                finish(handle)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    workers = [threading.Thread(target=run, args=(share,), daemon=True) for share in shares]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return count / elapsed


# ---------------------------------------------------------------------------------------------
# Bare Celery


def start_bare_worker(url: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "BENCH_BARE_REDIS_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.bare_celery", "worker", "--pool",
         "prefork", "--concurrency", "2", "--queues", QUEUE, "--loglevel", "warning",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
    )


class BareCelery:
    """The bare app's no-op task: round trips (``apply_async`` + ``.get()``) and bursts."""

    def __init__(self, url: str, trees: dict[str, int]) -> None:
        self.app = make_app(url)
        self.noop = self.app.tasks[NOOP]
        self.trees = trees
        self.noop.apply_async().get(timeout=120)  # the worker is up
        for _ in range(20):
            self.noop.apply_async().get(timeout=10)

    def round_trip(self) -> float:
        start = time.perf_counter()
        self.noop.apply_async().get(timeout=10)
        return time.perf_counter() - start

    def throughput(self) -> tuple[float, CpuMeter]:
        """``BURST`` no-ops from ``THREADS`` threads, each awaiting its own; the CPU spent."""
        def warm() -> None:  # each thread builds its own result backend on first use
            self.noop.apply_async().get(timeout=30)

        with CpuMeter(self.trees) as meter:
            rate = burst(self.noop.apply_async, lambda result: result.get(timeout=60), warm)
        return rate, meter


# ---------------------------------------------------------------------------------------------
# HTTP clients


class LeanClient:
    """A load generator: stdlib ``http.client``, one keep-alive connection per thread. It costs a
    fraction of httpx's CPU, which on a small machine competes with the service for the same
    cores; the figures are then the service's own (both clients are reported)."""

    name = "http.client"

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server closed the connection while it idled (uvicorn keeps one 5 s):
                # the request never reached it; send it again on a new one, as httpx does.
                connection.close()
        connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()


class HttpxClient:
    """httpx, as a user writes it: one ``httpx.Client`` (its pool shared by the threads)."""

    name = "httpx"

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        response = self.http.request(method, path, content=body, headers=headers)
        return response.status_code, response.content


Client = LeanClient | HttpxClient


def submit(client: Client, body: bytes = TINY_BODY) -> str:
    status, answer = client.request("POST", "/v1/jobs", body)
    assert status == 202, (status, answer[:300])
    return str(json.loads(answer)["id"])


def fetch(client: Client, path: str) -> bytes:
    status, answer = client.request("GET", path)
    assert status == 200, (path, status, answer[:300])
    return answer


def whole_result(client: Client, job_id: str, query: str = WAIT) -> bytes:
    answer = fetch(client, f"/v1/jobs/{job_id}/result?{query}")
    return answer


def latency(client: Client, bare: BareCelery) -> tuple[float, float, float, float, float, str]:
    """POST, then one ``GET /result?wait=30`` (whole result) answered as soon as the job has
    finished, each round after a bare Celery round trip (machine noise hits both alike) and a
    ``/healthz`` taken after the same pause as the POST (a request after an idle moment pays
    for waking the processes, which a request hot on the heels of another does not): p50 of
    the POST, of the wait, of the two, of the bare round trip and of that ``/healthz``, and
    the last job's id."""
    posts, waits, totals, bare_times, floors = [], [], [], [], []
    job_id = ""
    for _ in range(LATENCY_ROUNDS + 10):
        bare_times.append(bare.round_trip())
        time.sleep(SETTLE_S)
        start = time.perf_counter()
        fetch(client, "/healthz")
        floors.append(time.perf_counter() - start)
        time.sleep(SETTLE_S)
        start = time.perf_counter()
        job_id = submit(client)
        posted = time.perf_counter()
        answer = whole_result(client, job_id)
        end = time.perf_counter()
        assert len(json.loads(answer)["trajectory"]["step"]) == TINY_POINTS
        time.sleep(SETTLE_S)
        posts.append(posted - start)
        waits.append(end - posted)
        totals.append(end - start)
    return (p50(posts[10:]), p50(waits[10:]), p50(totals[10:]), p50(bare_times[10:]),
            p50(floors[10:]), job_id)


def small_requests(client: Client, job_id: str) -> dict[str, float]:
    """p50 of each small GET, taken in turns so that drift hits them alike."""
    paths = {
        "GET /healthz": "/healthz",
        "GET /v1/jobs/{id}": f"/v1/jobs/{job_id}",
        "GET /v1/jobs/{id}/result (201 points)": f"/v1/jobs/{job_id}/result",
        "GET /v1/functions/rosenbrock": "/v1/functions/rosenbrock",
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(ROUNDS + 20):
        for name, path in paths.items():
            start = time.perf_counter()
            fetch(client, path)
            if round_ >= 20:
                times[name].append(time.perf_counter() - start)
    return {name: p50(samples) for name, samples in times.items()}


def throughput(client: Client, query: str) -> float:
    """``BURST`` tiny jobs from ``THREADS`` threads, each thread then awaiting its own."""
    def warm() -> None:
        fetch(client, "/healthz")

    def finish(job_id: str) -> None:
        whole_result(client, job_id, query)

    return burst(lambda: submit(client), finish, warm)


def big_result(client: Client, job_id: str) -> tuple[float, float, int]:
    """p50 of the whole 1,000,000-point result (``BIG_READS`` reads) and of ``max_points=1000``
    (``THIN_READS``, taken first: a thin read right after a whole one takes ~20 ms longer, in
    the API process, not in Redis), and the whole answer's size."""
    thin = []
    for _ in range(THIN_READS + 3):
        start = time.perf_counter()
        fetch(client, f"/v1/jobs/{job_id}/result?max_points=1000")
        thin.append(time.perf_counter() - start)
    full = []
    size = 0
    for _ in range(BIG_READS):
        start = time.perf_counter()
        size = len(fetch(client, f"/v1/jobs/{job_id}/result"))
        full.append(time.perf_counter() - start)
    return p50(full), p50(thin[3:]), size


def formats_and_client(url: str, big_id: str) -> list[Row]:
    """The result formats and ``import descent`` (issue 12): the 1,000,000-point result as an
    Arrow stream (the answer's whole time: it is mostly the server's) and read into NumPy by
    ``descent.Client``, against the same result in JSON; and ``descent.Client`` against raw
    httpx doing the same work on the tiny job (POST, ``GET /result?wait=30`` as Arrow, read
    into NumPy), rounds in turns."""
    import descent
    from descent.results import result_from_arrow

    arrow = {"Accept": "application/vnd.apache.arrow.stream"}
    with httpx.Client(base_url=url, timeout=60) as http, descent.Client(url) as client:
        job = client.job(big_id)

        def timed(action: Callable[[], object], rounds: int = BIG_READS) -> float:
            samples = []
            for _ in range(rounds):
                start = time.perf_counter()
                action()
                samples.append(time.perf_counter() - start)
            return p50(samples)

        json_s = timed(lambda: http.get(f"/v1/jobs/{big_id}/result").content)
        arrow_s = timed(lambda: http.get(f"/v1/jobs/{big_id}/result", headers=arrow).content)
        numpy_s = timed(job.result)

        def raw_round() -> None:
            job_id = http.post("/v1/jobs", content=TINY_BODY,
                               headers={"Content-Type": "application/json"}).json()["id"]
            answer = http.get(f"/v1/jobs/{job_id}/result?{WAIT}", headers=arrow)
            result_from_arrow(answer.content)

        def client_round() -> None:
            client.submit(TINY).result()

        raw: list[float] = []
        wrapped: list[float] = []
        for _ in range(LATENCY_ROUNDS):
            for action, samples in ((raw_round, raw), (client_round, wrapped)):
                start = time.perf_counter()
                action()
                samples.append(time.perf_counter() - start)
                time.sleep(SETTLE_S)
    return [
        ms_row("1,000,000-pt result, JSON (httpx)", "httpx", json_s),
        Row("1,000,000-pt result, Arrow (httpx)", "httpx", arrow_s * 1e3, "ms", "< 60 ms",
            arrow_s * 1e3 / 60, 1.0),
        Row("  Arrow ÷ JSON", "httpx", arrow_s / json_s, "×"),
        Row("1,000,000-pt result into NumPy, descent.Client", "descent", numpy_s * 1e3, "ms",
            "< 100 ms", numpy_s * 1e3 / 100, 1.0),
        ms_row("tiny job round trip, raw httpx (Arrow)", "httpx", p50(raw)),
        ms_row("tiny job round trip, descent.Client", "descent", p50(wrapped)),
        ms_row("  descent.Client − raw httpx", "descent", p50(wrapped) - p50(raw), 0.3),
    ]


def bytes_per_point(client: redis.Redis, job_id: str, points: int) -> float:
    """``MEMORY USAGE`` (exact: every element sampled) of a finished job's keys, per point."""
    used = sum(int(client.memory_usage(key, samples=0) or 0)
               for key in (job_key(job_id), result_key(job_id)))
    return used / points


def client_rows(client: Client, bare: BareCelery, big_id: str,
                trees: dict[str, int]) -> tuple[list[Row], str]:
    """Every HTTP row of one client, each ratio against bare Celery measured beside it."""
    name = client.name
    post, wait, total, bare_rtt, idle_floor, tiny_id = latency(client, bare)
    small = small_requests(client, tiny_id)
    floor = small["GET /healthz"]
    bare_rate, bare_meter = bare.throughput()
    with CpuMeter(trees) as meter:
        rate = throughput(client, WAIT)
    thin_rate = throughput(client, f"max_points=2&{WAIT}")
    full, thin, size = big_result(client, big_id)
    rows = [
        ms_row("GET /healthz (floor)", name, floor),
        ms_row("POST /v1/jobs (tiny)", name, post),
        ms_row("POST /v1/jobs − healthz", name, post - floor, 1.5),
        ms_row("GET /healthz after the POST's pause", name, idle_floor),
        ms_row("POST /v1/jobs − that healthz", name, post - idle_floor, 1.5),
        ms_row("GET /result?wait=30 after the POST", name, wait),
        ms_row("bare Celery round trip, in turns", name, bare_rtt),
        Row("POST → whole result (tiny)", name, total * 1e3, "ms", "≤ 2× bare RTT",
            total / bare_rtt, 2.0),
    ]
    for path, seconds in small.items():
        if path != "GET /healthz":
            rows.append(ms_row(path, name, seconds))
            rows.append(ms_row("  − healthz", name, seconds - floor, 1.0))
    rows += [
        Row(f"bare Celery, {BURST} no-ops, {THREADS} threads", name, bare_rate, "/s"),
        *bare_meter.rows(name, BURST),
        Row(f"{BURST} tiny jobs, {THREADS} threads, whole", name, rate, "/s",
            "≥ 0.7× bare", rate / bare_rate, 0.7, at_most=False),
        *meter.rows(name, BURST, bare_meter),
        Row(f"{BURST} tiny jobs, awaited max_points=2", name, thin_rate, "/s", "",
            thin_rate / bare_rate),
        ms_row(f"1,000,000-pt result, JSON ({size / 1e6:.0f} MB)", name, full, 300),
        ms_row("1,000,000-pt result, max_points=1000", name, thin, 5),
    ]
    return rows, tiny_id


# ---------------------------------------------------------------------------------------------
# Profiles (py-spy)


def pool_processes(pid: int) -> list[int]:
    return [child for child in descendants(pid) if child != pid]


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def profile(client: LeanClient, targets: dict[str, int], out: Path) -> None:
    """The 1,000-job load again, with py-spy sampling each target process; prints the top
    functions of each."""
    spy = py_spy()
    if spy is None:
        print("--profile: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return
    out.mkdir(parents=True, exist_ok=True)
    recorders = {
        name: subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw",
                                "--output", str(out / f"{name}.txt"), "--rate", "100",
                                "--function", "--gil", "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, pid in targets.items()
    }
    time.sleep(1.0)  # py-spy attaches
    rate = throughput(client, WAIT)
    for recorder in recorders.values():
        recorder.send_signal(signal.SIGINT)
    for recorder in recorders.values():
        recorder.wait(30)
    print(f"\nprofiled load: {rate:.0f} jobs/s under py-spy; raw stacks in {out}")
    for name in targets:
        path = out / f"{name}.txt"
        if path.exists():
            print_profile(name, path)


PROJECT = ("api/", "worker/", "engine/")


def frame_package(frame: str) -> str:
    """``name (redis/connection.py:12)`` -> ``redis``; the project's own packages by module."""
    where = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    if where.startswith(PROJECT):
        return where
    return where.split("/", 1)[0] if "/" in where else f"stdlib {where}"


def print_profile(name: str, path: Path, top: int = 15) -> None:
    """The functions that held the GIL most (own samples), the same by package, and the
    project's functions by inclusive samples (their callees counted)."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        packages[frame_package(frames[-1])] += count
        for frame in set(frames):
            if frame_package(frame).startswith(PROJECT):
                inclusive[frame] += count
    print(f"\n{name}: {total} samples holding the GIL")
    for title, counter in (("own samples", own), ("own samples by package", packages),
                           ("inclusive samples, project code", inclusive)):
        print(f"  top {top} by {title}:")
        for frame, count in counter.most_common(top):
            print(f"    {100 * count / max(total, 1):5.1f}%  {frame}")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.service", description=__doc__
                                     and __doc__.splitlines()[0])
    parser.add_argument("--profile", type=Path, metavar="DIR", help="then profile the 1,000-job "
                        "load with py-spy, keeping the raw stacks in DIR")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    load = os.getloadavg()[0]  # before this bench adds its own
    with tempfile.TemporaryDirectory() as data_dir, EmbeddedRedis(data_dir) as redis_server:
        store = JobStore.from_url(redis_server.url)
        bare_url = redis_server.url.rsplit("/", 1)[0] + "/1"
        bare_worker = start_bare_worker(bare_url)
        worker = start_worker(redis_server.url, concurrency=2)
        port = free_port()
        api = start_api(redis_server.url, port)
        assert redis_server.process is not None
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: store.live_workers() > 0, timeout=120, message="the worker")
            wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=60,
                     message="the API")
            redis_pid = redis_server.process.pid
            bare = BareCelery(bare_url, {"bare worker": bare_worker.pid, "redis": redis_pid})
            trees = {"API": api.pid, "worker": worker.pid, "redis": redis_pid}
            lean = LeanClient(port)
            big_id = submit(lean, json.dumps(BIG).encode())
            whole_result(lean, big_id, "max_points=2&wait=60")
            with httpx.Client(base_url=url, timeout=60) as http:
                tiny_id = ""
                for client in (lean, HttpxClient(http)):
                    client_figures, tiny_id = client_rows(client, bare, big_id, trees)
                    rows += client_figures
            rows += formats_and_client(url, big_id)
            big_bytes = bytes_per_point(store.redis, big_id, BIG_POINTS)
            tiny_bytes = bytes_per_point(store.redis, tiny_id, TINY_POINTS)
            rows += [Row("Redis bytes per 2-D point, 1M-pt job", "", big_bytes, "B", "≤ 56 B",
                         big_bytes / 56, 1.0),
                     Row("Redis bytes per 2-D point, tiny job", "", tiny_bytes, "B")]
            print(f"load average when the bench started: {load:.1f} on {os.cpu_count()} cores "
                  "(the targets are for a quiet machine)")
            print_table(rows)
            if args.profile is not None:
                pool = pool_processes(worker.pid)
                targets = {"api": api.pid, "worker-main": worker.pid}
                if pool:
                    targets["worker-pool"] = pool[0]
                profile(lean, targets, args.profile)
        finally:
            stop(api)
            stop(worker)
            stop(bare_worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
