"""The page's learning-rate sweep view and "tune first" (issue 14) in a real browser.

Chromium against the real stack (Redis, a Celery worker, uvicorn), as in ``test_page.py``:
one ``POST /v1/sweeps`` drawn as final loss against learning rate, one curve per optimizer;
a click on a point draws that run's path on the map (``?runs=``); the link restores the view;
"tune first" races each optimizer at the rate a halving sweep chose. Assertions read the
plots' data and the DOM; step counts are small so the runs take little time.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_page import (
    ALL_FINISHED,
    WAIT_MS,
    open_page,
    plot_traces,
    screenshot,
    state_url,
)

RATES = 9
SWEEP_STATE = {
    "mode": "catalogue", "fn": "rosenbrock", "start": [-1.2, 1], "max_steps": 150,
    "compare": "sweep", "lr_range": {"from": 1e-4, "to": 1, "count": RATES},
    "configs": [{"optimizer": name, "lr": 0.001, "hp": {}, "schedule": None}
                for name in ("gd", "momentum", "adam")],
}
DRAWN = "window.descentPage.sweep && window.descentPage.sweep.status === 'drawn'"
PICKED_SETTLED = """(n) => window.descentPage.runs.length === n
                           && window.descentPage.runs.every((r) => r.settled)"""
# Where a point of the sweep plot is on the screen (Plotly's axes turn data into pixels).
POINT_ON_SCREEN = """([role, optimizer, i]) => {
  const div = document.getElementById('sweep-plot');
  div.scrollIntoView({ block: 'center' });
  const trace = div.data.find((t) => t.meta.role === role && t.meta.optimizer === optimizer);
  const xa = div._fullLayout.xaxis, ya = div._fullLayout[trace.yaxis === 'y2' ? 'yaxis2' : 'yaxis'];
  const box = div.getBoundingClientRect();
  return { x: box.left + xa._offset + xa.l2p(xa.d2l(trace.x[i])),
           y: box.top + ya._offset + ya.l2p(ya.d2l(trace.y[i])), run: trace.customdata[i] };
}"""


def sweep_plot(page: Any) -> list[dict[str, Any]]:
    """The sweep plot's traces: role, optimizer, learning rates, run indices."""
    return page.evaluate("""() => document.getElementById('sweep-plot').data.map((t) => ({
        role: t.meta.role, optimizer: t.meta.optimizer || null, x: t.x, runs: t.customdata,
        learning_rate: t.meta.learning_rate === undefined ? null : t.meta.learning_rate }))""")


def click_point(page: Any, role: str, optimizer: str, i: int = 0) -> int:
    point = page.evaluate(POINT_ON_SCREEN, [role, optimizer, i])
    page.mouse.click(point["x"], point["y"])
    return int(point["run"])


