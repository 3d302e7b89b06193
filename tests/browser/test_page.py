"""The web page (issue 5) in a real browser against the real stack.

Headless Chromium (Debian's ``chromium``) driven by Playwright loads ``/`` from uvicorn, with a
real Redis and a real Celery worker behind it (the ``api_url`` fixture of ``tests/conftest.py``).
Assertions read the DOM and the plots' data (``div.data`` of each Plotly graph), not pixels;
screenshots (desktop and phone) go to ``artifacts/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.conftest import CHROMIUM

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium "
                "(apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is needed")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000
# Every run has ended and the page is done with it: its result fetched (``settled``), or the
# service rejected it. A cancelled job's partial result arrives after its status.
ALL_FINISHED = """() => {
  const runs = window.descentPage.runs;
  return runs.length > 0 && runs.every((r) => r.status === 'rejected'
    || (['succeeded', 'failed', 'cancelled'].includes(r.status) && r.settled))
    && runs.every((r) => r.status !== 'succeeded' || r.hasResult);
}"""


class PageProblems:
    """Console errors and uncaught exceptions seen while a page was open."""

    def __init__(self, page: Any) -> None:
        self.messages: list[str] = []
        page.on("console", lambda m: self.messages.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))


def open_page(browser: Any, url: str, viewport: dict[str, int] = DESKTOP,
              **options: Any) -> tuple[Any, Any]:
    """A new browser context (``options`` go to it) on ``url``, once the page is ready."""
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    problems = PageProblems(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    return page, problems


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def plot_traces(page: Any, plot_id: str) -> list[dict[str, Any]]:
    """The traces drawn in one Plotly graph: name, role, and how many points each has."""
    return page.evaluate(
        """(id) => (document.getElementById(id).data || []).map((t) => ({
             name: t.name, type: t.type, role: t.meta && t.meta.role,
             points: (t.x || []).length,
             finite: (t.y || []).filter((v) => v !== null && Number.isFinite(v)).length }))""",
        plot_id,
    )


def state_url(api_url: str, state: dict[str, Any]) -> str:
    return f"{api_url}/#state={quote(json.dumps(state))}"


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_page_loads_with_the_catalogue_and_no_console_errors(
    browser: Any, api_url: str, name: str, viewport: dict[str, int]
) -> None:
    page, problems = open_page(browser, api_url + "/", viewport)
    options = page.eval_on_selector_all("#function-select option", "els => els.map(e => e.value)")
    assert {"rosenbrock", "himmelblau", "six_hump_camel"} <= set(options)
    assert page.eval_on_selector_all(".config", "els => els.length") == 2
    surface = [t for t in plot_traces(page, "map-plot") if t["role"] == "surface"]
    assert surface and surface[0]["type"] == "contour"
    # Without keys on the server the key field stays empty and says nothing.
    assert page.input_value("#api-key") == "" and page.is_hidden("#api-key-status")
    screenshot(page, f"{name}-initial")
    assert problems.messages == []
    page.context.close()


@pytest.mark.parametrize("name,viewport", [("desktop", DESKTOP), ("phone", PHONE)])
def test_learning_rate_preset_runs_and_draws_paths_and_loss_curves(
    browser: Any, api_url: str, name: str, viewport: dict[str, int]
) -> None:
    page, problems = open_page(browser, api_url + "/", viewport)
    page.click("[data-preset=lr]")
    page.wait_for_function("window.descentPage.surface && window.descentPage.surface.hasGrid",
                           timeout=WAIT_MS)
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)

    runs = page.evaluate("window.descentPage.runs")
    assert [run["status"] for run in runs] == ["succeeded"] * 4
    traces = plot_traces(page, "map-plot")
    paths = [t for t in traces if t["role"] == "trajectory"]
    assert len(paths) == 4 and all(path["points"] > 10 for path in paths)
    assert len([t for t in traces if t["role"] == "endpoints"]) == 4  # start and end marked
    assert any(t["role"] == "stationary" for t in traces)
    loss_curves = plot_traces(page, "loss-plot")
    assert len(loss_curves) == 4 and all(curve["finite"] > 10 for curve in loss_curves)
    assert page.evaluate("document.getElementById('loss-plot').layout.yaxis.type") == "log"
    assert len(plot_traces(page, "lr-plot")) == 4

    rows = page.eval_on_selector_all(
        "#results-table tbody tr",
        "rows => rows.map(r => [r.querySelector('[data-col=stop]').textContent, "
        "r.querySelector('[data-col=nearest]').textContent])",
    )
    stop_reasons = [stop for stop, _ in rows]
    assert stop_reasons[:3] == ["max_steps"] * 3
    assert stop_reasons[3] == "diverged"  # lr above 2/L: the lesson of the preset
    assert "global minimum" in rows[2][1]

    # The step slider replays the race: at step 10 every path has at most 11 points.
    page.evaluate("""() => { const s = document.getElementById('step-slider');
                              s.value = 10; s.dispatchEvent(new Event('input')); }""")
    replayed = [t for t in plot_traces(page, "map-plot") if t["role"] == "trajectory"]
    assert all(2 <= t["points"] <= 11 for t in replayed)
    screenshot(page, f"{name}-lr-preset")
    page.click("#view-3d")
    assert any(t["type"] == "surface" for t in plot_traces(page, "map-plot"))
    screenshot(page, f"{name}-lr-preset-3d")
    assert problems.messages == []
    page.context.close()


def test_batching_preset_draws_paths_on_the_regression_surface(
    browser: Any, api_url: str
) -> None:
    page, problems = open_page(browser, api_url + "/")
    page.click("[data-preset=batching]")
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    assert [run["status"] for run in page.evaluate("window.descentPage.runs")] == ["succeeded"] * 3
    # Once the runs are in, the (w, b) surface is widened to hold every path and its minimum.
    page.wait_for_function(
        "window.descentPage.surface.x[0] <= -2 && window.descentPage.surface.y[1] >= 3",
        timeout=WAIT_MS)
    traces = plot_traces(page, "map-plot")
    assert len([t for t in traces if t["role"] == "trajectory"]) == 3
    assert any(t["role"] == "stationary" for t in traces)
    assert page.inner_text("#map-title").startswith("linear regression")
    screenshot(page, "desktop-batching-preset")
    assert problems.messages == []
    page.context.close()


def test_typed_formula_is_validated_live_and_a_bad_field_is_named(
    browser: Any, api_url: str
) -> None:
    page, _ = open_page(browser, api_url + "/")
    page.click("#mode-expression")
    page.fill("#expression-input", "x**2 + foo(y)")
    status = page.locator("#expression-status.error")
    status.wait_for(timeout=WAIT_MS)
    assert "foo" in status.inner_text()
    page.fill("#expression-input", "x**2 + 3*y**2")
    page.locator("#expression-status.ok").wait_for(timeout=WAIT_MS)

    # A job the API rejects (422): the message names the field, and the input is marked.
    page.fill(".config[data-config='0'] [data-field=learning_rate]", "-1")
    page.dispatch_event(".config[data-config='0'] [data-field=learning_rate]", "change")
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    error_text = page.inner_text(".config[data-config='0'] .error-text")
    assert "learning_rate" in error_text
    assert "learning_rate" in page.inner_text("#error-banner")
    assert page.locator(".config[data-config='0'] [data-field=learning_rate].invalid").count() == 1
    screenshot(page, "desktop-errors")
    page.context.close()


def test_the_url_reproduces_the_comparison(browser: Any, api_url: str) -> None:
    page, _ = open_page(browser, api_url + "/")
    page.click("[data-preset=momentum]")
    page.click("#add-config")
    page.select_option(".config[data-config='4'] [data-field=optimizer]", "rmsprop")
    page.fill(".config[data-config='4'] [data-field=learning_rate]", "0.003")
    page.dispatch_event(".config[data-config='4'] [data-field=learning_rate]", "change")
    # A click on the map sets the start point (the map scrolled into view: filling the fifth
    # configuration may have scrolled it away).
    page.locator("#map-plot").scroll_into_view_if_needed()
    box = page.locator("#map-plot .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)
    start = page.evaluate("window.descentPage.state.start")
    assert start != [-1.2, 1] and start[0] > 0 and start[1] > 0
    state = page.evaluate("window.descentPage.state")
    link = page.url
    page.context.close()

    again, problems = open_page(browser, link)
    assert again.evaluate("window.descentPage.state") == state
    assert again.eval_on_selector_all(".config", "els => els.length") == 5
    assert again.input_value(".config[data-config='4'] [data-field=optimizer]") == "rmsprop"
    assert again.input_value(".config[data-config='4'] [data-field=learning_rate]") == "0.003"
    assert float(again.input_value("#start-x")) == start[0]
    assert again.input_value("#function-select") == "rosenbrock"
    assert problems.messages == []
    again.context.close()


def test_cancel_stops_a_long_comparison(browser: Any, api_url: str) -> None:
    # Full-batch steps over 5000 samples: ten million of them take far longer than the test.
    long_run = {"optimizer": "sgd", "lr": 1e-6, "hp": {}, "schedule": None, "batching": "full"}
    state = {"mode": "dataset", "data": {"generator": "linear", "n_samples": 5000, "noise": 0.5,
                                         "seed": 0},
             "start": [-2, 3], "max_steps": 10_000_000, "configs": [long_run] * 8}
    page, _ = open_page(browser, state_url(api_url, state))
    assert page.eval_on_selector_all(".config", "els => els.length") == 8
    page.click("#run-button")
    page.wait_for_function(
        "window.descentPage.runs.length === 8 && window.descentPage.runs.every(r => r.jobId)",
        timeout=WAIT_MS)
    page.wait_for_function("window.descentPage.runs.some(r => r.status === 'running')",
                           timeout=WAIT_MS)
    assert page.is_enabled("#cancel-button")
    page.click("#cancel-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    runs = page.evaluate("window.descentPage.runs")
    assert [run["status"] for run in runs] == ["cancelled"] * 8
    # The jobs that had started keep their partial trajectory (stop_reason "cancelled").
    stops = page.eval_on_selector_all("#results-table [data-col=stop]",
                                      "cells => cells.map(c => c.textContent)")
    assert all(stop in ("cancelled", "") for stop in stops) and "cancelled" in stops
    assert any(run["hasResult"] for run in runs)
    # the buttons settle once the partial results have been fetched
    page.wait_for_function("!document.querySelector('#run-button').disabled", timeout=WAIT_MS)
    assert not page.is_enabled("#cancel-button")
    assert "cancelled" in page.inner_text("#results-table")
    screenshot(page, "desktop-cancelled")
    page.context.close()


def test_vendored_plotly_ships_with_its_license() -> None:
    vendor = ROOT / "api" / "static" / "vendor" / "plotly"
    assert (vendor / "plotly.min.js").stat().st_size > 1_000_000
    assert "MIT" in (vendor / "LICENSE").read_text()
