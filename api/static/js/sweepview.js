/* The learning-rate sweep view and the "Compare" settings (race or sweep, tune first, the
 * learning-rate range).
 *
 * One sweep on the service (sweeps.js: the configurations' optimizers × log-spaced learning
 * rates, best run per optimizer), its progress while it runs, then final loss (log) against
 * learning rate (log), one curve per optimizer in its race colour, diverged runs in a strip
 * at the top, each optimizer's best rate starred. A click on a point fetches that run's
 * trajectory (`?runs=`) and draws it on the map like a race's path (a second click removes it).
 * The link holds the view: `compare`, `lr_range`, the sweep's id and the picked runs; a sweep
 * that is gone (or was made for other settings) is run again from the state. The settings
 * (race or sweep, the range) are in compare.js. */
import { MAX_CONFIGS } from "./constants.js";
import { api } from "./api.js";
import { $, el, fmt, setRunStatus, showError } from "./dom.js";
import { clearRuns, refreshResults } from "./runs.js";
import { page, saveState } from "./state.js";
import {
  cancelSweep, describeRange, logRates, optimizerGroups, optimizerLabel, rangeProblem, runSweep,
  shortRate, stableKey, sweepBody, sweepResult,
} from "./sweeps.js";

let sweepRequest = 0;  // only the latest sweep may draw
let clickBound = false;

/* ---------------------------------------------------------------- running */

function setSweepStatus(text, fraction) {
  const status = $("#sweep-status");
  status.replaceChildren(text);
  if (fraction !== undefined) status.append(el("span", { class: "progress" }, el("span", { style: `width:${Math.round(100 * fraction)}%` })));
}

function setButtons(busy) {
  $("#run-button").disabled = busy;
  $("#cancel-button").disabled = !busy;
}

function showProgress(document_) {
  const { runs_done: done, runs_total: total } = document_.progress;
  const text = `${document_.status}… ${done}/${total} runs`;
  setSweepStatus(text, total ? done / total : 0);
  setRunStatus(text);
}

/* Forget the sweep (a new function, or a new sweep): its curve, its picked paths, its id. */
export function clearSweepView() {
  if (page.sweep && page.sweep.handle) page.sweep.handle.stopped = true;
  sweepRequest++;
  page.sweep = null;
  page.state.sweep_id = null;
  page.state.picked = [];
  if (page.state.compare === "sweep") {
    setSweepStatus("");
    drawSweep();
  }
}

/* Run the sweep of the page's settings (or follow the sweep `existingId`, when the link named
 * one made for these settings), then draw it and the runs in `picked`. */
export async function runSweepView(existingId = null, picked = []) {
  const problem = rangeProblem(page.state.lr_range);
  if (problem) { showError(`Learning-rate range: ${problem}`); return; }
  showError("");
  clearRuns();
  clearSweepView();
  refreshResults();
  const request = sweepRequest;
  const rates = logRates(page.state.lr_range);
  const body = sweepBody(page.state.configs, rates);
  const handle = { id: existingId, stopped: false };
  const sweep = { handle, body, groups: optimizerGroups(page.state.configs), status: "running", result: null, timings: {} };
  page.sweep = sweep;
  setButtons(true);
  setSweepStatus("submitting…", 0);
  const started = performance.now();
  try {
    const finished = await runSweep(handle, existingId ? null : body, (document_) => {
      if (request !== sweepRequest) return;
      if (!page.state.sweep_id && document_.id) { page.state.sweep_id = document_.id; saveState(); }
      showProgress(document_);
    });
    if (!finished || request !== sweepRequest) return;
    sweep.status = finished.status;
    if (finished.status === "failed") throw new Error((finished.error && finished.error.message) || "the sweep failed");
    sweep.result = await sweepResult(handle.id);
    sweep.timings.requestMs = performance.now() - started;
  } catch (err) {
    if (request !== sweepRequest) return;
    sweep.status = "failed";
    setButtons(false);
    setSweepStatus(`The sweep could not run: ${err.message}`);
    setRunStatus("");
    showError(`The sweep could not run:\n${err.message}`);
    return;
  }
  if (request !== sweepRequest) return;
  page.state.sweep_id = handle.id;
  saveState();
  const drawStart = performance.now();
  await drawSweep();
  sweep.timings.drawMs = performance.now() - drawStart;
  sweep.status = "drawn";
  setButtons(false);
  const runs = sweep.result.runs.length;
  const cancelled = finishedCancelled(sweep) ? " (cancelled: the runs that finished)" : "";
  const text = `${runs} runs${cancelled}: answered in ${fmt(sweep.timings.requestMs / 1000, 2)} s, drawn in ${Math.round(sweep.timings.drawMs)} ms`;
  setSweepStatus(text);
  setRunStatus(text);
  if (picked.length) await pickRuns(picked);
}

