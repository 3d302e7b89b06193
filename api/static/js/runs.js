/* Running the comparison: one job per configuration (POST /v1/jobs), progress from server-sent
 * events (or polling), the results fetched when each job ends, and Cancel. With "tune first"
 * the learning rates come from a halving sweep before the jobs are submitted (tune.js). */
import { COLORS, RESULT_MAX_POINTS, SSE_STREAMS, TERMINAL } from "./constants.js";
import { api, eventStream } from "./api.js";
import { $, fmt, setRunStatus, showError } from "./dom.js";
import { markConfigErrors } from "./forms.js";
import { drawCurves, drawMap } from "./plots.js";
import { renderTable, stopPlay, updateSlider } from "./results.js";
import { configLabel, jobSpec } from "./specs.js";
import { page } from "./state.js";
import { loadSurface } from "./surface.js";
import { cancelSweep } from "./sweeps.js";
import { TuningCancelled, tuneRates } from "./tune.js";

const EVENT_TYPES = new Set(["message", "progress", "status", "job", "update", "end", "done", "finished", "complete"]);

const jobPath = (run, rest = "") => `/v1/jobs/${encodeURIComponent(run.jobId)}${rest}`;

export function anyRunning() { return !!page.tuning || page.runs.some((run) => run.jobId && !TERMINAL.has(run.status)); }

function refreshRunButtons() {
  const { runs } = page;
  const busy = anyRunning();
  $("#run-button").disabled = busy;
  $("#cancel-button").disabled = !busy;
  const done = runs.filter((r) => TERMINAL.has(r.status)).length;
  if (runs.length) setRunStatus(busy ? `running… ${done}/${runs.length} finished` : `${done}/${runs.length} finished`);
}

export function refreshResults() {
  updateSlider();
  drawMap();
  drawCurves();
  renderTable();
  refreshRunButtons();
}

/* Forget the runs (their streams closed): a new function or a new race. */
export function clearRuns() {
  for (const run of page.runs) if (run.source) run.source.close();
  page.runs = [];
}

export async function runAll() {
  stopPlay();
  showError("");
  clearRuns();
  page.state.configs.forEach((_, i) => markConfigErrors(i, [], ""));
  page.followReplay = true;
  page.replayStep = 0;
  const runs = page.state.configs.map((config, index) => ({
    index, color: COLORS[index], label: configLabel(config, index), spec: jobSpec(config), status: "submitting",
    lrText: config.lr === null || config.lr === undefined || config.lr === "" ? "default" : fmt(config.lr),
  }));
  page.runs = runs;
  refreshResults();
  if (page.state.tune && !(await tuneFirst(runs))) return;
  const problems = [];
  await Promise.all(runs.map(async (run) => {
    try {
      const job = await api("/v1/jobs", { method: "POST", body: run.spec });
      run.jobId = job.id;
      run.status = job.status || "queued";
      follow(run);
    } catch (err) {
      run.status = "rejected";
      run.error = err.message;
      markConfigErrors(run.index, err.fields, err.message);
      problems.push(`${run.label}: ${err.message}`);
    }
  }));
  if (problems.length) showError(`The service rejected ${problems.length === runs.length ? "the runs" : "some runs"}:\n${problems.join("\n")}`);
  refreshResults();
}

/* "Tune first": the runs' learning rates from a halving sweep (tune.js). False when the race
 * is not to run (cancelled, failed, or replaced meanwhile). */
async function tuneFirst(runs) {
  for (const run of runs) run.status = "tuning";
  refreshResults();
  let tuned;
  try {
    tuned = await tuneRates(page.state.configs, (sweep) => {
      const { runs_done: done, runs_total: total } = sweep.progress;
      for (const run of runs) run.fraction = total ? done / total : 0;
      setRunStatus(`tuning the learning rates… ${done}/${total} runs`);
      renderTable();
    });
  } catch (err) {
    const cancelled = err instanceof TuningCancelled;
    for (const run of runs) Object.assign(run, { status: cancelled ? "cancelled" : "rejected", error: cancelled ? null : err.message, settled: true });
    if (!cancelled) showError(`Tuning the learning rates failed:\n${err.message}`);
    if (page.runs === runs) refreshResults();
    return false;
  }
  if (page.runs !== runs) return false;
  runs.forEach((run, index) => {
    const config = Object.assign({}, page.state.configs[index], { lr: tuned[index].lr });
    run.spec = jobSpec(config);
    run.label = configLabel(config, index);
    run.lrText = tuned[index].text;
    run.status = "submitting";
    delete run.fraction;
  });
  return true;
}

