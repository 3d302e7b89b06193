"""Hostile numbers and shapes over real HTTP (docs/spec.md §9.4), endpoint by endpoint: each is
a 422 whose ``loc`` names the field, and the same keep-alive connection serves the next request
(an exception that escaped the app used to answer 500 and then reset the connection)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import wait_for, wait_job

BIG = "1180591620717411303424"  # 2**70, the value of the report
JOB = '{"function":"sphere","max_steps":5,%s}'
GEN = '"function":"linear_regression","data":{"generator":"linear","n_samples":10,%s}'

# (method, path, raw JSON body or None, the loc the 422 must name)
CASES: list[tuple[str, str, str | None, list[Any]]] = [
    ("POST", "/v1/jobs", JOB % f'"record_every":{BIG}', ["body", "record_every"]),
    ("POST", "/v1/jobs", JOB % f'"batch_size":{BIG}', ["body", "batch_size"]),
    ("POST", "/v1/jobs", JOB % f'"seed":{BIG}', ["body", "seed"]),
    ("POST", "/v1/jobs", '{"function":"sphere","max_steps":1e400}', ["body", "max_steps"]),
    ("POST", "/v1/jobs", JOB % '"learning_rate":1e400', ["body", "learning_rate"]),
    ("POST", "/v1/jobs", JOB % '"learning_rate":NaN', ["body", "learning_rate"]),
    ("POST", "/v1/jobs", JOB % '"target_loss":-Infinity', ["body", "target_loss"]),
    ("POST", "/v1/jobs", JOB % '"init":[1, Infinity]', ["body", "init", 1]),
    ("POST", "/v1/jobs", JOB % '"record_every":"\u0661\u0662"', ["body", "record_every"]),
    ("POST", "/v1/jobs", JOB % f'"optimizer":{{"name":"adam","eps":{BIG}}}', ["body", "optimizer"]),
    ("POST", "/v1/jobs", JOB % f'"function_params":{{"dims":{BIG}}}', ["body", "function_params"]),
    ("POST", "/v1/jobs", JOB % '"schedule":{"name":"cosine","t_max":1e20}',
     ["body", "schedule", "t_max"]),
    ("POST", "/v1/jobs", JOB % f'"schedule":{{"name":"multistep","milestones":[{BIG}]}}',
     ["body", "schedule"]),
    ("POST", "/v1/jobs", "{" + GEN % f'"seed":{BIG}' + "}", ["body", "data", "seed"]),
    ("POST", "/v1/jobs", "{" + GEN % f'"options":{{"bias":{BIG}}}' + "}",
     ["body", "data", "options"]),
    ("POST", "/v1/jobs", '{"function":"sphere","init":' + "[" * 50_000 + "]" * 50_000 + "}",
     ["body"]),
    ("POST", "/v1/jobs", '{"function":"sphere","record_every":1' + "0" * 5000 + "}", ["body"]),
    ("POST", "/v1/jobs", JOB % ('"function_params":{"x":' + "[" * 40 + "]" * 40 + "}"),
     ["body", "function_params"]),
    ("POST", "/v1/sweeps", ('{"base":{"function":"sphere","max_steps":5},'
     f'"grid":{{"learning_rate":[0.1,{BIG}]}}}}'), ["body", "grid"]),
    ("POST", "/v1/sweeps", f'{{"base":{{"function":"sphere","record_every":{BIG}}}}}',
     ["body", "base"]),
    ("POST", "/v1/sweeps", '{"base":{},"grid":{"20000000000000000000":[]}}',
     ["body", "grid", "20000000000000000000"]),
    ("POST", "/v1/sweeps", '{"base":{"function":"sphere"},"overrides":[{"seed":1e400}]}',
     ["body", "overrides", 0]),
    ("POST", "/v1/surface", '{"function":"himmelblau","x_min":-1e400}', ["body", "x_min"]),
    ("POST", "/v1/surface", f'{{"function":"rosenbrock","function_params":{{"a":{BIG}}}}}',
     ["body", "function_params"]),
    ("POST", "/v1/surface", f'{{"function":"himmelblau","resolution":{BIG}}}',
     ["body", "resolution"]),
    ("POST", "/v1/analyze", '{"function":"himmelblau","bounds":[[-1,NaN],[-1,1]]}',
     ["body", "bounds", 0, 1]),
    ("POST", "/v1/analyze", f'{{"function":"rastrigin","function_params":{{"dims":{BIG}}}}}',
     ["body", "function_params"]),
    ("GET", f"/v1/jobs?limit={BIG}", None, ["query", "limit"]),
    ("GET", "/v1/jobs?cursor=" + "9" * 5000, None, ["query", "cursor"]),
    ("GET", "/v1/jobs?limit=\u0661\u0662", None, ["query", "limit"]),
    ("GET", f"/v1/sweeps?limit={BIG}", None, ["query", "limit"]),
    ("GET", f"/v1/functions/rastrigin?dims={BIG}", None, ["query", "dims"]),
    ("GET", f"/v1/functions/himmelblau/surface?resolution={BIG}", None, ["query", "resolution"]),
    ("GET", "/v1/functions/himmelblau/surface?x_min=inf", None, ["query", "x_min"]),
    ("GET", "/v1/functions/himmelblau/surface?y_max=nan", None, ["query", "y_max"]),
    ("POST", "/v1/datasets", '{"X":[[1e400]],"y":[1]}', ["body"]),
]
JOB_RESULT_QUERIES = [(f"max_points={BIG}", "max_points"), (f"every={BIG}", "every"),
                      ("wait=nan", "wait"), ("wait=1e400", "wait"), ("every=1_000x", "every")]
SWEEP_RESULT_QUERIES = [(f"max_points={BIG}", "max_points"), ("runs=\u00b2", "runs"),
                        ("runs=" + "1" * 5000, "runs")]


class KeptConnection:
    """One TCP connection, kept alive; fails if the server closed it between requests."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                                     timeout=60)
        self.connection.connect()
        self.socket = self.connection.sock

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, Any]:
        headers = {"content-type": "application/json"} if body is not None else {}
        self.connection.request(method, quote(path, safe="/?=&,_"),
                                body=None if body is None else body.encode(), headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        assert self.connection.sock is self.socket, "the server closed the connection"
        return response.status, json.loads(data) if data else None


@pytest.fixture
def kept(api_url: str) -> Iterator[KeptConnection]:
    connection = KeptConnection(api_url)
    yield connection
    connection.connection.close()


def _names(location: list[Any], wanted: list[Any]) -> bool:
    """``wanted`` appears in ``location`` in order (a union of data shapes adds its member's
    name: ``body.data.GeneratedData.seed`` names ``body.data.seed``)."""
    rest = iter(location)
    return all(any(part == want for part in rest) for want in wanted)


def _assert_422_then_alive(kept: KeptConnection, method: str, path: str, body: str | None,
                           loc: list[Any]) -> None:
    status, answer = kept.request(method, path, body)
    assert status == 422, (path, (body or "")[:120], status, answer)
    locations = [entry["loc"] for entry in answer["detail"]]
    assert any(_names(location, loc) for location in locations), (loc, answer["detail"])
    status, _ = kept.request("GET", "/v1/functions")  # the same connection still serves
    assert status == 200


@pytest.mark.parametrize(("method", "path", "body", "loc"), CASES,
                         ids=[f"{c[0]} {c[1][:40]} {(c[2] or '')[:50]}" for c in CASES])
def test_hostile_value_is_a_422_naming_the_field(kept: KeptConnection, method: str, path: str,
                                                 body: str | None, loc: list[Any]) -> None:
    _assert_422_then_alive(kept, method, path, body, loc)


def test_result_queries_are_422s_naming_the_parameter(kept: KeptConnection, http: Any) -> None:
    job = http.post("/v1/jobs", json={"function": "sphere", "max_steps": 5}).json()
    wait_job(http, job["id"])
    for query, name in JOB_RESULT_QUERIES:
        _assert_422_then_alive(kept, "GET", f"/v1/jobs/{job['id']}/result?{query}", None,
                               ["query", name])
    sweep = http.post("/v1/sweeps", json={"base": {"function": "sphere", "max_steps": 5},
                                          "grid": {"seed": [1, 2]}}).json()
    wait_for(lambda: http.get(f"/v1/sweeps/{sweep['id']}").json()["status"] == "succeeded",
             timeout=60, message="the sweep")
    for query, name in SWEEP_RESULT_QUERIES:
        _assert_422_then_alive(kept, "GET", f"/v1/sweeps/{sweep['id']}/result?{query}", None,
                               ["query", name])


def test_an_unexpected_error_is_a_500_that_keeps_the_connection(redis_url: str) -> None:
    """Defence in depth: an exception no handler takes is a plain 500 answered inside the app,
    so uvicorn does not drop the keep-alive connection."""
    import uvicorn

    from api.app import create_app
    from worker.embedded import free_port
    from worker.settings import Settings

    app = create_app(Settings(redis_url=redis_url))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=30, message="uvicorn")
        connection = KeptConnection(f"http://127.0.0.1:{port}")
        status, answer = connection.request("GET", "/boom")
        assert status == 500 and answer["title"] == "Internal Server Error"
        assert "a bug" not in str(answer)
        assert connection.request("GET", "/v1/functions")[0] == 200
        connection.connection.close()
    finally:
        server.should_exit = True
        deadline = time.monotonic() + 10
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.1)
