"""Fixtures of the browser tests: one headless Chromium per module, and an API that needs keys.

The keyed API (``DESCENT_API_KEYS``, docs/spec.md §9.3) is a second uvicorn on the session's
Redis, served by the session's Celery worker (keys are checked by the API alone).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_api, stop, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PAGE_KEY = "page-key-5b0f2c7e"
OTHER_KEY = "other-key-91d4"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def keyed_api_url(redis_url: str, worker: subprocess.Popen[bytes]) -> Iterator[str]:
    """An API whose every /v1 call needs ``Authorization: Bearer`` with one of two keys."""
    import httpx

    from worker.embedded import free_port

    port = free_port()
    process = start_api(redis_url, port, DESCENT_API_KEYS=f"{PAGE_KEY},{OTHER_KEY}")
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, timeout=60,
             message="the keyed API")
    assert httpx.get(f"{url}/v1/functions", timeout=10).status_code == 401
    yield url
    stop(process)
