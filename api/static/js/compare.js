/* The "Compare" settings: race or learning-rate sweep, "tune first" for a race, and the
 * learning-rate range both sweep over (log-spaced: from, to, count). */
import { $ } from "./dom.js";
import { page, saveState } from "./state.js";
import { rangeProblem, sharedFieldsDiffer } from "./sweeps.js";

export function renderCompareControls() {
  const { state } = page;
  const sweeping = state.compare === "sweep";
  for (const button of document.querySelectorAll("#compare-panel [data-compare]")) {
    button.setAttribute("aria-pressed", String(button.dataset.compare === state.compare));
  }
  $("#tune-first").checked = state.tune;
  $("#tune-row").hidden = sweeping;
  $("#lr-range").hidden = !sweeping && !state.tune;
  $("#lr-from").value = state.lr_range.from;
  $("#lr-to").value = state.lr_range.to;
  $("#lr-count").value = state.lr_range.count;
  $("#lr-range-status").textContent = rangeProblem(state.lr_range);
  const hints = [];
  if (sweeping) {
    hints.push("Every optimizer runs at every rate of the range (log-spaced) in one sweep on the service; the learning rates typed above are not used. Click a point to draw its path on the map.");
  } else if (state.tune) {
    hints.push("Each optimizer's learning rate is first chosen by a halving sweep over the range (the best final loss), then the race runs at those rates.");
  }
  if ((sweeping || state.tune) && sharedFieldsDiffer(state.configs)) {
    hints.push("The sweep takes the schedule and batching of optimizer 1 for all of them.");
  }
  $("#compare-hint").textContent = hints.join(" ");
  $("#run-button").textContent = sweeping ? "Run sweep" : state.tune ? "Tune and run" : "Run";
  $("#sweep-panel").hidden = !sweeping;
  $(".views").classList.toggle("sweeping", sweeping);
}

/* `onModeChange()` is called when the page switches between race and sweep. */
export function bindCompareControls(onModeChange) {
  for (const button of document.querySelectorAll("#compare-panel [data-compare]")) {
    button.addEventListener("click", () => {
      if (page.state.compare === button.dataset.compare) return;
      page.state.compare = button.dataset.compare;
      renderCompareControls();
      saveState();
      onModeChange();
    });
  }
  $("#tune-first").addEventListener("change", (e) => { page.state.tune = e.target.checked; renderCompareControls(); saveState(); });
  const rangeField = (selector, key, parse) => $(selector).addEventListener("change", (e) => {
    const value = Number(e.target.value);
    page.state.lr_range[key] = e.target.value.trim() !== "" && Number.isFinite(value) ? parse(value) : NaN;
    $("#lr-range-status").textContent = rangeProblem(page.state.lr_range);
    saveState();
  });
  rangeField("#lr-from", "from", (v) => v);
  rangeField("#lr-to", "to", (v) => v);
  rangeField("#lr-count", "count", Math.round);
}
