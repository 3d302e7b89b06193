/* The results table and the replay: the step slider and Play move every path together. */
import { KIND_STYLE, REPLAY_DURATION_MS, TERMINAL } from "./constants.js";
import { $, el, fmt, fmtPoint } from "./dom.js";
import { drawCurves, drawMap } from "./plots.js";
import { page } from "./state.js";

let playTimer = null;

export function renderTable() {
  const body = $("#results-table tbody");
  body.replaceChildren(...page.runs.map((run) => {
    const r = run.result;
    const running = !TERMINAL.has(run.status);
    const status = el("span", { class: `status-${run.status}`, text: run.status || "" });
    const statusCell = el("td", { "data-col": "status" }, status);
    if (!TERMINAL.has(run.status) && run.fraction !== undefined) {
      statusCell.append(el("span", { class: "progress" }, el("span", { style: `width:${Math.round(100 * run.fraction)}%` })));
    }
    if (run.error) statusCell.append(el("div", { class: "status-failed", text: run.error }));
    const nearest = r && r.nearest_stationary_point;
    const nearestCell = el("td", { "data-col": "nearest" });
    if (nearest) {
      nearestCell.append(el("span", { class: `kind-${nearest.kind}`, text: (KIND_STYLE[nearest.kind] || { label: nearest.kind }).label }),
        ` at ${fmtPoint(nearest.params)}, distance ${fmt(nearest.distance, 3)}`);
    } else nearestCell.textContent = r ? "—" : "";
    return el("tr", { "data-run": run.index },
      el("td", {}, el("span", { class: "swatch", style: `--swatch:${run.color}` })),
      el("td", { text: run.label }),
      el("td", { class: "num", "data-col": "lr", text: run.lrText || "" }),
      statusCell,
      el("td", { class: "num", "data-col": "loss", text: r ? fmt(r.final && r.final.loss) : running && run.loss !== undefined ? `${fmt(run.loss)}…` : "" }),
      el("td", { class: "num", "data-col": "steps", text: r ? String(r.steps) : running && run.step !== undefined ? `${run.step}…` : "" }),
      el("td", { "data-col": "stop", text: r ? r.stop_reason : "" }),
      el("td", { class: "num", text: r && r.final ? fmtPoint(r.final.params) : "" }),
      nearestCell);
  }));
}

/* ---------------------------------------------------------------- replay */

export function maxRecordedStep() {
  let max = 0;
  for (const run of page.runs) {
    const t = run.result && run.result.trajectory;
    if (t && t.step.length) max = Math.max(max, t.step[t.step.length - 1]);
  }
  return max;
}

export function updateSlider() {
  const slider = $("#step-slider");
  const max = maxRecordedStep();
  slider.max = String(max);
  if (page.followReplay) page.replayStep = max;
  page.replayStep = Math.min(page.replayStep, max);
  slider.value = String(page.replayStep);
  $("#step-label").textContent = `step ${page.replayStep} / ${max}`;
}

export function setReplayStep(step) {
  page.replayStep = step;
  $("#step-slider").value = String(step);
  $("#step-label").textContent = `step ${step} / ${maxRecordedStep()}`;
  drawMap();
  drawCurves();
}

export function togglePlay() {
  const button = $("#play-button");
  if (playTimer) { stopPlay(); return; }
  const max = maxRecordedStep();
  if (!max) return;
  page.followReplay = false;
  const started = performance.now();
  const from = page.replayStep >= max ? 0 : page.replayStep;
  button.textContent = "❚❚ Pause";
  const tick = (now) => {
    const step = Math.min(max, Math.round(from + ((max - from) * (now - started)) / REPLAY_DURATION_MS));
    setReplayStep(step);
    if (step >= max) { stopPlay(); page.followReplay = true; return; }
    playTimer = requestAnimationFrame(tick);
  };
  playTimer = requestAnimationFrame(tick);
}

export function stopPlay() {
  if (playTimer) cancelAnimationFrame(playTimer);
  playTimer = null;
  $("#play-button").textContent = "▶ Play";
}