function finishedCancelled(sweep) {
  return sweep.result && sweep.result.runs.some((run) => run.stop_reason === "cancelled" || !run.final);
}

/* Cancel: the service keeps the runs that finished; the sweep is followed to its end and those
 * are drawn. */
export async function cancelSweepView() {
  const sweep = page.sweep;
  if (!sweep || sweep.status !== "running") return;
  setRunStatus("cancelling…");
  await cancelSweep(sweep.handle.id);
}

/* At start: the link's sweep, if it is still on the service and was made for these settings;
 * otherwise the sweep is run again. */
export async function restoreSweepView() {
  if (page.state.compare !== "sweep") return;
  const { sweep_id: id, picked } = page.state;
  if (!id) { drawSweep(); setSweepStatus("Press “Run sweep”."); return; }
  const body = sweepBody(page.state.configs, logRates(page.state.lr_range));
  let same = false;
  try {
    const document_ = await api(`/v1/sweeps/${encodeURIComponent(id)}`);
    same = document_.status !== "failed" && !!document_.sweep
      && stableKey(document_.sweep.base) === stableKey(body.base) && stableKey(document_.sweep.grid) === stableKey(body.grid);
  } catch (err) {
    same = false;  // gone (deleted, expired, another server): run it again
  }
  await runSweepView(same ? id : null, picked.slice());
}

/* ---------------------------------------------------------------- picking runs */

function groupOf(sweep, entry) {
  const key = stableKey(entry.overrides.optimizer);
  const index = sweep.groups.findIndex((g) => g.key === key);
  return index >= 0 ? sweep.groups[index] : { key, label: optimizerLabel(entry.overrides.optimizer), color: "#444" };
}

function pickedRun(sweep, entry) {
  const group = groupOf(sweep, entry);
  const rate = entry.overrides.learning_rate;
  return {
    index: entry.index, sweepRun: entry.index, color: group.color, status: "loading",
    label: `${group.label} lr=${shortRate(rate)}`, lrText: `${shortRate(rate)} (sweep run ${entry.index})`,
  };
}

/* Fetch the trajectories of sweep runs `indices` (one request) and draw them with the others. */
async function pickRuns(indices) {
  const sweep = page.sweep;
  if (!sweep || !sweep.result) return;
  const byIndex = new Map(sweep.result.runs.map((entry) => [entry.index, entry]));
  const fresh = indices.filter((i) => byIndex.has(i) && !page.runs.some((run) => run.sweepRun === i));
  if (!fresh.length) return;
  const added = fresh.map((i) => pickedRun(sweep, byIndex.get(i)));
  page.runs.push(...added);
  page.runs.splice(0, Math.max(0, page.runs.length - MAX_CONFIGS));
  rememberPicked();
  refreshResults();
  try {
    const result = await sweepResult(sweep.handle.id, fresh);
    if (page.sweep !== sweep) return;
    const withPaths = new Map(result.runs.filter((entry) => entry.trajectory).map((entry) => [entry.index, entry]));
    for (const run of added) {
      run.result = withPaths.get(run.sweepRun) || null;
      run.status = run.result ? "succeeded" : "failed";
      if (!run.result) run.error = "no trajectory for this run";
      run.settled = true;
    }
  } catch (err) {
    for (const run of added) { run.status = "failed"; run.error = err.message; run.settled = true; }
  }
  refreshResults();
  drawSweep();
}

