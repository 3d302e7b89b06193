"""A bounded property-based fuzz of the whole OpenAPI schema (schemathesis) against the real app,
a real Redis and a real worker: whatever a client sends, the answer is never a 5xx, and every
error body has the one error shape."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from worker.settings import Settings

app_holder: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def fuzzed_app(redis_url: str, worker: Any) -> None:
    # small caps so fuzzed jobs are cheap for the shared worker
    app_holder["app"] = create_app(Settings(redis_url=redis_url, max_steps=2000,
                                            job_time_limit_s=5))


def error_shape(response: Any) -> bool:
    body = response.json()
    return isinstance(body, dict) and ("detail" in body or "title" in body)


def test_no_server_errors_and_one_error_shape() -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app_holder["app"])
    operations = [result.ok() for result in schema.get_all_operations()]
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
