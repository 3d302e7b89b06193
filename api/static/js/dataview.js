/* The data view (dataset mode, data with one or two features): the samples, and the model at the
 * slider's step. One feature: every run's fitted curve over the samples (the prediction for
 * regression, the probability of class 1 or the class for classifiers). Two features: the class
 * regions (or the predicted value, for regression) of one run's model, chosen in the view's
 * selector, over a 100 × 100 grid, with the samples on top.
 *
 * The samples come from POST /v1/samples (the very rows a job with this model and data trains
 * on); the model is evaluated here, in the browser, from the trajectory's parameters (models.js
 * mirrors the engine's forward pass). The view is redrawn on the animation frame after the step,
 * the runs or the data change (watchDataView), so slider events between two frames cost one
 * drawing, not one each. */
import { api } from "./api.js";
import { modelInfo } from "./catalog.js";
import { setDataStatus } from "./datasetform.js";
import { $, el, fmt } from "./dom.js";
import { clearFieldErrors, markFieldErrors } from "./fielderrors.js";
import { curveValue, forward, gridValues, modelShape, predictSamples } from "./models.js";
import { drawMap } from "./plots.js";
import { datasetSpec, modelParamsSpec } from "./specs.js";
import { page } from "./state.js";

export const GRID_RESOLUTION = 100;
const CURVE_POINTS = 200;
const SAMPLE_LIMIT = 5000;  // rows drawn at most (POST /v1/samples thins larger data evenly)
const CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#d62728"];

const view = {
  samples: null, key: null, shape: null, box: null, xs: null, ys: null, runIndex: null,
  plotKey: null, image: null, regions: null, frames: 0, drawMs: 0, drawn: null,
};
let samplesRequest = 0;

function samplesBody() {
  return { function: page.state.model, function_params: modelParamsSpec(), data: datasetSpec(), max_samples: SAMPLE_LIMIT };
}

/* The samples of the current model and data (cached per request body); a 422 is shown beside
 * the fields it names and thrown. */
export async function loadSamples() {
  const body = samplesBody();
  const key = JSON.stringify(body);
  if (view.samples && view.key === key) return view.samples;
  const request = ++samplesRequest;
  clearFieldErrors();
  let samples;
  try {
    samples = await api("/v1/samples", { body });
  } catch (err) {
    if (request === samplesRequest) {
      Object.assign(view, { samples: null, key: null });
      markFieldErrors(err.fields);
      setDataStatus(err.message, true);
      layoutViews();
    }
    throw err;
  }
  if (request !== samplesRequest) return view.samples;
  setSamples(samples, key);
  return samples;
}

function setSamples(samples, key) {
  const d = samples.n_features;
  const shape = modelShape(modelInfo(page.state.model), page.state.model_params, d, samples.parameters);
  Object.assign(view, { samples, key, shape, box: null, xs: null, ys: null });
  if (d <= 2) {
    view.box = [0, 1].slice(0, d).map((j) => paddedRange(samples.X.map((row) => row[j])));
    view.xs = d === 2 ? cellCentres(view.box[0], GRID_RESOLUTION) : linspace(view.box[0], CURVE_POINTS);
    view.ys = d === 2 ? cellCentres(view.box[1], GRID_RESOLUTION) : null;
  }
  // A start point is two numbers: only a two-parameter model takes one from the page.
  if (samples.parameters !== 2) page.state.start = null;
  const thinned = samples.X.length < samples.n_samples ? ` (${samples.X.length} drawn)` : "";
  setDataStatus(`${samples.n_samples} samples${thinned}, ${d} feature${d === 1 ? "" : "s"}; ${page.state.model} has ${samples.parameters} parameters`
    + (d > 2 ? " — the data view draws data with one or two features" : ""), false);
  layoutViews();
}

function paddedRange(values) {
  let low = Infinity, high = -Infinity;
  for (const v of values) { if (v < low) low = v; if (v > high) high = v; }
  const pad = (high - low) * 0.1 || 1;
  return [low - pad, high + pad];
}

