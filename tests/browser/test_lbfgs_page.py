"""lbfgs in the web page (docs/spec.md §4): offered in the optimizer menu (read from the
catalogue), its line_search_fn a menu of the choices and "none" (null), max_eval empty (null);
a run with the strong-Wolfe line search succeeds with the choice sent as picked."""

from __future__ import annotations

from typing import Any

from tests.browser.test_page import ALL_FINISHED, WAIT_MS, open_page, screenshot


def test_lbfgs_runs_with_the_line_search_picked_from_its_menu(browser: Any, api_url: str) -> None:
    page, problems = open_page(browser, api_url + "/")
    config = ".config[data-config='0']"
    optimizer = f"{config} [data-field=optimizer]"
    assert "lbfgs" in page.eval_on_selector_all(f"{optimizer} option",
                                                "options => options.map((o) => o.value)")
    page.select_option(optimizer, "lbfgs")
    page.click(f"{config} details.more summary")  # "Hyperparameters and schedule"
    line_search = f"{config} select[data-hp=line_search_fn]"
    assert page.eval_on_selector_all(f"{line_search} option",
                                     "options => options.map((o) => o.textContent)") == [
        "none", "strong_wolfe"]
    assert page.input_value(f"{config} input[data-hp=max_eval]") == ""
    page.select_option(line_search, "strong_wolfe")
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    runs = page.evaluate("window.descentPage.runs")
    assert runs[0]["status"] == "succeeded"
    sent = page.evaluate("""async (id) => (await (await fetch(`/v1/jobs/${id}`)).json())
                            .spec.optimizer""", runs[0]["jobId"])
    assert sent["name"] == "lbfgs" and sent["line_search_fn"] == "strong_wolfe"
    assert sent["max_eval"] is None
    screenshot(page, "desktop-lbfgs")
    assert problems.messages == []
    page.context.close()
