/* Learning-rate sweeps on the service (docs/spec.md §9.1): the body (the configurations'
 * optimizers × log-spaced learning rates over the page's function, start and steps, best run
 * per optimizer), submitting it, following its progress, and cancelling it. Used by the sweep
 * view (sweepview.js) and by "tune first" (tune.js). */
import { COLORS, RESULT_MAX_POINTS, TERMINAL } from "./constants.js";
import { api } from "./api.js";
import { jobSpec } from "./specs.js";

export const MAX_RATES = 201;
const POLL_FIRST_MS = 60;
const POLL_MAX_MS = 250;

/* `count` learning rates from `from` to `to`, evenly spaced in log, each to 4 significant digits
 * (short in the URL and in the sweep's overrides). */
export function logRates({ from, to, count }) {
  const rates = [];
  for (let i = 0; i < count; i++) {
    const rate = count === 1 ? from : from * (to / from) ** (i / (count - 1));
    rates.push(Number(rate.toPrecision(4)));
  }
  return [...new Set(rates)];
}

/* What is wrong with a range, or "" when it can be swept. */
export function rangeProblem({ from, to, count }) {
  if (!(from > 0) || !(to > 0)) return "the learning rates must be greater than 0";
  if (!(to > from)) return "'to' must be greater than 'from'";
  if (!Number.isInteger(count) || count < 2 || count > MAX_RATES) return `the count must be a whole number from 2 to ${MAX_RATES}`;
  return "";
}

/* A learning rate in few characters: 0.0316, 1e-4, 3.16e-5. */
export function shortRate(rate) {
  const rounded = Number(rate.toPrecision(3));
  return rounded !== 0 && Math.abs(rounded) < 1e-3 ? rounded.toExponential() : String(rounded);
}

export function describeRange({ from, to, count }) {
  return `${shortRate(from)}…${shortRate(to)}, ${count} rates`;
}

/* A JSON text that does not depend on the order of an object's keys: the identity of an
 * optimizer value ("adam" or {"name": "sgd", "momentum": 0.5}). */
export function stableKey(value) {
  if (Array.isArray(value)) return `[${value.map(stableKey).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableKey(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function optimizerLabel(optimizer) {
  if (typeof optimizer === "string") return optimizer;
  const { name, ...hyper } = optimizer;
  const parts = Object.entries(hyper).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join("/") : v}`);
  return parts.length ? `${name} (${parts.join(", ")})` : name;
}

/* The distinct optimizers of the configurations (hyperparameters included), in order, each
 * with the race colour of the first configuration that uses it. */
export function optimizerGroups(configs) {
  const groups = [];
  configs.forEach((config, index) => {
    const optimizer = jobSpec(config).optimizer;
    const key = stableKey(optimizer);
    const group = groups.find((g) => g.key === key);
    if (group) group.configs.push(index);
    else groups.push({ key, optimizer, label: optimizerLabel(optimizer), color: COLORS[index], configs: [index] });
  });
  return groups;
}

/* The sweep: grid optimizer × learning_rate over the page's function, start and steps, the best
 * run of each optimizer. Everything but the optimizer and its learning rate (schedule,
 * batching) comes from the first configuration. `search` (halving) is added by tune.js. */
export function sweepBody(configs, rates, extra = {}) {
  const base = jobSpec(configs[0]);
  delete base.optimizer;
  delete base.learning_rate;
  return Object.assign({
    base,
    grid: { optimizer: optimizerGroups(configs).map((g) => g.optimizer), learning_rate: rates },
    best_by: ["optimizer"],
  }, extra);
}

/* Whether the configurations differ in something a sweep takes from the first one. */
export function sharedFieldsDiffer(configs) {
  const rest = (config) => {
    const spec = jobSpec(config);
    delete spec.optimizer;
    delete spec.learning_rate;
    return stableKey(spec);
  };
  return configs.some((config) => rest(config) !== rest(configs[0]));
}

/* Ask the service to cancel a sweep; the runs that finished are kept, and following it ends
 * with its status "cancelled". A sweep that has just finished is deleted by it (docs/spec.md §9.4). */
export async function cancelSweep(id) {
  if (!id) return;
  try { await api(`/v1/sweeps/${encodeURIComponent(id)}`, { method: "DELETE" }); } catch (err) { /* gone already */ }
}

/* Submit `body` (or follow the sweep `handle.id` when `body` is null) until it finishes;
 * `onProgress(document)` hears every poll. `handle` is `{id, stopped}`: the id is set once
 * known; setting `stopped` stops following. Resolves with the finished sweep document, or null
 * when stopped. */
export async function runSweep(handle, body, onProgress) {
  let document_ = body ? await api("/v1/sweeps", { body }) : await api(`/v1/sweeps/${encodeURIComponent(handle.id)}`);
  handle.id = document_.id;
  if (handle.stopped) { await cancelSweep(handle.id); return null; }
  let delay = POLL_FIRST_MS;
  while (!TERMINAL.has(document_.status)) {
    onProgress(document_);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(POLL_MAX_MS, delay * 2);
    if (handle.stopped) return null;
    document_ = await api(`/v1/sweeps/${encodeURIComponent(handle.id)}`);
  }
  onProgress(document_);
  return handle.stopped ? null : document_;
}

export function sweepResult(id, runs = []) {
  const query = runs.length ? `?runs=${runs.join(",")}&max_points=${RESULT_MAX_POINTS}` : "";
  return api(`/v1/sweeps/${encodeURIComponent(id)}/result${query}`);
}