function linspace([low, high], count) {
  return Array.from({ length: count }, (_, i) => low + ((high - low) * i) / (count - 1));
}

/* The centres of `count` equal cells covering [low, high]: the grid's cells fill the axes. */
function cellCentres([low, high], count) {
  return Array.from({ length: count }, (_, i) => low + ((high - low) * (i + 0.5)) / count);
}

/* Which views the mode and the data call for: the data view for one or two features, the map
 * only where there is a loss surface to draw (two parameters) or no data yet. */
function layoutViews() {
  const dataset = page.state.mode === "dataset";
  const samples = dataset ? view.samples : null;
  const showData = !!(samples && samples.n_features <= 2);
  const showMap = !samples || samples.parameters === 2;
  const map = $("#map-plot");
  const mapWasHidden = map.hidden;
  $("#data-view").hidden = !showData;
  map.hidden = !showMap;
  $("#map-title").closest(".map-header").hidden = !showMap;
  $("#start-row").hidden = !showMap;
  $("#start-hint").hidden = !showMap;
  $("#init-hint").hidden = showMap;
  if (showMap && mapWasHidden) drawMap();  // not drawn while hidden (plots.js)
}

/* The parameters of `run` at the replay step: its last recorded point at or before it. */
function paramsAt(run, step) {
  const t = run.result && run.result.trajectory;
  if (!t || !t.step.length) return null;
  let low = 0, high = t.step.length - 1;
  if (t.step[0] > step) return { index: 0, params: t.params[0] };
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (t.step[mid] <= step) low = mid; else high = mid - 1;
  }
  return { index: low, params: t.params[low], step: t.step[low] };
}

const finiteVector = (w) => Array.isArray(w) && w.every((v) => v !== null && Number.isFinite(v));

function runsWithResults() { return page.runs.filter((run) => run.result && run.result.trajectory); }

function renderRunSelector(runs) {
  const select = $("#data-run");
  if (!runs.some((run) => run.index === view.runIndex)) view.runIndex = runs.length ? runs[0].index : null;
  const wanted = runs.map((run) => `${run.index}:${run.label}`).join("|");
  if (select.dataset.runs !== wanted) {
    select.replaceChildren(...runs.map((run) => el("option", { value: String(run.index), text: run.label })));
    select.dataset.runs = wanted;
  }
  select.value = view.runIndex === null ? "" : String(view.runIndex);
  select.closest("label").hidden = !(view.samples && view.samples.n_features === 2 && runs.length);
}

function sampleTraces(shape, samples) {
  const { X, y } = samples;
  if (samples.n_features === 1) {
    return [{ type: "scatter", mode: "markers", name: "samples", x: X.map((r) => r[0]), y,
      marker: { color: "#555", size: 5, opacity: 0.6 }, meta: { role: "samples" }, hoverinfo: "x+y" }];
  }
  if (!shape.classifier) {
    return [{ type: "scatter", mode: "markers", name: "samples", x: X.map((r) => r[0]), y: X.map((r) => r[1]),
      marker: { color: y, colorscale: VIRIDIS_SCALE, cmin: paddedRange(y)[0], cmax: paddedRange(y)[1], size: 6, line: { color: "#fff", width: 0.5 },
        showscale: true, colorbar: { thickness: 10, title: { text: "y, ŷ" } } },
      text: y.map((v) => `y = ${fmt(v)}`), hoverinfo: "text", meta: { role: "samples" } }];
  }
  const traces = [];
  for (let c = 0; c < shape.classes; c++) {
    const rows = X.filter((_, i) => y[i] === c);
    traces.push({ type: "scatter", mode: "markers", name: `class ${c}`, x: rows.map((r) => r[0]), y: rows.map((r) => r[1]),
      marker: { color: CLASS_COLORS[c % CLASS_COLORS.length], size: 6, line: { color: "#fff", width: 0.8 } },
      meta: { role: "samples", class: c }, hoverinfo: "x+y+name" });
  }
  return traces;
}