function unpick(index) {
  page.runs = page.runs.filter((run) => run.sweepRun !== index);
  rememberPicked();
  refreshResults();
  drawSweep();
}

function rememberPicked() {
  page.state.picked = page.runs.filter((run) => run.sweepRun !== undefined).map((run) => run.sweepRun);
  saveState();
}

function onPointClick(data) {
  const point = data && data.points && data.points[0];
  if (!point || point.customdata === undefined || point.customdata === null) return;
  const index = Number(point.customdata);
  if (page.runs.some((run) => run.sweepRun === index)) unpick(index);
  else pickRuns([index]);
}

/* ---------------------------------------------------------------- the plot */

function isDiverged(entry) {
  return entry.stop_reason === "diverged" || !Number.isFinite(entry.final.loss);
}

/* Final losses that reach zero or below (six-hump camel) have no log: plot the gap to the known
 * global minimum value f* then, or fall back to a linear axis. */
function lossScale(entries) {
  const losses = entries.map((entry) => entry.final.loss);
  if (!losses.some((v) => v <= 0)) return { offset: 0, log: true, title: "final loss" };
  const globals = page.surface ? page.surface.points.filter((p) => p.kind === "global" && Number.isFinite(p.value)).map((p) => p.value) : [];
  if (!globals.length) return { offset: 0, log: false, title: "final loss" };
  const best = Math.min(...globals);
  return { offset: best, log: true, title: `final loss − f* (f* = ${fmt(best)})` };
}

