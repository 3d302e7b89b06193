"""muon in the web page (docs/spec.md §4): the menus come from the catalogue, so muon is offered
beside the others; on the page's contour functions, which have no weight matrix, the service's
422 is shown on the configuration: the optimizer marked and the reason given; on an mlp in
dataset mode it runs, its hyperparameters (adjust_lr_fn a choice, adamw_lr a number or empty)
sent as set."""

from __future__ import annotations

from typing import Any

from tests.browser.test_page import ALL_FINISHED, WAIT_MS, open_page, screenshot, state_url


def test_muon_on_a_contour_function_shows_why_it_is_refused(browser: Any, api_url: str) -> None:
    page, problems = open_page(browser, api_url + "/")
    optimizer = ".config[data-config='0'] [data-field=optimizer]"
    assert "muon" in page.eval_on_selector_all(f"{optimizer} option",
                                               "options => options.map((o) => o.value)")
    page.select_option(optimizer, "muon")
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    error_text = page.inner_text(".config[data-config='0'] .error-text")
    assert "orthogonalises 2-D weight matrices" in error_text
    assert "softmax_regression or mlp" in error_text
    assert page.locator(f"{optimizer}.invalid").count() == 1
    screenshot(page, "desktop-muon-refused")
    # the browser logs the 422 response itself; nothing else went wrong
    assert all("422" in message for message in problems.messages)
    page.context.close()


def test_muon_runs_on_an_mlp_in_dataset_mode(browser: Any, api_url: str) -> None:
    state = {
        "mode": "dataset", "model": "mlp", "model_params": {"loss": "cross_entropy"},
        "data": {"source": "generator", "generator": "moons", "n_samples": 100, "noise": 0.1,
                 "seed": 0},
        "max_steps": 100, "configs": [
            {"optimizer": "muon", "lr": 0.02,
             "hp": {"adamw_lr": 0.003, "adjust_lr_fn": "match_rms_adamw"}, "schedule": None,
             "batching": "full"},
            {"optimizer": "adam", "lr": 0.05, "hp": {}, "schedule": None, "batching": "full"},
        ],
    }
    page, problems = open_page(browser, state_url(api_url, state))
    page.click("#run-button")
    page.wait_for_function(ALL_FINISHED, timeout=WAIT_MS)
    runs = page.evaluate("window.descentPage.runs")
    assert [run["status"] for run in runs] == ["succeeded", "succeeded"]
    sent = page.evaluate("""async (id) => (await (await fetch(`/v1/jobs/${id}`)).json())
                            .spec.optimizer""", runs[0]["jobId"])
    assert sent["name"] == "muon" and sent["adamw_lr"] == 0.003
    assert sent["adjust_lr_fn"] == "match_rms_adamw"
    screenshot(page, "desktop-muon-mlp")
    assert problems.messages == []
    page.context.close()