/* Viridis (matplotlib's), sampled at nine stops: the predicted value's colours, shared by the
 * regression grid and its samples. */
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
const VIRIDIS_SCALE = VIRIDIS.map((color, i) => [i / (VIRIDIS.length - 1), color]);
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const VIRIDIS_RGB = VIRIDIS.map(rgb);
const CLASS_RGB = CLASS_COLORS.map(rgb);

function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS_RGB.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS_RGB.length - 2), f = x - i;
  const a = VIRIDIS_RGB[i], b = VIRIDIS_RGB[i + 1];
  return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
}

/* Two features: the chosen run's class regions (or predicted value) at the step, painted as
 * one pixel a grid cell into a canvas laid under the plot's axes (the plot is transparent).
 * Painting 100 × 100 pixels costs far less than Plotly recomputing a heatmap every frame, and
 * the plot itself is redrawn only when the samples or the runs change. */
function paintRegions(shape, run, step) {
  const canvas = $("#data-regions");
  const at = run && paramsAt(run, step);
  if (!at || !finiteVector(at.params)) { canvas.hidden = true; return { at, counts: null }; }
  const n = GRID_RESOLUTION;
  const z = gridValues(shape, at.params, view.xs, view.ys);
  const context = canvas.getContext("2d");
  if (!view.image) view.image = context.createImageData(n, n);
  const pixels = view.image.data;
  const counts = {};
  const [low, high] = shape.classifier ? [0, 1] : paddedRange(view.samples.y);
  for (let i = 0; i < n; i++) {
    const row = z[n - 1 - i];  // canvas rows go down, y goes up
    for (let j = 0; j < n; j++) {
      const value = row[j];
      const color = shape.classifier ? CLASS_RGB[value % CLASS_RGB.length] : viridis((value - low) / (high - low));
      if (shape.classifier) counts[value] = (counts[value] || 0) + 1;
      const k = 4 * (i * n + j);
      pixels[k] = color[0]; pixels[k + 1] = color[1]; pixels[k + 2] = color[2];
      pixels[k + 3] = shape.classifier ? 70 : 150;
    }
  }
  context.putImageData(view.image, 0, 0);
  placeCanvas(canvas);
  return { at, counts };
}

/* Lay the canvas exactly over the plot's axes (Plotly's plot area, in CSS pixels). */
function placeCanvas(canvas) {
  const plot = $("#data-plot");
  const size = plot._fullLayout && plot._fullLayout._size;
  if (!size) { canvas.hidden = true; return; }
  Object.assign(canvas.style, { left: `${plot.offsetLeft + size.l}px`, top: `${plot.offsetTop + size.t}px`, width: `${size.w}px`, height: `${size.h}px` });
  canvas.hidden = false;
}

/* One feature: every run's curve at the step, in its colour. */
function curveTraces(shape, runs, step) {
  const traces = [];
  const point = new Float64Array(1);
  for (const run of runs) {
    const at = paramsAt(run, step);
    if (!at || !finiteVector(at.params)) continue;
    const predict = forward(shape, at.params);
    const ys = view.xs.map((x) => { point[0] = x; return curveValue(shape, predict(point)); });
    traces.push({ type: "scatter", mode: "lines", name: run.label, x: view.xs, y: ys,
      line: { color: run.color, width: 2.5, shape: shape.classifier && shape.outputs > 2 ? "hv" : "linear" },
      meta: { role: "model", run: run.index, step: at.step } });
  }
  return traces;
}

function plotLayout(samples, shape) {
  const two = samples.n_features === 2;
  const names = two ? ["x₁", "x₂"] : ["x", shape.classifier ? (shape.outputs > 2 ? "class" : "y, P(class 1)") : "y"];
  return {
    margin: { l: 45, r: 10, t: 10, b: 40 }, showlegend: true, uirevision: view.key,
    legend: { orientation: "h", y: -0.16, yanchor: "top", font: { size: 11 } },
    // Transparent, with fixed axes: the regions' canvas lies under the plot area.
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: { title: { text: names[0] }, range: view.box[0], fixedrange: two },
    yaxis: { title: { text: names[1] }, range: two ? view.box[1] : undefined, fixedrange: two },
  };
}

