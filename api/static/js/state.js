/* The page's state and the URL.
 *
 * Everything the page shows lives in `page`: `page.state` is the comparison a link
 * reproduces (mirrored in the URL hash as `#state=<JSON>`; for the sweep view that includes the
 * sweep's id and the runs picked from it, so a link shows the same curve); the runs (submitted jobs and their
 * results), the surface and the replay position are not part of the link. The API key is not
 * either: it is kept in sessionStorage by api.js and never written to the URL. */
import { DEFAULT_STATE, MAX_CONFIGS } from "./constants.js";

export function clone(value) { return JSON.parse(JSON.stringify(value)); }

export const page = {
  state: clone(DEFAULT_STATE),
  surface: null,       // {x, y, z (rows follow y), points, axisNames, title}
  runs: [],            // one per submitted config: {index, label, color, spec, jobId, status, ...}
  sweep: null,         // the sweep view's sweep: {handle, body, groups, status, result, timings} (sweepview.js)
  tuning: null,        // the tuning sweep of a "tune first" race while it runs (tune.js)
  replayStep: 0,
  followReplay: true,  // the slider tracks the longest run until the user moves it
};

export function encodeState(value) {
  return "#state=" + encodeURIComponent(JSON.stringify(value));
}

export function decodeState(hash) {
  const match = /(?:^#|&)state=([^&]*)/.exec(hash || "");
  if (!match) return null;
  try {
    const parsed = JSON.parse(decodeURIComponent(match[1]));
    return parsed && typeof parsed === "object" ? parsed : null;
  } catch (err) {
    return null;
  }
}

export function withDefaults(partial) {
  const merged = Object.assign(clone(DEFAULT_STATE), partial || {});
  merged.configs = (Array.isArray(merged.configs) ? merged.configs : DEFAULT_STATE.configs)
    .slice(0, MAX_CONFIGS)
    .map((config) => Object.assign({ optimizer: "sgd", lr: null, hp: {}, schedule: null }, config));
  if (!merged.configs.length) merged.configs = clone(DEFAULT_STATE.configs);
  // Dataset mode: the model, its function_params and the data's source (links made before
  // the models were on the page have only a generator's settings).
  merged.model = typeof merged.model === "string" ? merged.model : "linear_regression";
  merged.model_params = merged.model_params && typeof merged.model_params === "object" ? merged.model_params : {};
  merged.data = Object.assign({ source: "generator", n_features: null, options: {}, dataset_id: "" }, merged.data);
  merged.compare = merged.compare === "sweep" ? "sweep" : "race";
  merged.tune = merged.tune === true;
  const range = Object.assign(clone(DEFAULT_STATE.lr_range), merged.lr_range && typeof merged.lr_range === "object" ? merged.lr_range : {});
  merged.lr_range = { from: Number(range.from), to: Number(range.to), count: Number(range.count) };
  merged.picked = Array.isArray(merged.picked) ? merged.picked.filter(Number.isInteger) : [];
  if (typeof merged.sweep_id !== "string") merged.sweep_id = null;
  return merged;
}

export function saveState() {
  const url = location.pathname + location.search + encodeState(page.state);
  history.replaceState(null, "", url);
}

/* The link that reproduces the comparison: the page's address with the state in the hash. */
export function shareLink() {
  saveState();
  return location.origin + location.pathname + location.search + encodeState(page.state);
}
