/* The plots (Plotly, vendored and loaded as a classic script before the modules): the map
 * with the surface, stationary points and trajectories (contour or 3-D), the loss curves and
 * the learning rate per step. Each trace carries `meta.role` for the browser tests. */
import { KIND_STYLE } from "./constants.js";
import { $, fmt } from "./dom.js";
import { page } from "./state.js";

/* Functions like Rosenbrock span many decades: contour levels of the raw values would all
 * crowd around the minimum. When the values are that skewed we contour log10(f − min + ε). */
function contourValues(z) {
  const flat = z.flat().filter((v) => v !== null && Number.isFinite(v));
  if (!flat.length) return { values: z, log: false };
  const sorted = flat.slice().sort((a, b) => a - b);
  const min = sorted[0], max = sorted[sorted.length - 1], median = sorted[Math.floor(sorted.length / 2)];
  const span = max - min;
  const useLog = span > 0 && span / Math.max(median - min, span * 1e-12) > 15;
  if (!useLog) return { values: z, log: false };
  const eps = span * 1e-6;
  return { values: z.map((r) => r.map((v) => (v === null || !Number.isFinite(v) ? null : Math.log10(v - min + eps)))), log: true };
}

function plotConfig() {
  return { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
}

function pointsUpTo(run, step) {
  const t = run.result && run.result.trajectory;
  if (!t) return null;
  let end = 0;
  while (end < t.step.length && t.step[end] <= step) end++;
  return { params: t.params.slice(0, Math.max(1, end)), loss: t.loss.slice(0, Math.max(1, end)) };
}

function stationaryTraces(is3d, zOf) {
  const traces = [];
  if (!page.surface) return traces;
  for (const [kind, style] of Object.entries(KIND_STYLE)) {
    const pts = page.surface.points.filter((p) => p.kind === kind);
    if (!pts.length) continue;
    const trace = {
      name: style.label, mode: "markers", legendgroup: "stationary",
      x: pts.map((p) => p.params[0]), y: pts.map((p) => p.params[1]),
      text: pts.map((p) => `${style.label}: f = ${fmt(p.value)}`), hoverinfo: "text",
      marker: { symbol: style.symbol, color: style.color, size: style.size, line: { color: "#000", width: 1 } },
      meta: { role: "stationary", kind },
    };
    if (is3d) {
      trace.type = "scatter3d";
      trace.z = pts.map((p) => zOf(p.value));
      trace.marker.size = style.size / 2;
      if (trace.marker.symbol === "star" || trace.marker.symbol === "triangle-up") trace.marker.symbol = "diamond";
    } else {
      trace.type = "scatter";
    }
    traces.push(trace);
  }
  return traces;
}

function trajectoryTraces(is3d, zOf) {
  const traces = [];
  for (const run of page.runs) {
    const part = pointsUpTo(run, page.replayStep);
    if (!part) continue;
    const xs = part.params.map((p) => (p ? p[0] : null));
    const ys = part.params.map((p) => (p ? p[1] : null));
    const line = {
      name: run.label, mode: "lines", x: xs, y: ys, legendgroup: `run${run.index}`,
      line: { color: run.color, width: 2.5 }, meta: { role: "trajectory", run: run.index },
      hovertemplate: `${run.label}<br>(%{x:.4g}, %{y:.4g})<extra></extra>`,
    };
    const ends = {
      name: `${run.label} start/end`, mode: "markers", showlegend: false, legendgroup: `run${run.index}`,
      x: [xs[0], xs[xs.length - 1]], y: [ys[0], ys[ys.length - 1]],
      marker: { color: run.color, size: [9, 12], symbol: ["circle-open", "circle"], line: { color: "#000", width: 1.5 } },
      meta: { role: "endpoints", run: run.index }, hoverinfo: "skip",
    };
    if (is3d) {
      const zs = part.loss.map((v) => (v === null ? null : zOf(v)));
      Object.assign(line, { type: "scatter3d", z: zs, line: { color: run.color, width: 6 } });
      Object.assign(ends, { type: "scatter3d", z: [zs[0], zs[zs.length - 1]], marker: { color: run.color, size: 5 } });
    } else {
      line.type = "scatter";
      ends.type = "scatter";
    }
    traces.push(line, ends);
  }
  return traces;
}

export function drawMap() {
  const div = $("#map-plot");
  // A hidden map (a dataset model with no 2-D surface) is drawn when it is shown (dataview.js).
  if (typeof Plotly === "undefined" || div.hidden) return;
  const is3d = page.state.view === "3d";
  const traces = [];
  let zOf = (v) => v;
  const names = page.surface ? page.surface.axisNames : ["x", "y"];
  if (page.surface && page.surface.z) {
    const { values, log } = contourValues(page.surface.z);
    if (log) {
      const flat = page.surface.z.flat().filter((v) => v !== null && Number.isFinite(v));
      const min = Math.min(...flat), eps = (Math.max(...flat) - min) * 1e-6;
      zOf = (v) => Math.log10(Math.max(v - min, 0) + eps);
    }
    const text = page.surface.z.map((r) => r.map((v) => fmt(v)));
    const colorbar = { title: { text: log ? "log₁₀(f − min)" : "f" }, thickness: 12 };
    if (is3d) {
      traces.push({ type: "surface", x: page.surface.x, y: page.surface.y, z: values, text, colorscale: "Viridis", opacity: 0.85,
        hovertemplate: `${names[0]}=%{x:.3g}<br>${names[1]}=%{y:.3g}<br>f=%{text}<extra></extra>`, colorbar, showscale: false, meta: { role: "surface" } });
    } else {
      traces.push({ type: "contour", x: page.surface.x, y: page.surface.y, z: values, text, colorscale: "Viridis", ncontours: 30,
        contours: { coloring: "heatmap", showlines: true }, line: { width: 0.5, color: "rgba(255,255,255,0.35)" },
        hovertemplate: `${names[0]}=%{x:.3g}<br>${names[1]}=%{y:.3g}<br>f=%{text}<extra></extra>`, colorbar, showlegend: false, meta: { role: "surface" } });
    }
  }
  traces.push(...stationaryTraces(is3d, zOf));
  traces.push(...trajectoryTraces(is3d, zOf));
  if (page.state.start && !is3d) {
    traces.push({ type: "scatter", mode: "markers", name: "start", x: [page.state.start[0]], y: [page.state.start[1]],
      marker: { symbol: "circle-open", size: 14, color: "#fff", line: { width: 3, color: "#fff" } }, meta: { role: "start" }, hoverinfo: "name" });
  }
  const layout = {
    margin: { l: 45, r: 10, t: 10, b: 40 }, uirevision: `${page.state.mode}:${page.state.fn}:${page.state.expr}:${page.state.view}`,
    legend: { orientation: "h", y: -0.16, yanchor: "top", font: { size: 11 } }, showlegend: true,
  };
  if (is3d) {
    layout.scene = { xaxis: { title: { text: names[0] } }, yaxis: { title: { text: names[1] } }, zaxis: { title: { text: "f" } } };
    if (page.surface && page.surface.x && page.surface.z) {
      // Keep the view on the surface's box: a diverging path would otherwise shrink it to a dot.
      const finite = page.surface.z.flat().filter((v) => v !== null && Number.isFinite(v)).map(zOf);
      layout.scene.xaxis.range = [page.surface.x[0], page.surface.x[page.surface.x.length - 1]];
      layout.scene.yaxis.range = [page.surface.y[0], page.surface.y[page.surface.y.length - 1]];
      layout.scene.zaxis.range = [Math.min(...finite), Math.max(...finite)];
      layout.scene.zaxis.title.text = zOf(2) === 2 ? "f" : "log₁₀(f − min)";
    }
  } else {
    layout.xaxis = { title: { text: names[0] } };
    layout.yaxis = { title: { text: names[1] } };
    if (page.surface && page.surface.x) {
      layout.xaxis.range = [page.surface.x[0], page.surface.x[page.surface.x.length - 1]];
      layout.yaxis.range = [page.surface.y[0], page.surface.y[page.surface.y.length - 1]];
    }
  }
  Plotly.react(div, traces, layout, plotConfig());
  $("#map-title").textContent = page.surface ? page.surface.title : "Loss surface";
  $("#start-x-label").textContent = `Start ${names[0]}`;
  $("#start-y-label").textContent = `Start ${names[1]}`;
}

/* Losses that reach zero or below (six-hump camel, −0.25 minima) have no log: then we plot
 * the gap to the known global minimum value f*, or fall back to a linear axis. */
function lossScale() {
  const values = page.runs.flatMap((run) => (run.result && run.result.trajectory ? run.result.trajectory.loss : []))
    .filter((v) => v !== null && Number.isFinite(v));
  if (!values.some((v) => v <= 0)) return { offset: 0, logY: true, title: "Loss (log scale)" };
  const globals = page.surface ? page.surface.points.filter((p) => p.kind === "global" && Number.isFinite(p.value)).map((p) => p.value) : [];
  if (!globals.length) return { offset: 0, logY: false, title: "Loss" };
  const best = Math.min(...globals);
  return { offset: best, logY: true, title: `Loss − f* (f* = ${fmt(best)}, log scale)` };
}

/* The replay step's dotted line on the loss and learning-rate plots. */
function replayCursor() {
  return [{ type: "line", xref: "x", yref: "paper", x0: page.replayStep, x1: page.replayStep, y0: 0, y1: 1, line: { color: "#999", dash: "dot", width: 1 } }];
}

/* What the curves were last drawn from: while it is the same, a replay step moves the cursor
 * only (a relayout), instead of redrawing every curve (measured: 138 ms → a few ms a step with
 * two 2000-point runs, on this loaded machine). */
let curvesDrawnFrom = [];

export function drawCurves() {
  if (typeof Plotly === "undefined") return;
  const drawnFrom = [page.runs, page.surface, ...page.runs.map((run) => run.result)];
  const cursorOnly = drawnFrom.length === curvesDrawnFrom.length && drawnFrom.every((item, i) => item === curvesDrawnFrom[i]);
  curvesDrawnFrom = drawnFrom;
  if (cursorOnly && page.runs.length) {
    const shapes = replayCursor();
    Plotly.relayout($("#loss-plot"), { shapes });
    Plotly.relayout($("#lr-plot"), { shapes });
    return;
  }
  const lossTraces = [], lrTraces = [];
  const { offset, logY, title } = lossScale();
  for (const run of page.runs) {
    const t = run.result && run.result.trajectory;
    if (!t) continue;
    const positive = t.loss.map((v) => (v === null || (logY && !(v - offset > 0)) ? null : v - offset));
    lossTraces.push({ type: "scatter", mode: "lines", name: run.label, x: t.step, y: positive, line: { color: run.color }, meta: { run: run.index } });
    if (t.lr) lrTraces.push({ type: "scatter", mode: "lines", name: run.label, x: t.step, y: t.lr, line: { color: run.color, shape: "hv" }, meta: { run: run.index } });
  }
  const common = { margin: { l: 55, r: 10, t: 30, b: 35 }, showlegend: false, shapes: page.runs.length ? replayCursor() : [] };
  Plotly.react($("#loss-plot"), lossTraces, Object.assign({ title: { text: title, font: { size: 13 } }, xaxis: { title: { text: "step" } }, yaxis: { type: logY ? "log" : "linear", exponentformat: "power" } }, common), plotConfig());
  // Learning rates a hundredfold apart share the plot only on a log axis.
  const rates = lrTraces.flatMap((trace) => trace.y.filter((v) => v > 0));
  const lrLog = rates.length > 0 && Math.max(...rates) / Math.min(...rates) > 50;
  Plotly.react($("#lr-plot"), lrTraces, Object.assign({ title: { text: "Learning rate", font: { size: 13 } }, xaxis: { title: { text: "step" } }, yaxis: { type: lrLog ? "log" : "linear", rangemode: "tozero", exponentformat: "power" } }, common), plotConfig());
}
