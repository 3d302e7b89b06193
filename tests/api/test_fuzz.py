"""A bounded property-based fuzz of the whole OpenAPI schema (schemathesis) against the real app,
a real Redis and a real worker: whatever a client sends, the answer is never a 5xx, and every
error body has the one error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok
from starlette.testclient import TestClient

from api.app import create_app
from worker.settings import Settings

app_holder: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def fuzzed_app(redis_url: str, worker: Any) -> None:
    # small caps so fuzzed jobs are cheap for the shared worker
    app_holder["app"] = create_app(Settings(redis_url=redis_url, max_steps=2000,
                                            job_time_limit_s=5))


def _operations(schema: Any) -> list[Any]:
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    return [result.ok() for result in results if isinstance(result, Ok)]


def error_shape(response: Any) -> bool:
    body = response.json()
    return isinstance(body, dict) and ("detail" in body or "title" in body)


def test_no_server_errors_and_one_error_shape() -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app_holder["app"])
    operations = _operations(schema)
    assert len(operations) >= 20

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call()
            where = (case.method, case.formatted_path, response.status_code, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
                assert error_shape(response), where

        check()


# Hostile numbers (docs/spec.md §9.4): the same operations, each case with one number or query
# parameter replaced by a value a schema-following generator never sends. Sent as raw JSON, so
# NaN, Infinity and 1e400 arrive as the literals a client could write.
HOSTILE_LITERALS = ["1180591620717411303424", "-1180591620717411303424", "9223372036854775808",
                    "1" + "0" * 400, "1e400", "-1e400", "NaN", "Infinity", "-Infinity",
                    '"\u0661\u0662"', "1e308", "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]"]
HOSTILE_QUERY = ["1180591620717411303424", "1e400", "NaN", "inf", "\u0661\u0662", "\u00b2",
                 "1_000", "9" * 5000, "-9223372036854775809"]
MARK = "@@hostile@@"


def _leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _leaf_paths(item, (*prefix, index))
    return paths


def _with_mark(body: Any, path: tuple) -> Any:
    copy = json.loads(json.dumps(body))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = MARK
    return copy


def test_hostile_numbers_anywhere_are_never_server_errors(redis_url: str) -> None:
    # an app of its own: the first test's app has its async Redis client on a closed loop
    app = create_app(Settings(redis_url=redis_url, max_steps=2000, job_time_limit_s=5))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    client = TestClient(app, raise_server_exceptions=False)
    operations = _operations(schema)
    for operation in operations:
        @given(case=operation.as_strategy(), data=st.data())
        @settings(max_examples=5, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any, data: Any) -> None:
            query = dict(case.query or {})
            content = None
            if query and data.draw(st.booleans()):
                query[data.draw(st.sampled_from(sorted(query)))] = data.draw(
                    st.sampled_from(HOSTILE_QUERY))
            if isinstance(case.body, (dict, list)):
                content = json.dumps(case.body)
                paths = _leaf_paths(case.body)
                if paths:
                    path = data.draw(st.sampled_from(paths))
                    content = json.dumps(_with_mark(case.body, path)).replace(
                        json.dumps(MARK), data.draw(st.sampled_from(HOSTILE_LITERALS)))
            headers = {"content-type": "application/json"} if content is not None else {}
            response = client.request(case.method, case.formatted_path, params=query,
                                      content=content, headers=headers)
            where = (case.method, case.formatted_path, query, (content or "")[:200],
                     response.status_code, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
                assert error_shape(response), where

        check()
