/* The loss surface under the paths: a catalogue function's grid and stationary points, a typed
 * formula's (validated by the same request), or the (w, b) loss surface of a two-parameter
 * dataset model. */
import { SURFACE_RESOLUTION } from "./constants.js";
import { api } from "./api.js";
import { catalog } from "./catalog.js";
import { loadSamples } from "./dataview.js";
import { showError } from "./dom.js";
import { setExpressionStatus } from "./forms.js";
import { drawMap } from "./plots.js";
import { datasetSpec, functionSpec, modelParamsSpec } from "./specs.js";
import { page } from "./state.js";

let surfaceRequest = 0;  // only the latest request may set the surface

function normalizePoints(list) {
  return (list || []).filter((p) => p && Array.isArray(p.params) && p.params.length >= 2)
    .map((p) => ({ params: p.params, value: p.value, kind: p.kind || p.classification || "degenerate" }));
}

export async function loadSurface() {
  const request = ++surfaceRequest;
  let next = null;
  try {
    if (page.state.mode === "catalogue") {
      const name = encodeURIComponent(page.state.fn);
      const [details, grid] = await Promise.all([
        catalog.details[page.state.fn] ? Promise.resolve(catalog.details[page.state.fn]) : api(`/v1/functions/${name}`),
        api(`/v1/functions/${name}/surface?resolution=${SURFACE_RESOLUTION}`),
      ]);
      catalog.details[page.state.fn] = details;
      next = {
        x: grid.x, y: grid.y, z: grid.z, points: normalizePoints(details.stationary_points),
        axisNames: (details.parameter_names || ["x", "y"]).slice(0, 2), title: page.state.fn,
        start: details.start,
      };
    } else if (page.state.mode === "expression") {
      next = await expressionSurface();
    } else {
      next = await datasetSurface();
    }
  } catch (err) {
    if (request !== surfaceRequest) return;
    if (page.state.mode === "expression") setExpressionStatus(err.message, true);
    else showError(`Could not load the ${page.state.mode === "dataset" ? "data set" : "surface"}: ${err.message}`);
    // Without a surface the paths are still drawn, on a plain plane.
    page.surface = page.state.mode === "dataset" ? { x: null, y: null, z: null, points: [], axisNames: ["w", "b"], title: `${page.state.model}: no data` } : null;
    drawMap();
    return;
  }
  if (request !== surfaceRequest) return;
  page.surface = next;
  if (page.state.mode !== "expression") showError("");
  drawMap();
}

async function expressionSurface() {
  const fn = functionSpec();
  const [[x0, x1], [y0, y1]] = page.state.bounds;
  const grid = await api("/v1/surface", {
    body: { function: fn, resolution: SURFACE_RESOLUTION, x_min: x0, x_max: x1, y_min: y0, y_max: y1 },
  });
  setExpressionStatus("✓ valid formula", false);
  let points = normalizePoints(grid.stationary_points);
  if (!points.length) {
    try {
      const analysis = await api("/v1/analyze", { body: { function: fn, bounds: page.state.bounds } });
      points = normalizePoints(analysis.points || analysis.stationary_points || []);
    } catch (err) {
      points = [];  // the surface is valid; stationary points are a bonus
    }
  }
  return { x: grid.x, y: grid.y, z: grid.z, points, axisNames: ["x", "y"], title: `f(x, y) = ${page.state.expr}` };
}

/* Dataset mode: first the samples (the data view's, POST /v1/samples). A model with two
 * parameters (linear or logistic regression on one feature) has its (w, b) loss surface, which
 * the API computes from the same data the jobs use (an uploaded data set goes inline, as the
 * samples read back); the box is widened to hold the start point and every trajectory, so the
 * paths are always drawn on the surface. Other models have no surface: the map is hidden. */
async function datasetSurface() {
  const samples = await loadSamples();
  const names = samples.parameter_names.slice(0, 2);
  const title = `${page.state.model.replace("_", " ")}: ${page.state.model === "linear_regression" ? "MSE" : "loss"} over (${names.join(", ")})`;
  const base = { x: null, y: null, z: null, points: [], axisNames: names, title };
  const data = surfaceData(samples);
  if (samples.parameters !== 2 || !data) return base;
  const model = { function: page.state.model, function_params: modelParamsSpec(), data };
  let grid = await datasetGrid(model, null);
  const want = unionBox(grid, trajectoryExtent());
  if (want) grid = await datasetGrid(model, want);
  let points = [];
  try {
    const bounds = [[grid.x[0], grid.x[grid.x.length - 1]], [grid.y[0], grid.y[grid.y.length - 1]]];
    const analysis = await api("/v1/analyze", { body: Object.assign({ bounds }, model) });
    points = normalizePoints(analysis.points || analysis.stationary_points || []);
  } catch (err) {
    points = [];  // the surface is drawn; the minimum's marker is a bonus
  }
  return Object.assign(base, { x: grid.x, y: grid.y, z: grid.z, points });
}

/* The data the surface is computed from: the generator's spec, or an uploaded data set's rows
 * (the surface endpoint reads no stored data sets) when all of them were read back. */
function surfaceData(samples) {
  const data = datasetSpec();
  if (!("dataset_id" in data)) return data;
  return samples.X.length === samples.n_samples ? { X: samples.X, y: samples.y } : null;
}

function datasetGrid(model, box) {
  const body = Object.assign({ resolution: SURFACE_RESOLUTION }, model);
  if (box) Object.assign(body, { x_min: box.x0, x_max: box.x1, y_min: box.y0, y_max: box.y1 });
  return api("/v1/surface", { body });
}

/* The smallest box holding the grid and the extent, or null when the grid already holds it. */
function unionBox(grid, extent) {
  if (!extent) return null;
  const box = { x0: grid.x[0], x1: grid.x[grid.x.length - 1], y0: grid.y[0], y1: grid.y[grid.y.length - 1] };
  if (extent.x0 >= box.x0 && extent.x1 <= box.x1 && extent.y0 >= box.y0 && extent.y1 <= box.y1) return null;
  return { x0: Math.min(box.x0, extent.x0), x1: Math.max(box.x1, extent.x1), y0: Math.min(box.y0, extent.y0), y1: Math.max(box.y1, extent.y1) };
}

/* The box around the start point and every recorded trajectory point (padded), or null. */
function trajectoryExtent() {
  const extent = { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
  if (page.state.start) extendExtent(extent, page.state.start);
  for (const run of page.runs) {
    const t = run.result && run.result.trajectory;
    if (t) for (const p of t.params) if (p && Number.isFinite(p[0]) && Number.isFinite(p[1]) && Math.abs(p[0]) < 1e6 && Math.abs(p[1]) < 1e6) extendExtent(extent, p);
  }
  if (!Number.isFinite(extent.x0)) return null;
  const padX = (extent.x1 - extent.x0) * 0.1 || 1, padY = (extent.y1 - extent.y0) * 0.1 || 1;
  return { x0: extent.x0 - padX, x1: extent.x1 + padX, y0: extent.y0 - padY, y1: extent.y1 + padY };
}

function extendExtent(extent, p) {
  extent.x0 = Math.min(extent.x0, p[0]); extent.x1 = Math.max(extent.x1, p[0]);
  extent.y0 = Math.min(extent.y0, p[1]); extent.y1 = Math.max(extent.y1, p[1]);
}
