"""The web page against a server that needs API keys (docs/spec.md §9.3, issue 12 part 4).

Real Chromium, real stack: ``keyed_api_url`` (tests/browser/conftest.py) is uvicorn with
``DESCENT_API_KEYS`` on the session's Redis and Celery worker. The page must send the key
with every call (server-sent events included), say clearly when a key is missing or refused,
keep the key for the tab's session only and never put it in the URL, a shared link or an
export; and its own Cancel of a job that has just finished (which deletes it, §9.4) leaves
a cancelled run, not an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, PAGE_KEY

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium "
                "(apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is needed")

from tests.browser.test_page import (
    ALL_FINISHED,
    WAIT_MS,
    PageProblems,
    open_page,
    plot_traces,
    screenshot,
    state_url,
)
from tests.conftest import wait_job

MISSING = "This server needs an API key"
REFUSED = "The API key was refused"
ACCEPTED = "key accepted"


class Responses:
    """Every /v1 answer the page got, in order: (method, path, status)."""

    def __init__(self, page: Any, base: str) -> None:
        self.seen: list[tuple[str, str, int]] = []
        page.on("response", lambda r: self.seen.append(
            (r.request.method, r.url[len(base):], r.status)) if "/v1/" in r.url else None)


def open_keyed(browser: Any, url: str, **options: Any) -> tuple[Any, PageProblems]:
    return open_page(browser, url, accept_downloads=True, **options)  # type: ignore[no-any-return]


def key_status(page: Any, text: str) -> str:
    """Wait until the message beside the key field contains ``text``; return the message."""
    page.wait_for_function("(t) => document.getElementById('api-key-status').textContent"
                           ".includes(t)", arg=text, timeout=WAIT_MS)
    return str(page.inner_text("#api-key-status"))


def enter_key(page: Any, key: str) -> None:
    page.fill("#api-key", key)
    page.press("#api-key", "Enter")


def uncaught(problems: PageProblems) -> list[str]:
    """Uncaught exceptions (console errors are expected here: Chromium logs every 401)."""
    return [m for m in problems.messages if m.startswith("uncaught")]


def test_keyed_server_missing_and_wrong_key_are_named_and_the_right_key_runs_the_race(
    browser: Any, keyed_api_url: str, tmp_path: Path
) -> None:
    page, problems = open_keyed(browser, keyed_api_url + "/",
                                permissions=["clipboard-read", "clipboard-write"])
    answers = Responses(page, keyed_api_url)

    # No key: the catalogue cannot load, and the page says why beside the key field.
    assert MISSING in key_status(page, MISSING)
    assert page.locator("#api-key-status.error").count() == 1
    assert MISSING in page.inner_text("#error-banner")
    assert page.eval_on_selector_all("#function-select option", "els => els.length") == 0

    # A wrong key: refused, by name, both beside the field and on the runs it tried.
    enter_key(page, "not-a-key")
    assert REFUSED in key_status(page, REFUSED)
    assert page.locator("#api-key.invalid").count() == 1
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    runs = page.evaluate("window.descentPage.runs")
    assert [run["status"] for run in runs] == ["rejected"] * 2
    assert all(REFUSED in run["error"] for run in runs)
    assert REFUSED in page.inner_text("#error-banner")
    screenshot(page, "desktop-key-refused")

    # The right key: accepted, the catalogue loads and a preset races end to end.
    enter_key(page, PAGE_KEY)
    key_status(page, ACCEPTED)
    page.wait_for_function("document.querySelectorAll('#function-select option').length > 0",
                           timeout=WAIT_MS)
    accepted_at = len(answers.seen)
    assert page.is_hidden("#error-banner")
    page.click("[data-preset=lr]")
    page.wait_for_function("window.descentPage.surface && window.descentPage.surface.hasGrid",
                           timeout=WAIT_MS)
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    runs = page.evaluate("window.descentPage.runs")
    assert [run["status"] for run in runs] == ["succeeded"] * 4
    paths = [t for t in plot_traces(page, "map-plot") if t["role"] == "trajectory"]
    assert len(paths) == 4 and all(path["points"] > 10 for path in paths)
    loss_curves = plot_traces(page, "loss-plot")
    assert len(loss_curves) == 4 and all(curve["finite"] > 10 for curve in loss_curves)
    stops = page.eval_on_selector_all("#results-table [data-col=stop]",
                                      "cells => cells.map(c => c.textContent)")
    assert stops == ["max_steps"] * 3 + ["diverged"]
    # Every call carried the key, the event streams too (an EventSource could not: 401).
    after = answers.seen[accepted_at:]
    assert after and all(status != 401 for _, _, status in after)
    assert any(path.endswith("/events") and status == 200 for _, path, status in after)
    screenshot(page, "desktop-keyed-race")

    # The key is in this tab's sessionStorage only: not in the URL, the link, cookies,
    # localStorage or the JSON export.
    assert PAGE_KEY not in page.url
    link = page.evaluate("window.descentPage.shareLink()")
    assert "#state=" in link and PAGE_KEY not in link
    page.click("#copy-link")
    page.wait_for_function("document.getElementById('run-status').textContent.length > 0",
                           timeout=WAIT_MS)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == link
    assert PAGE_KEY not in page.inner_text("#run-status")
    with page.expect_download(timeout=WAIT_MS) as download_info:
        page.click("#export-json")
    exported = tmp_path / "export.json"
    download_info.value.save_as(exported)
    text = exported.read_text()
    assert PAGE_KEY not in text and json.loads(text)["link"] == link
    storage = page.evaluate("""() => ({ session: Object.values(sessionStorage),
        local: Object.values(localStorage), cookie: document.cookie })""")
    assert storage["session"] == [PAGE_KEY]
    assert storage["local"] == [] and PAGE_KEY not in storage["cookie"]

    # A reload keeps the key (same tab); the page works without asking again.
    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    assert page.input_value("#api-key") == PAGE_KEY
    assert page.eval_on_selector_all("#function-select option", "els => els.length") > 0
    assert page.locator("#api-key-status.error").count() == 0
    assert page.is_hidden("#error-banner")

    # The link opened in another tab reproduces the comparison but not the key.
    other = page.context.new_page()
    other.goto(link)
    other.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    assert other.input_value("#api-key") == ""
    assert MISSING in key_status(other, MISSING)
    assert other.evaluate("window.descentPage.state") == page.evaluate("window.descentPage.state")
    assert uncaught(problems) == []
    page.context.close()


def test_own_cancel_of_a_job_that_just_finished_is_gone_not_an_error(
    browser: Any, keyed_api_url: str
) -> None:
    """The page believes the job is still queued (its progress requests are held), the job
    finishes on the server, and the page's Cancel is then a DELETE of a finished job: 204,
    the job is removed (docs/spec.md §9.4). The held poll, let through afterwards, gets a
    404. The run must end as cancelled and gone, with no error shown."""
    import httpx

    state = {"mode": "catalogue", "fn": "rosenbrock", "start": [-1.2, 1], "max_steps": 50,
             "configs": [{"optimizer": "adam", "lr": 0.05, "hp": {}, "schedule": None}]}
    page, problems = open_keyed(browser, state_url(keyed_api_url, state))
    enter_key(page, PAGE_KEY)
    key_status(page, ACCEPTED)

    held: list[Any] = []
    released: list[bool] = []

    def hold_progress(route: Any) -> None:
        request = route.request
        if request.method != "GET" or released:
            route.continue_()
        elif request.url.endswith("/events"):
            route.abort()  # no event stream: the page falls back to polling
        else:
            held.append(route)  # the poll waits until the test lets it through

    page.route("**/v1/jobs/**", hold_progress)
    page.click("#run-button")
    page.wait_for_function("window.descentPage.runs.length === 1 && "
                           "window.descentPage.runs[0].jobId", timeout=WAIT_MS)
    job_id = page.evaluate("window.descentPage.runs[0].jobId")
    page.wait_for_function("window.descentPage.runs[0].status === 'queued'", timeout=WAIT_MS)
    auth = {"Authorization": f"Bearer {PAGE_KEY}"}
    with httpx.Client(base_url=keyed_api_url, timeout=30) as http:
        assert wait_job(http, job_id, headers=auth)["status"] == "succeeded"
        assert page.evaluate("window.descentPage.runs[0].status") == "queued"
        page.wait_for_function("document.getElementById('cancel-button').disabled === false",
                               timeout=WAIT_MS)
        with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
            page.click("#cancel-button")
        assert deleted.value.status == 204  # a finished job: deleted for good
        assert http.get(f"/v1/jobs/{job_id}", headers=auth).status_code == 404

    page.wait_for_function("window.descentPage.runs[0].settled", timeout=WAIT_MS)
    assert len(held) == 1, "the page's poll should have been held"
    released.append(True)
    with page.expect_response(lambda r: r.request.method == "GET"
                              and r.url.endswith(f"/v1/jobs/{job_id}")) as polled:
        held[0].continue_()
    assert polled.value.status == 404
    page.wait_for_function("!document.getElementById('run-button').disabled", timeout=WAIT_MS)
    run = page.evaluate("window.descentPage.runs[0]")
    assert run["status"] == "cancelled" and run["gone"] and run["error"] is None
    assert page.is_hidden("#error-banner")
    assert page.inner_text("#results-table [data-col=status]").strip() == "cancelled"
    assert uncaught(problems) == []
    page.context.close()
