/* The page's state and the URL.
 *
 * Everything the page shows lives in `page`: `page.state` is the comparison a link
 * reproduces (mirrored in the URL hash as `#state=<JSON>`); the runs (submitted jobs and their
 * results), the surface and the replay position are not part of the link. The API key is not
 * either: it is kept in sessionStorage by api.js and never written to the URL. */
import { DEFAULT_STATE, MAX_CONFIGS } from "./constants.js";

export function clone(value) { return JSON.parse(JSON.stringify(value)); }

export const page = {
  state: clone(DEFAULT_STATE),
  surface: null,       // {x, y, z (rows follow y), points, axisNames, title}
  runs: [],            // one per submitted config: {index, label, color, spec, jobId, status, ...}
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
