"""``descent submit`` and ``descent worker`` against the real stack (tests/conftest.py: Redis, a
Celery worker, uvicorn over HTTP), with and without their options; the server's error answers
and Ctrl-C are one line each. ``descent serve`` is tests/e2e/test_serve.py's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from tests.cli.commands import ROOT, assert_one_line_error, descent, interrupted_on_a_terminal
from tests.conftest import api_healthy, service_env, start_api, stop, wait_for
from worker.embedded import EmbeddedRedis, free_port

JOB = {"function": "himmelblau", "optimizer": "adam", "learning_rate": 0.05, "max_steps": 300}
LONG_JOB = {"function": "rosenbrock", "optimizer": "adam", "max_steps": 10_000_000,
            "record_every": 1_000_000}


def spec_file(tmp_path: Path, spec: dict[str, Any], name: str = "job.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def test_submit_without_options_prints_the_job_id(api_url: str, http: Any,
                                                  tmp_path: Path) -> None:
    environment = dict(os.environ, DESCENT_URL=api_url)  # the server, from the environment
    done = descent("submit", spec_file(tmp_path, JOB), env=environment)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert http.get(f"/v1/jobs/{job_id}").status_code == 200
    assert done.stderr == ""  # no terminal: the id on stdout is the whole answer


def test_submit_wait_and_output_print_the_summary_and_write_the_result(
    api_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    done = descent("submit", spec_file(tmp_path, JOB), "--url", api_url, "--wait",
                   "--timeout", "120", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "stop_reason   max_steps after 300 steps" in done.stdout
    assert "function      himmelblau" in done.stdout
    assert json.loads(out.read_text())["steps"] == 300


def test_submit_gives_up_after_its_timeout(api_url: str, http: Any, tmp_path: Path) -> None:
    done = descent("submit", spec_file(tmp_path, LONG_JOB), "--url", api_url, "--wait",
                   "--timeout", "0.5")
    line = assert_one_line_error(done, 1, "gave up waiting after 0.5 s")
    job_id = line.split("job ")[1].split()[0]
    http.delete(f"/v1/jobs/{job_id}")


def test_submit_ctrl_c_leaves_the_job_running_and_says_where(api_url: str, http: Any,
                                                             tmp_path: Path) -> None:
    """On a terminal, submit names the job it follows; Ctrl-C then is one line, exit 130."""
    code, before, text = interrupted_on_a_terminal(
        ["submit", spec_file(tmp_path, LONG_JOB), "--url", api_url, "--wait"],
        ready=lambda seen: b")" in seen)  # "job <id> queued (<url>)": it follows the job now
    assert code == 130
    job_id = before.decode().split()[1]
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1].lstrip("\r").split("\r")[-1].startswith(
        f"descent: interrupted; job {job_id} goes on at {api_url}")
    assert http.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running")
    http.delete(f"/v1/jobs/{job_id}")


def test_submit_a_spec_the_server_refuses_is_one_line_naming_the_fields(
    api_url: str, tmp_path: Path
) -> None:
    bad = spec_file(tmp_path, {"function": "spheer", "optimizer": "adamm"})
    line = assert_one_line_error(descent("submit", bad, "--url", api_url), 2,
                                 "job.json", "refused the spec")
    assert "function" in line and "optimizer" in line


def test_submit_error_answers_are_one_line(redis_url: str, tmp_path: Path) -> None:
    """401 (a keyed server, no key or a wrong one: exit 2) and 503 (its Redis is down: exit 1);
    the right key works."""
    keyed_port, broken_port = free_port(), free_port()
    keyed = start_api(redis_url, keyed_port, DESCENT_API_KEYS="sesame")
    broken = start_api(f"redis://127.0.0.1:{free_port()}/0", broken_port)
    try:
        for port in (keyed_port, broken_port):
            wait_for(partial(api_healthy, f"http://127.0.0.1:{port}"), timeout=90,
                     message="the API")
        spec = spec_file(tmp_path, JOB)
        keyed_url = f"http://127.0.0.1:{keyed_port}"
        assert_one_line_error(descent("submit", spec, "--url", keyed_url), 2, "401")
        assert_one_line_error(descent("submit", spec, "--url", keyed_url, "--api-key", "nope"),
                              2, "401")
        with_key = descent("submit", spec, "--url", keyed_url, "--api-key", "sesame")
        assert with_key.returncode == 0, with_key.stderr
        environment = dict(os.environ, DESCENT_API_KEY="sesame")
        assert descent("submit", spec, "--url", keyed_url, env=environment).returncode == 0
        assert_one_line_error(descent("submit", spec, "--url", f"http://127.0.0.1:{broken_port}"),
                              1, "503")
    finally:
        stop(keyed)
        stop(broken)


def test_worker_with_and_without_options_runs_jobs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """A Redis and an API of its own, so only the worker under test can run the job."""
    redis = EmbeddedRedis(tmp_path / "redis").start()
    port = free_port()
    api = start_api(redis.url, port)
    url = f"http://127.0.0.1:{port}"
    spec = spec_file(tmp_path, JOB)
    try:
        wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=90,
                 message="the API")
        for options in ([], ["--concurrency", "1", "--loglevel", "warning", "--name",
                             "cli-test@%h"]):
            worker = subprocess.Popen(
                [sys.executable, "-m", "cli", "worker", *options], cwd=ROOT,
                env=service_env(redis.url, DESCENT_WORKERS="1"), stderr=subprocess.PIPE,
                text=True,
            )
            try:
                done = descent("submit", spec, "--url", url, "--wait", "--timeout", "150")
                assert done.returncode == 0, (options, done.stderr)
                assert "max_steps after 300 steps" in done.stdout
            finally:
                worker.send_signal(signal.SIGINT)  # Ctrl-C: warm shutdown
                _, log = worker.communicate(timeout=60)
            assert worker.returncode == 0, log
            assert "Traceback" not in log
    finally:
        stop(api)
        redis.stop()


def test_sweep_on_a_server_prints_and_writes_what_the_local_sweep_does(api_url: str,
                                                                       tmp_path: Path) -> None:
    """``descent sweep --url`` runs the sweep on the server through descent.Client: the same
    table of best runs as the local sweep, the asked trajectories in the output; a refused
    sweep and an unreachable server are one line each."""
    body = {"base": JOB, "grid": {"learning_rate": [0.001, 0.01, 0.1]}}
    sweep = spec_file(tmp_path, body, "sweep.json")
    out = tmp_path / "out.json"
    remote = descent("sweep", sweep, "--url", api_url, "-o", str(out), "--trajectories", "0,2",
                     "--max-points", "20")
    local = descent("sweep", sweep, "-q")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout.splitlines()[:5] == local.stdout.splitlines()[:5]
    assert "3 runs; best first:" in remote.stdout
    runs = {run["index"]: run for run in json.loads(out.read_text())["runs"]}
    assert [index for index, run in sorted(runs.items()) if "trajectory" in run] == [0, 2]
    assert len(runs[2]["trajectory"]["loss"]) == 20

    refused = spec_file(tmp_path, {"base": {**JOB, "optimizer": "adamm"}, "grid": {}},
                        "bad.json")
    assert_one_line_error(descent("sweep", refused, "--url", api_url), 2, "bad.json",
                          "refused the sweep", "optimizer")
    assert_one_line_error(descent("sweep", sweep, "--url", "http://127.0.0.1:1"), 1,
                          "cannot reach")
