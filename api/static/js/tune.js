/* "Tune first": before a race, each optimizer's learning rate is chosen by one halving sweep on
 * the service (docs/spec.md §9.1.1: grid optimizer × the log-spaced rates of the page's range,
 * best run per optimizer, `search` halving with eta 3). Every rate runs `max_steps / 9` steps,
 * the best third of each optimizer's rates runs three times as long, and so on up to the race's
 * `max_steps`: two prunings, about a quarter of the full grid's steps. Shorter first rungs
 * would be cheaper but favour large rates (they look good early and lose later). */
import { jobSpec } from "./specs.js";
import { page } from "./state.js";
import { describeRange, logRates, runSweep, shortRate, stableKey, sweepBody, sweepResult } from "./sweeps.js";

export const TUNE_ETA = 3;
const TUNE_RUNGS = 2;  // prunings before max_steps

export class TuningCancelled extends Error {
  constructor() { super("tuning cancelled"); }
}

export function tuneBody(configs) {
  const { max_steps: maxSteps, lr_range: range } = page.state;
  const minSteps = Math.max(1, Math.ceil(maxSteps / TUNE_ETA ** TUNE_RUNGS));
  return sweepBody(configs, logRates(range), { search: { method: "halving", eta: TUNE_ETA, min_steps: minSteps } });
}

/* The learning rate of each configuration and how it was found: `[{lr, text}]`, in order.
 * `onProgress(sweepDocument)` hears the tuning sweep's progress; Cancel (runs.js) sets
 * `page.tuning.stopped` and cancels the sweep, which rejects with TuningCancelled. */
export async function tuneRates(configs, onProgress) {
  const range = page.state.lr_range;
  const handle = { id: null, stopped: false };
  page.tuning = handle;
  try {
    const finished = await runSweep(handle, tuneBody(configs), onProgress);
    if (!finished || finished.status === "cancelled") throw new TuningCancelled();
    if (finished.status !== "succeeded") throw new Error((finished.error && finished.error.message) || `the tuning sweep ${finished.status}`);
    const result = await sweepResult(handle.id);
    const best = new Map((result.best || []).map((b) => [stableKey(b.key.optimizer), b]));
    const how = `tuned: halving over ${describeRange(range)}`;
    return configs.map((config) => {
      const found = best.get(stableKey(jobSpec(config).optimizer));
      if (found && found.run !== null) return { lr: found.learning_rate, text: `${shortRate(found.learning_rate)} (${how})` };
      const typed = config.lr === null || config.lr === undefined || config.lr === "" ? null : config.lr;
      return { lr: typed, text: `${typed === null ? "default" : shortRate(Number(typed))} (as typed: every rate of ${describeRange(range)} diverged)` };
    });
  } finally {
    if (page.tuning === handle) page.tuning = null;
  }
}