/* Progress by server-sent events (read with fetch, so the API key goes in a header); if the
 * stream breaks before the job ends, poll instead. A browser keeps at most 6 HTTP/1.1
 * connections per host and every open event stream holds one: with 8 streams the Cancel
 * requests would wait forever. So at most SSE_STREAMS jobs are streamed at a time; the others
 * are polled and take a free stream when one closes. */
function follow(run) {
  if (run.sseFailed || openStreams() >= SSE_STREAMS) {
    poll(run);
    return;
  }
  const source = eventStream(jobPath(run, "/events"), (type, text) => {
    if (!EVENT_TYPES.has(type)) return;
    let data;
    try { data = JSON.parse(text); } catch (err) { return; }
    applyJobUpdate(run, data, type);
    if (TERMINAL.has(run.status)) finish(run);
    else renderTable();
  }, () => {
    // The stream ended: after the final status (finish has closed it then), or broken early.
    if (run.source !== source) return;
    run.source = null;
    if (!TERMINAL.has(run.status)) {
      run.sseFailed = true;
      poll(run);
    }
  });
  run.source = source;
}

function openStreams() { return page.runs.filter((run) => run.source).length; }

function applyJobUpdate(run, data, type) {
  if (run.gone || !data || typeof data !== "object") return;
  const job = data.job && typeof data.job === "object" ? data.job : data;
  if (typeof job.status === "string") run.status = job.status;
  else if (type === "end" || type === "done") run.status = run.status === "running" ? "succeeded" : run.status;
  const progress = job.progress && typeof job.progress === "object" ? job.progress : job;
  if (typeof progress.step === "number") run.step = progress.step;
  if (typeof progress.fraction === "number") run.fraction = progress.fraction;
  else if (typeof progress.step === "number" && progress.total_steps) run.fraction = progress.step / progress.total_steps;
  if (typeof progress.loss === "number") run.loss = progress.loss;
  if (job.error) run.error = typeof job.error === "string" ? job.error : job.error.message || JSON.stringify(job.error);
}

/* The page's own Cancel deleted the job (it had just finished: DELETE on a finished job removes
 * it, docs/spec.md §9.4), so it is gone: cancelled as asked, not an error. */
function markGone(run) {
  run.gone = true;
  run.status = "cancelled";
  run.error = null;
  if (run.source) { run.source.close(); run.source = null; }
}

async function poll(run) {
  if (run.polling) return;
  run.polling = true;
  while (run.jobId && !TERMINAL.has(run.status) && page.runs.includes(run)) {
    if (!run.sseFailed && openStreams() < SSE_STREAMS) {
      run.polling = false;
      follow(run);
      return;
    }
    try {
      applyJobUpdate(run, await api(jobPath(run)));
    } catch (err) {
      if (err.status === 404 && run.cancelRequested) { markGone(run); break; }
      run.error = err.message;
      if (err.status === 404) { run.status = "failed"; break; }
    }
    if (TERMINAL.has(run.status)) break;
    renderTable();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  run.polling = false;
  if (TERMINAL.has(run.status)) finish(run);
}

async function finish(run) {
  if (run.finishing) return;
  run.finishing = true;
  if (run.source) { run.source.close(); run.source = null; }
  if (!run.gone && (run.status === "succeeded" || run.status === "cancelled")) {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        run.result = await api(jobPath(run, `/result?max_points=${RESULT_MAX_POINTS}`));
        break;
      } catch (err) {
        if (err.status === 404 && run.cancelRequested) { markGone(run); break; }
        // 409 on a finished job: the events can run a moment ahead of the stored result.
        // A job cancelled before it ran has no result at all (409 too): nothing to wait for.
        if (err.status !== 409 || run.status === "cancelled") { if (run.status !== "cancelled") run.error = err.message; break; }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }
  run.settled = true;  // its result (if any) is in: nothing more will change
  if (!page.runs.includes(run)) return;
  refreshResults();
  if (page.state.mode === "dataset" && !anyRunning()) loadSurface();
}

export async function cancelAll() {
  if (page.tuning) {
    page.tuning.stopped = true;
    setRunStatus("cancelling…");
    await cancelSweep(page.tuning.id);
    return;
  }
  const active = page.runs.filter((run) => run.jobId && !TERMINAL.has(run.status));
  setRunStatus("cancelling…");
  await Promise.all(active.map(async (run) => {
    run.cancelRequested = true;
    try {
      // 200 or 202 with the job: cancelled or stopping. No body (204): it had just finished,
      // and the DELETE removed it for good.
      const job = await api(jobPath(run), { method: "DELETE" });
      if (job === null) markGone(run);
    } catch (err) {
      if (err.status === 404) markGone(run);  // deleted already
      else if (err.status !== 409) run.error = err.message;
    }
    if (run.gone) finish(run);
    else if (!run.source) poll(run);  // a no-op when it is polled already
  }));
  refreshRunButtons();
}