export function sweepTraces(sweep) {
  const finished = sweep.result.runs.filter((entry) => entry.final);
  const converging = finished.filter((entry) => !isDiverged(entry));
  const scale = lossScale(converging);
  const gaps = converging.map((entry) => entry.final.loss - scale.offset).filter((v) => v > 0);
  const floor = gaps.length ? Math.min(...gaps) / 10 : 1e-16;  // where a run that reached f* exactly is drawn
  const yOf = (loss) => (scale.log ? Math.max(loss - scale.offset, floor) : loss);
  const best = new Map((sweep.result.best || []).filter((b) => b.run !== null).map((b) => [stableKey(b.key.optimizer), b.run]));
  const picked = new Set(page.state.picked);
  const traces = [];
  const stripY = new Map();  // run index -> its height in the strip at the top, for a diverged run
  const groups = sweep.groups.filter((group) => finished.some((entry) => stableKey(entry.overrides.optimizer) === group.key));
  groups.forEach((group, g) => {
    const members = finished.filter((entry) => stableKey(entry.overrides.optimizer) === group.key)
      .sort((a, b) => a.overrides.learning_rate - b.overrides.learning_rate);
    const curve = members.filter((entry) => !isDiverged(entry));
    const diverged = members.filter(isDiverged);
    for (const entry of diverged) stripY.set(entry.index, 0.2 + (0.6 * g) / Math.max(1, groups.length - 1));
    const hover = `${group.label}<br>learning rate %{x:.4g}<br>%{text}<extra>click: path on the map</extra>`;
    traces.push({
      type: "scatter", mode: "lines+markers", name: group.label, legendgroup: group.key,
      x: curve.map((e) => e.overrides.learning_rate), y: curve.map((e) => yOf(e.final.loss)),
      customdata: curve.map((e) => e.index), text: curve.map((e) => `final loss ${fmt(e.final.loss)} (${e.stop_reason})`),
      line: { color: group.color, width: 2 }, marker: { color: group.color, size: 6 }, hovertemplate: hover,
      meta: { role: "sweep-curve", optimizer: group.label },
    });
    traces.push({
      type: "scatter", mode: "markers", name: `${group.label} diverged`, legendgroup: group.key, showlegend: false, yaxis: "y2",
      x: diverged.map((e) => e.overrides.learning_rate), y: diverged.map((e) => stripY.get(e.index)),
      customdata: diverged.map((e) => e.index), text: diverged.map(() => "diverged"),
      marker: { color: group.color, size: 9, symbol: "x-thin", line: { color: group.color, width: 2 } }, hovertemplate: hover,
      meta: { role: "sweep-diverged", optimizer: group.label },
    });
    const bestEntry = members.find((e) => e.index === best.get(group.key));
    if (bestEntry) {
      traces.push({
        type: "scatter", mode: "markers+text", name: `${group.label} best`, legendgroup: group.key, showlegend: false,
        x: [bestEntry.overrides.learning_rate], y: [yOf(bestEntry.final.loss)], customdata: [bestEntry.index],
        text: [shortRate(bestEntry.overrides.learning_rate)], textposition: "bottom center", textfont: { color: group.color, size: 12 },
        marker: { color: group.color, size: 18, symbol: "star", line: { color: "#000", width: 1.5 } },
        hovertemplate: `${group.label}: best learning rate %{x:.4g}<br>final loss ${fmt(bestEntry.final.loss)}<extra></extra>`,
        meta: { role: "sweep-best", optimizer: group.label, learning_rate: bestEntry.overrides.learning_rate, run: bestEntry.index },
      });
    }
  });
  // The runs drawn on the map are ringed (a diverged one in the strip at the top).
  const shown = finished.filter((e) => picked.has(e.index));
  for (const [entries, axis] of [[shown.filter((e) => !isDiverged(e)), "y"], [shown.filter(isDiverged), "y2"]]) {
    if (!entries.length) continue;
    traces.push({
      type: "scatter", mode: "markers", name: "on the map", showlegend: false, hoverinfo: "skip", yaxis: axis,
      x: entries.map((e) => e.overrides.learning_rate), y: entries.map((e) => (axis === "y2" ? stripY.get(e.index) : yOf(e.final.loss))),
      customdata: entries.map((e) => e.index),
      marker: { size: 16, symbol: "circle-open", color: "#000", line: { width: 2 } }, meta: { role: "sweep-picked" },
    });
  }
  return { traces, scale };
}

export async function drawSweep() {
  const div = $("#sweep-plot");
  if (typeof Plotly === "undefined" || page.state.compare !== "sweep") return;
  const sweep = page.sweep;
  const { traces, scale } = sweep && sweep.result ? sweepTraces(sweep) : { traces: [], scale: { log: true, title: "final loss" } };
  const layout = {
    margin: { l: 60, r: 10, t: 30, b: 45 }, hovermode: "closest",  // the mode bar above the plot, not on its points
    xaxis: { type: "log", title: { text: "learning rate" }, exponentformat: "power" },
    yaxis: { type: scale.log ? "log" : "linear", title: { text: scale.title }, exponentformat: "power", domain: [0, 0.86] },
    yaxis2: { domain: [0.9, 1], range: [0, 1], fixedrange: true, showgrid: false, zeroline: false, tickvals: [0.5], ticktext: ["diverged"] },
    legend: { orientation: "h", y: -0.2, yanchor: "top", font: { size: 11 } }, showlegend: true,
    uirevision: sweep && sweep.handle ? sweep.handle.id : "none",
  };
  await Plotly.react(div, traces, layout, { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] });
  if (!clickBound && div.on) {
    div.on("plotly_click", onPointClick);
    clickBound = true;
  }
}

/* ---------------------------------------------------------------- for the browser tests */

export function sweepSnapshot() {
  const sweep = page.sweep;
  if (!sweep) return null;
  return {
    status: sweep.status, id: sweep.handle ? sweep.handle.id : null, timings: Object.assign({}, sweep.timings),
    runs: sweep.result ? sweep.result.runs.length : 0, best: sweep.result ? sweep.result.best || [] : [],
    range: describeRange(page.state.lr_range),
  };
}