def test_sweep_view_draws_a_curve_per_optimizer_and_a_click_draws_its_path(
    browser: Any, api_url: str
) -> None:
    page, problems = open_page(browser, state_url(api_url, SWEEP_STATE))
    assert page.is_visible("#sweep-panel") and page.inner_text("#run-button") == "Run sweep"
    page.wait_for_function("window.descentPage.surface && window.descentPage.surface.hasGrid",
                           timeout=WAIT_MS)
    page.click("#run-button")
    page.wait_for_function(DRAWN, timeout=WAIT_MS)
    sweep = page.evaluate("window.descentPage.sweep")
    assert sweep["runs"] == 3 * RATES

    traces = sweep_plot(page)
    rates = sorted({x for t in traces if t["role"] == "sweep-curve" for x in t["x"]}
                   | {x for t in traces if t["role"] == "sweep-diverged" for x in t["x"]})
    assert len(rates) == RATES and rates[0] == 1e-4 and rates[-1] == 1
    for optimizer in ("gd", "momentum", "adam"):
        curve = [t for t in traces if t["role"] == "sweep-curve" and t["optimizer"] == optimizer]
        diverged = [t for t in traces
                    if t["role"] == "sweep-diverged" and t["optimizer"] == optimizer]
        assert len(curve) == 1 and len(diverged) == 1
        # every rate is a point: on the curve, or in the diverged strip at the top
        assert len(curve[0]["x"]) + len(diverged[0]["x"]) == RATES
        assert curve[0]["x"] == sorted(curve[0]["x"])
        if optimizer == "gd":  # it diverges at the large rates on Rosenbrock
            assert diverged[0]["x"] and max(curve[0]["x"]) < min(diverged[0]["x"])
    # each optimizer's best rate (the API's best_by) is starred on its curve
    best = {b["key"]["optimizer"]: b for b in sweep["best"]}
    stars = {t["optimizer"]: t for t in traces if t["role"] == "sweep-best"}
    assert set(stars) == {"gd", "momentum", "adam"}
    for optimizer, star in stars.items():
        assert star["learning_rate"] == best[optimizer]["learning_rate"]
        assert star["runs"] == [best[optimizer]["run"]]
    screenshot(page, "desktop-sweep-view")

    # A click on adam's best point draws that run's path on the map, with its rate in the table.
    run = click_point(page, "sweep-best", "adam")
    page.wait_for_function(PICKED_SETTLED, arg=1, timeout=WAIT_MS)
    paths = [t for t in plot_traces(page, "map-plot") if t["role"] == "trajectory"]
    assert len(paths) == 1 and paths[0]["points"] > 10 and paths[0]["name"].startswith("adam")
    assert page.evaluate("window.descentPage.state.picked") == [run]
    lr_cell = page.inner_text("#results-table tbody tr [data-col=lr]")
    assert f"sweep run {run}" in lr_cell
    # a diverged run of gd too: two paths, both ringed on the sweep plot
    click_point(page, "sweep-diverged", "gd", 0)
    page.wait_for_function(PICKED_SETTLED, arg=2, timeout=WAIT_MS)
    assert len([t for t in plot_traces(page, "map-plot") if t["role"] == "trajectory"]) == 2
    assert "diverged" in page.inner_text("#results-table")
    assert sum(len(t["x"]) for t in sweep_plot(page) if t["role"] == "sweep-picked") == 2
    screenshot(page, "desktop-sweep-view-picked")
    state, link = page.evaluate("window.descentPage.state"), page.url
    assert problems.messages == [], problems.messages
    page.context.close()

    # The link restores the view: the same sweep (by id), the same curves, the same paths.
    again, problems = open_page(browser, link)
    again.wait_for_function(DRAWN, timeout=WAIT_MS)
    again.wait_for_function(PICKED_SETTLED, arg=2, timeout=WAIT_MS)
    assert again.evaluate("window.descentPage.state") == state
    assert again.evaluate("window.descentPage.sweep.id") == sweep["id"]
    restored = sweep_plot(again)
    assert [(t["role"], t["optimizer"], t["x"]) for t in restored if t["role"] != "sweep-picked"] \
        == [(t["role"], t["optimizer"], t["x"]) for t in traces]
    assert len([t for t in plot_traces(again, "map-plot") if t["role"] == "trajectory"]) == 2
    assert again.input_value("#lr-count") == str(RATES)
    assert again.get_attribute("#compare-sweep", "aria-pressed") == "true"
    assert problems.messages == [], problems.messages
    again.context.close()


def test_a_link_whose_sweep_is_gone_runs_it_again(browser: Any, api_url: str) -> None:
    state = dict(SWEEP_STATE, sweep_id="0" * 32, picked=[1])
    page, problems = open_page(browser, state_url(api_url, state))
    page.wait_for_function(DRAWN, timeout=WAIT_MS)
    page.wait_for_function(PICKED_SETTLED, arg=1, timeout=WAIT_MS)
    sweep_id = page.evaluate("window.descentPage.sweep.id")
    assert sweep_id != "0" * 32
    assert page.evaluate("window.descentPage.state.sweep_id") == sweep_id
    assert page.evaluate("window.descentPage.state.picked") == [1]
    # the browser reports the 404 of the gone sweep; nothing else went wrong
    assert all("404" in message for message in problems.messages), problems.messages
    page.context.close()


def test_tune_first_races_each_optimizer_at_its_tuned_rate(browser: Any, api_url: str) -> None:
    state = dict(SWEEP_STATE, compare="race", tune=True, max_steps=90,
                 lr_range={"from": 1e-4, "to": 1, "count": RATES})
    page, problems = open_page(browser, state_url(api_url, state))
    assert page.is_checked("#tune-first") and page.inner_text("#run-button") == "Tune and run"
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    runs = page.evaluate("window.descentPage.runs")
    assert [run["status"] for run in runs] == ["succeeded"] * 3
    cells = page.eval_on_selector_all("#results-table tbody [data-col=lr]",
                                      "cells => cells.map(c => c.textContent)")
    assert all(cell.endswith(f"(tuned: halving over 1e-4…1, {RATES} rates)") for cell in cells)
    # the race ran at those rates (each label names its run's rate), chosen from the range
    shown = [float(cell.split(" ")[0]) for cell in cells]
    used = [float(run["label"].split("lr=")[1]) for run in runs]
    assert used == pytest.approx(shown, rel=0.01)
    grid = [10 ** (-4 + 4 * i / (RATES - 1)) for i in range(RATES)]
    assert all(min(abs(rate / g - 1) for g in grid) < 1e-3 for rate in used)
    screenshot(page, "desktop-tuned-race")
    assert problems.messages == [], problems.messages
    page.context.close()