export function drawDataView() {
  layoutViews();
  const { samples, shape } = view;
  if (page.state.mode !== "dataset" || !samples || samples.n_features > 2 || typeof Plotly === "undefined") return;
  const started = performance.now();
  const plot = $("#data-plot");
  const runs = runsWithResults();
  renderRunSelector(runs);
  const step = page.replayStep;
  let at = null;
  if (samples.n_features === 2) {
    // The plot (samples, axes) changes with the data only; the regions every frame.
    const plotKey = `${view.key}|${plot.clientWidth}x${plot.clientHeight}`;
    if (view.plotKey !== plotKey) {
      Plotly.react(plot, sampleTraces(shape, samples), plotLayout(samples, shape), { responsive: true, displaylogo: false });
      view.plotKey = plotKey;
    }
    const painted = paintRegions(shape, runs.find((run) => run.index === view.runIndex), step);
    at = painted.at;
    view.regions = at ? { run: view.runIndex, step: at.step ?? 0, counts: painted.counts } : null;
  } else {
    $("#data-regions").hidden = true;
    view.plotKey = null;
    view.regions = null;
    Plotly.react(plot, [...curveTraces(shape, runs, step), ...sampleTraces(shape, samples)], plotLayout(samples, shape),
      { responsive: true, displaylogo: false });
  }
  const diverged = at && !finiteVector(at.params) ? " (not finite: diverged)" : "";
  $("#data-title").textContent = `${page.state.model}: ${shape.classifier ? "classes" : "predictions"} at step ${step}${diverged}`;
  view.frames += 1;
  view.drawMs = performance.now() - started;
  view.drawn = { step, run: view.runIndex, paramsIndex: at ? at.index : null };
}

/* Redraw the data view on the next animation frame whenever what it shows has changed. */
export function watchDataView() {
  let last = "";
  let resizes = 0;
  let nextId = 0;
  const runsIds = new WeakMap();  // a new race is a new page.runs array
  const tick = () => {
    if (!runsIds.has(page.runs)) runsIds.set(page.runs, nextId++);
    const key = [page.state.mode, view.key, page.replayStep, view.runIndex, runsIds.get(page.runs), resizes,
      page.runs.map((run) => (run.result ? 1 : 0)).join("")].join("|");
    if (key !== last) {
      last = key;
      drawDataView();
    }
    requestAnimationFrame(tick);
  };
  window.addEventListener("resize", () => { resizes += 1; });
  $("#data-run").addEventListener("change", (e) => { view.runIndex = Number(e.target.value); });
  requestAnimationFrame(tick);
}

/* For the browser tests: what the view shows, and the page's forward pass on given parameters. */
export function dataViewSnapshot() {
  const plot = $("#data-plot");
  return {
    visible: !$("#data-view").hidden, mapVisible: !$("#map-plot").hidden,
    samples: view.samples ? { n: view.samples.n_samples, features: view.samples.n_features, parameters: view.samples.parameters } : null,
    classifier: view.shape ? view.shape.classifier : null, frames: view.frames, drawMs: view.drawMs, drawn: view.drawn,
    traces: (plot.data || []).map((t) => ({ role: t.meta && t.meta.role, points: (t.x || []).length, run: t.meta ? t.meta.run : null })),
    regions: view.regions && !$("#data-regions").hidden ? Object.assign({ grid: [view.ys.length, view.xs.length] }, view.regions) : null,
  };
}

export function predictWithPage(model, functionParams, nFeatures, parameterCount, params, X) {
  return predictSamples(modelShape(modelInfo(model), functionParams, nFeatures, parameterCount), params, X);
}
