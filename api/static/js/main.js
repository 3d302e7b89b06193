/* descent web page: pick a function, configure up to 8 optimizers, run them as jobs on the
 * service (docs/spec.md §9) and watch their trajectories race on the loss surface.
 *
 * No build step: plain ES2020 modules loaded by the browser, Plotly (vendored under
 * /static/vendor) for plots. The modules, by concern:
 *   constants.js  limits, colours, the default state, the lessons
 *   state.js      the page's state and the URL (#state=<JSON>, so a link reproduces it)
 *   api.js        API calls, error messages, the API key, server-sent events over fetch
 *   keys.js       the API key field and its messages
 *   catalog.js    functions, dataset models, optimizers and schedules from the service
 *   specs.js      job specs built from the state
 *   forms.js      the settings forms
 *   datasetform.js  the Dataset tab: model, its options, generated or uploaded data
 *   datasets.js   uploading a CSV data set
 *   fielderrors.js  a 422's entries beside the fields they name
 *   surface.js    the loss surface under the paths
 *   models.js     the dataset models' forward pass (the engine's, mirrored)
 *   dataview.js   the data view: the samples and the model at the slider's step
 *   plots.js      the map, loss and learning-rate plots
 *   results.js    the results table and the replay
 *   runs.js       submitting, following, fetching and cancelling jobs
 *   sweeps.js     learning-rate sweeps on the service (the body, progress, cancel)
 *   compare.js    the Compare settings: race or sweep, tune first, the learning-rate range
 *   sweepview.js  the sweep view: final loss against learning rate, picked runs on the map
 *   tune.js       "tune first": each optimizer's learning rate from a halving sweep
 *   main.js       wiring: events, presets, export, start-up (this file) */
import { MAX_CONFIGS, PRESETS, VALIDATE_DELAY_MS } from "./constants.js";
import { loadCatalog } from "./catalog.js";
import { $, el, numberOrNull, setRunStatus, showError } from "./dom.js";
import { dataViewSnapshot, predictWithPage, watchDataView } from "./dataview.js";
import { bindDatasetControls } from "./datasetform.js";
import { renderAll, renderConfigs, renderRunControls, renderViewToggle, setExpressionStatus } from "./forms.js";
import { bindKeyField } from "./keys.js";
import { drawMap } from "./plots.js";
import { maxRecordedStep, setReplayStep, stopPlay, togglePlay } from "./results.js";
import { cancelAll, clearRuns, refreshResults, runAll } from "./runs.js";
import { clone, decodeState, page, saveState, shareLink, withDefaults } from "./state.js";
import { loadSurface } from "./surface.js";
import { bindCompareControls } from "./compare.js";
import { cancelSweepView, clearSweepView, drawSweep, restoreSweepView, runSweepView, sweepSnapshot } from "./sweepview.js";

let validateTimer = null;

/* ---------------------------------------------------------------- export */

function exportJson() {
  const document_ = {
    link: shareLink(), state: page.state,
    runs: page.runs.map((run) => ({ label: run.label, spec: run.spec, job_id: run.jobId || null, status: run.status, error: run.error || null, result: run.result || null })),
  };
  const blob = new Blob([JSON.stringify(document_, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: "descent-comparison.json" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function exportPng() {
  Plotly.downloadImage($("#map-plot"), { format: "png", filename: "descent-map", width: 1200, height: 900 });
  if (page.runs.some((run) => run.result)) Plotly.downloadImage($("#loss-plot"), { format: "png", filename: "descent-loss", width: 1000, height: 500 });
}

/* ---------------------------------------------------------------- events */

function onFunctionChanged() {
  clearRuns();
  clearSweepView();
  page.replayStep = 0;
  refreshResults();
  saveState();
  if (page.state.mode === "expression") scheduleValidation();
  else loadSurface();
}

function scheduleValidation() {
  clearTimeout(validateTimer);
  setExpressionStatus("checking…", false);
  validateTimer = setTimeout(loadSurface, VALIDATE_DELAY_MS);
}

function setStartFromMap(x, y) {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return;
  page.state.start = [Number(x.toPrecision(4)), Number(y.toPrecision(4))];
  renderRunControls();
  saveState();
  drawMap();
}

function bindMapClick() {
  const div = $("#map-plot");
  // A click anywhere on the 2-D plot area (not only on a grid point) sets the start.
  div.addEventListener("click", (event) => {
    if (page.state.view !== "contour" || !div._fullLayout || !div._fullLayout.xaxis) return;
    const xa = div._fullLayout.xaxis, ya = div._fullLayout.yaxis;
    const rect = div.getBoundingClientRect();
    const px = event.clientX - rect.left - xa._offset, py = event.clientY - rect.top - ya._offset;
    if (px < 0 || py < 0 || px > xa._length || py > ya._length) return;
    setStartFromMap(xa.p2l(px), ya.p2l(py));
  });
  div.on && div.on("plotly_click", (data) => {
    if (page.state.view === "3d" && data.points && data.points[0]) setStartFromMap(data.points[0].x, data.points[0].y);
  });
}

function applyPreset(preset) {
  stopPlay();
  // A lesson keeps the page's way of comparing (race or sweep) and its learning-rate range.
  page.state = withDefaults(Object.assign({ compare: page.state.compare, lr_range: page.state.lr_range }, preset.state));
  renderAll();
  onFunctionChanged();
}

function bindFunctionControls() {
  for (const button of document.querySelectorAll(".tabs button[data-mode]")) {
    button.addEventListener("click", () => {
      if (page.state.mode === button.dataset.mode) return;
      page.state.mode = button.dataset.mode;
      page.state.start = null;
      renderAll();
      onFunctionChanged();
    });
  }
  $("#function-select").addEventListener("change", (e) => {
    page.state.fn = e.target.value;
    page.state.start = null;
    renderAll();
    onFunctionChanged();
  });
  $("#expression-input").addEventListener("input", (e) => { page.state.expr = e.target.value; saveState(); scheduleValidation(); });
  const bound = (selector, axis, side) => $(selector).addEventListener("change", (e) => {
    const value = numberOrNull(e.target.value);
    if (value === null) return;
    page.state.bounds[axis][side] = value;
    onFunctionChanged();
  });
  bound("#expr-xmin", 0, 0); bound("#expr-xmax", 0, 1); bound("#expr-ymin", 1, 0); bound("#expr-ymax", 1, 1);
  bindDatasetControls(onFunctionChanged);
}

function bindRunControls() {
  const startField = () => {
    const x = numberOrNull($("#start-x").value), y = numberOrNull($("#start-y").value);
    page.state.start = x === null || y === null ? null : [x, y];
    saveState();
    drawMap();
  };
  $("#start-x").addEventListener("change", startField);
  $("#start-y").addEventListener("change", startField);
  $("#max-steps").addEventListener("change", (e) => { const v = numberOrNull(e.target.value); if (v !== null) page.state.max_steps = Math.max(1, Math.round(v)); saveState(); });
  $("#run-seed").addEventListener("change", (e) => { const v = numberOrNull(e.target.value); if (v !== null) page.state.seed = Math.max(0, Math.round(v)); saveState(); });
  $("#gradient-noise").addEventListener("change", (e) => { const v = numberOrNull(e.target.value); if (v !== null) page.state.noise = v; saveState(); });
  $("#add-config").addEventListener("click", () => {
    if (page.state.configs.length >= MAX_CONFIGS) return;
    const last = page.state.configs[page.state.configs.length - 1];
    page.state.configs.push(last ? clone(last) : { optimizer: "sgd", lr: 0.01, hp: {}, schedule: null });
    renderConfigs();
    saveState();
  });
}

function bindControls() {
  bindFunctionControls();
  bindRunControls();
  for (const button of document.querySelectorAll(".toggle button")) {
    button.addEventListener("click", () => { page.state.view = button.dataset.view; renderViewToggle(); saveState(); drawMap(); });
  }
  $("#run-button").addEventListener("click", () => (page.state.compare === "sweep" ? runSweepView() : runAll()));
  $("#cancel-button").addEventListener("click", () => (page.state.compare === "sweep" ? cancelSweepView() : cancelAll()));
  bindCompareControls(() => {
    stopPlay();
    clearRuns();
    page.state.picked = [];
    saveState();
    refreshResults();
    drawSweep();
  });
  $("#export-json").addEventListener("click", exportJson);
  $("#export-png").addEventListener("click", exportPng);
  $("#copy-link").addEventListener("click", async () => {
    const link = shareLink();
    try { await navigator.clipboard.writeText(link); setRunStatus("link copied"); } catch (err) { setRunStatus(link); }
  });
  $("#step-slider").addEventListener("input", (e) => {
    stopPlay();
    const step = Number(e.target.value);
    page.followReplay = step >= maxRecordedStep();
    setReplayStep(step);
  });
  $("#play-button").addEventListener("click", togglePlay);
  window.addEventListener("hashchange", () => {
    const decoded = decodeState(location.hash);
    if (decoded && JSON.stringify(withDefaults(decoded)) !== JSON.stringify(page.state)) {
      page.state = withDefaults(decoded);
      renderAll();
      onFunctionChanged();
    }
  });
  $("#preset-buttons").replaceChildren(...PRESETS.map((preset) => el("button", {
    type: "button", class: "preset", "data-preset": preset.id, text: preset.title, onclick: () => applyPreset(preset),
  })));
}

/* Read the catalogue and draw the surface: at start, and again when the API key changes. */
async function load() {
  try {
    await loadCatalog();
  } catch (err) {
    showError(`Could not load the catalogue from the service: ${err.message}`);
  }
  renderAll();
  refreshResults();
  await loadSurface();
}

async function reloadWithNewKey() {
  showError("");
  await load();
}

async function main() {
  page.state = withDefaults(decodeState(location.hash));
  bindControls();
  bindKeyField(reloadWithNewKey);
  await load();
  bindMapClick();
  watchDataView();
  restoreSweepView();
  document.body.dataset.ready = "true";
}

window.descentPage = {
  get state() { return clone(page.state); },
  get runs() {
    return page.runs.map((run) => ({
      index: run.index, label: run.label, status: run.status, jobId: run.jobId || null, hasResult: !!run.result,
      error: run.error || null, gone: !!run.gone, settled: !!run.settled,
    }));
  },
  get surface() {
    const { surface } = page;
    return surface ? { points: surface.points.map((p) => p.kind), hasGrid: !!surface.z, x: surface.x && [surface.x[0], surface.x[surface.x.length - 1]], y: surface.y && [surface.y[0], surface.y[surface.y.length - 1]] } : null;
  },
  get dataView() { return dataViewSnapshot(); },
  predict: predictWithPage,
  get sweep() { return sweepSnapshot(); },
  shareLink,
};

document.addEventListener("DOMContentLoaded", main);
