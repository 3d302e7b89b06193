/* descent web page: pick a function, configure up to 8 optimizers, run them as jobs on the
 * service (SPEC.md §9) and watch their trajectories race on the loss surface.
 *
 * No build step: plain ES2020 in one file, Plotly (vendored under /static/vendor) for plots.
 * The whole page state lives in `state` and is mirrored in the URL hash, so a link reproduces
 * a comparison. Runs (submitted jobs and their results) are not part of the link. */
"use strict";

const MAX_CONFIGS = 8;
const SURFACE_RESOLUTION = 80;
const RESULT_MAX_POINTS = 2000;
const RECORD_POINTS_TARGET = 5000;   // record_every is chosen so a run records about this many
const VALIDATE_DELAY_MS = 400;
const SSE_STREAMS = 3;               // event streams open at once (see follow)
const REPLAY_DURATION_MS = 4000;
const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#f032e6", "#9a6324"];
const KIND_STYLE = {
  global: { label: "global minimum", symbol: "star", color: "#1f8a4c", size: 16 },
  local: { label: "local minimum", symbol: "circle", color: "#f2a900", size: 11 },
  saddle: { label: "saddle", symbol: "x", color: "#7b3fbf", size: 12 },
  maximum: { label: "maximum", symbol: "triangle-up", color: "#c8372d", size: 12 },
  degenerate: { label: "degenerate", symbol: "diamond", color: "#667085", size: 10 },
};
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
/* Values for schedule parameters that have no default (or whose default is null). */
const SCHEDULE_FALLBACKS = {
  step: { step_size: 100, gamma: 0.5 },
  multistep: { milestones: [100, 200], gamma: 0.5 },
  exponential: { gamma: 0.99 },
  cosine: { t_max: 500, eta_min: 0 },
  linear: { start_factor: 0.1, end_factor: 1.0, total_iters: 100 },
  plateau: { factor: 0.5, patience: 10 },
};

const DEFAULT_STATE = {
  mode: "catalogue",
  fn: "rosenbrock",
  expr: "x**2 + 3*y**2",
  bounds: [[-5, 5], [-5, 5]],
  data: { generator: "linear", n_samples: 200, noise: 0.5, seed: 0 },
  start: null,
  max_steps: 500,
  seed: 0,
  noise: 0,
  view: "contour",
  configs: [
    { optimizer: "sgd", lr: 0.001, hp: {}, schedule: null },
    { optimizer: "adam", lr: 0.05, hp: {}, schedule: null },
  ],
};

/* The lessons: each preset is a whole state. */
const PRESETS = [
  {
    id: "lr", title: "Learning rate too small / too large",
    state: {
      mode: "expression", expr: "x**2 + 10*y**2", bounds: [[-3, 3], [-2, 2]], start: [-2.5, 1.5],
      max_steps: 200, configs: [
        { optimizer: "gd", lr: 0.002, hp: {}, schedule: null },
        { optimizer: "gd", lr: 0.03, hp: {}, schedule: null },
        { optimizer: "gd", lr: 0.095, hp: {}, schedule: null },
        { optimizer: "gd", lr: 0.11, hp: {}, schedule: null },
      ],
    },
  },
  {
    id: "batching", title: "Full batch vs SGD vs mini-batch",
    state: {
      mode: "dataset", data: { generator: "linear", n_samples: 200, noise: 0.5, seed: 0 },
      start: [-2, 3], max_steps: 300, configs: [
        { optimizer: "sgd", lr: 0.05, hp: {}, schedule: null, batching: "full" },
        { optimizer: "sgd", lr: 0.05, hp: {}, schedule: null, batching: "stochastic" },
        { optimizer: "sgd", lr: 0.05, hp: {}, schedule: null, batching: "minibatch", batch_size: 16 },
      ],
    },
  },
  {
    id: "minima", title: "Local vs global minima",
    state: {
      mode: "catalogue", fn: "six_hump_camel", start: [2.5, 1.5], max_steps: 400, configs: [
        { optimizer: "gd", lr: 0.01, hp: {}, schedule: null },
        { optimizer: "momentum", lr: 0.01, hp: {}, schedule: null },
        { optimizer: "adam", lr: 0.1, hp: {}, schedule: null },
        { optimizer: "rmsprop", lr: 0.05, hp: {}, schedule: null },
      ],
    },
  },
  {
    id: "saddle", title: "Escaping a saddle",
    state: {
      mode: "expression", expr: "x**2 + y**4/4 - y**2/2", bounds: [[-2, 2], [-2, 2]],
      start: [1.8, 0.001], max_steps: 200, configs: [
        { optimizer: "gd", lr: 0.05, hp: {}, schedule: null },
        { optimizer: "momentum", lr: 0.05, hp: {}, schedule: null },
        { optimizer: "adam", lr: 0.05, hp: {}, schedule: null },
      ],
    },
  },
  {
    id: "momentum", title: "Momentum in a curved valley",
    state: {
      mode: "catalogue", fn: "rosenbrock", start: [-1.2, 1], max_steps: 2000, configs: [
        { optimizer: "gd", lr: 0.001, hp: {}, schedule: null },
        { optimizer: "momentum", lr: 0.001, hp: {}, schedule: null },
        { optimizer: "nesterov", lr: 0.001, hp: {}, schedule: null },
        { optimizer: "adam", lr: 0.02, hp: {}, schedule: null },
      ],
    },
  },
];

/* ---------------------------------------------------------------- state and URL */

let state = clone(DEFAULT_STATE);
const catalog = { functions: [], details: {}, optimizers: [], optimizerByName: {}, schedules: [] };
let surface = null;   // {x, y, z (rows follow y), points, axisNames, title}
let runs = [];        // one per submitted config: {index, label, color, spec, jobId, status, ...}
let replayStep = 0;
let followReplay = true;  // the slider tracks the longest run until the user moves it
let playTimer = null;
let validateTimer = null;
let surfaceRequest = 0;

function clone(value) { return JSON.parse(JSON.stringify(value)); }

function encodeState(value) {
  return "#state=" + encodeURIComponent(JSON.stringify(value));
}

function decodeState(hash) {
  const match = /(?:^#|&)state=([^&]*)/.exec(hash || "");
  if (!match) return null;
  try {
    const parsed = JSON.parse(decodeURIComponent(match[1]));
    return parsed && typeof parsed === "object" ? parsed : null;
  } catch (err) {
    return null;
  }
}

function withDefaults(partial) {
  const merged = Object.assign(clone(DEFAULT_STATE), partial || {});
  merged.configs = (Array.isArray(merged.configs) ? merged.configs : DEFAULT_STATE.configs)
    .slice(0, MAX_CONFIGS)
    .map((config) => Object.assign({ optimizer: "sgd", lr: null, hp: {}, schedule: null }, config));
  if (!merged.configs.length) merged.configs = clone(DEFAULT_STATE.configs);
  return merged;
}

function saveState() {
  const url = location.pathname + location.search + encodeState(state);
  history.replaceState(null, "", url);
}

/* ---------------------------------------------------------------- API access */

class ApiError extends Error {
  constructor(status, message, fields) {
    super(message);
    this.status = status;
    this.fields = fields || [];  // [{field: "learning_rate", message: "..."}]
  }
}

/* One readable message from any error body we may get: FastAPI's `detail` list,
 * a `detail` string, or application/problem+json. */
function describeErrorBody(status, body) {
  const fields = [];
  let message = `HTTP ${status}`;
  if (body && Array.isArray(body.detail)) {
    for (const item of body.detail) {
      const loc = (item.loc || []).filter((part, i) => !(i === 0 && (part === "body" || part === "query")));
      fields.push({ field: loc.join("."), message: item.msg || JSON.stringify(item) });
    }
    message = fields.map((f) => (f.field ? `${f.field}: ${f.message}` : f.message)).join("\n");
  } else if (body && typeof body.detail === "string") {
    message = body.detail;
  } else if (body && (body.title || body.detail)) {
    message = [body.title, body.detail].filter(Boolean).join(": ");
  } else if (body && Array.isArray(body.errors)) {
    for (const item of body.errors) fields.push({ field: item.field || "", message: item.message || item.msg || "" });
    message = fields.map((f) => `${f.field}: ${f.message}`).join("\n");
  } else if (body && typeof body.message === "string") {
    message = body.message;
  }
  return { message, fields };
}

async function api(path, options = {}) {
  const init = { method: options.method || (options.body === undefined ? "GET" : "POST"), headers: { Accept: "application/json" } };
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `cannot reach the service (${err.message})`);
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (err) { body = { detail: text }; }
  if (!response.ok) {
    const { message, fields } = describeErrorBody(response.status, body);
    throw new ApiError(response.status, message, fields);
  }
  return body;
}

function listOf(body, key) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body[key])) return body[key];
  if (body && Array.isArray(body.items)) return body.items;
  if (body && typeof body === "object") {
    return Object.entries(body).map(([name, value]) => Object.assign({ name }, value));
  }
  return [];
}

/* ---------------------------------------------------------------- catalogue */

function normalizeOptimizers(body) {
  return listOf(body, "optimizers").map((opt) => ({
    name: opt.name,
    description: opt.description || "",
    defaultLr: opt.default_learning_rate ?? opt.default_lr ?? 0.001,
    aliases: (opt.aliases || []).map((alias) => (typeof alias === "string" ? { name: alias, sets: {} } : { name: alias.name, sets: alias.sets || {} })),
    hyperparameters: (opt.hyperparameters || []).map((h) => ({
      name: h.name, type: h.type || h.kind || "float", default: h.default,
      range: h.range || "", description: h.description || "",
    })),
  }));
}

function normalizeSchedules(body) {
  return listOf(body, "schedules").map((schedule) => {
    const raw = schedule.parameters || schedule.params || schedule.hyperparameters || [];
    const params = Array.isArray(raw)
      ? raw.map((p) => (typeof p === "string" ? { name: p } : p))
      : Object.entries(raw).map(([name, value]) => Object.assign({ name }, typeof value === "object" && value ? value : { default: value }));
    return {
      name: schedule.name,
      params: params.filter((p) => p.name !== "name").map((p) => ({
        name: p.name, type: p.type || p.kind || "float", default: p.default, required: !!p.required,
      })),
    };
  });
}

/* The family and the alias presets behind an optimizer name (`momentum` is sgd + momentum 0.9). */
function optimizerInfo(name) {
  const direct = catalog.optimizerByName[name];
  if (direct) return { family: direct, sets: {} };
  for (const family of catalog.optimizers) {
    const alias = family.aliases.find((a) => a.name === name);
    if (alias) return { family, sets: alias.sets };
  }
  return null;
}

function optimizerNames() {
  const names = [];
  for (const family of catalog.optimizers) {
    names.push(family.name);
    for (const alias of family.aliases) names.push(alias.name);
  }
  return names;
}

function scheduleDefaults(name) {
  const info = catalog.schedules.find((s) => s.name === name);
  const values = Object.assign({}, SCHEDULE_FALLBACKS[name] || {});
  if (name === "cosine") values.t_max = state.max_steps;
  if (info) {
    for (const p of info.params) {
      if (p.default !== undefined && p.default !== null) values[p.name] = p.default;
      else if (!(p.name in values) && p.required) values[p.name] = 1;
    }
    // Keep only what the API declares, so the spec has no unknown fields.
    if (info.params.length) {
      for (const key of Object.keys(values)) if (!info.params.some((p) => p.name === key)) delete values[key];
    }
  }
  return values;
}

/* ---------------------------------------------------------------- building specs */

function functionSpec() {
  if (state.mode === "expression") {
    return { expression: state.expr, variables: ["x", "y"], bounds: state.bounds };
  }
  if (state.mode === "dataset") return "linear_regression";
  return state.fn;
}

function datasetSpec() {
  const d = state.data;
  return { generator: d.generator, n_samples: d.n_samples, n_features: 1, noise: d.noise, seed: d.seed };
}

function jobSpec(config) {
  const spec = { function: functionSpec(), max_steps: state.max_steps, seed: state.seed };
  const hp = Object.assign({}, config.hp || {});
  spec.optimizer = Object.keys(hp).length ? Object.assign({ name: config.optimizer }, hp) : config.optimizer;
  if (config.lr !== null && config.lr !== undefined && config.lr !== "") spec.learning_rate = config.lr;
  if (config.schedule && config.schedule.name && config.schedule.name !== "constant") spec.schedule = config.schedule;
  if (state.start) spec.init = state.start.slice();
  const every = Math.max(1, Math.ceil(state.max_steps / RECORD_POINTS_TARGET));
  if (every > 1) spec.record_every = every;
  if (state.mode === "dataset") {
    spec.data = datasetSpec();
    spec.batching = config.batching || "full";
    if (spec.batching === "minibatch") spec.batch_size = config.batch_size || 32;
  } else if (state.noise > 0) {
    spec.gradient_noise = state.noise;
  }
  return spec;
}

function configLabel(config, index) {
  let label = `${index + 1}. ${config.optimizer}`;
  if (config.lr) label += ` lr=${config.lr}`;
  if (state.mode === "dataset") {
    label += ` ${config.batching || "full"}`;
    if (config.batching === "minibatch") label += `(${config.batch_size || 32})`;
  }
  if (config.schedule && config.schedule.name && config.schedule.name !== "constant") label += ` ${config.schedule.name}`;
  return label;
}

/* ---------------------------------------------------------------- DOM helpers */

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") node.setAttribute("style", value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function showError(message) {
  const banner = $("#error-banner");
  banner.textContent = message;
  banner.hidden = !message;
}

function setRunStatus(text) { $("#run-status").textContent = text; }

function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) return value.toExponential(digits - 1);
  return String(Number(value.toPrecision(digits)));
}

function fmtPoint(point) {
  return point ? "(" + point.map((v) => fmt(v, 3)).join(", ") + ")" : "—";
}

function numberOrNull(text) {
  if (text === "" || text === null || text === undefined) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/* ---------------------------------------------------------------- rendering controls */

function renderAll() {
  renderFunctionControls();
  renderRunControls();
  renderConfigs();
  renderViewToggle();
  saveState();
}

function renderFunctionControls() {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.mode === state.mode));
  }
  for (const pane of document.querySelectorAll(".mode-pane")) pane.hidden = pane.dataset.pane !== state.mode;
  const select = $("#function-select");
  if (catalog.functions.length && !catalog.functions.some((f) => f.name === state.fn)) {
    catalog.functions.push({ name: state.fn, formula: "" });
  }
  select.replaceChildren(...catalog.functions.map((f) => el("option", { value: f.name, text: f.name })));
  select.value = state.fn;
  const entry = catalog.functions.find((f) => f.name === state.fn);
  $("#function-formula").textContent = entry ? entry.formula || entry.description || "" : "";
  $("#expression-input").value = state.expr;
  $("#expr-xmin").value = state.bounds[0][0];
  $("#expr-xmax").value = state.bounds[0][1];
  $("#expr-ymin").value = state.bounds[1][0];
  $("#expr-ymax").value = state.bounds[1][1];
  $("#data-generator").value = state.data.generator;
  $("#data-n").value = state.data.n_samples;
  $("#data-noise").value = state.data.noise;
  $("#data-seed").value = state.data.seed;
  $("#noise-row").hidden = state.mode === "dataset";
}

function renderRunControls() {
  $("#start-x").value = state.start ? state.start[0] : "";
  $("#start-y").value = state.start ? state.start[1] : "";
  $("#max-steps").value = state.max_steps;
  $("#run-seed").value = state.seed;
  $("#gradient-noise").value = state.noise;
}

function renderViewToggle() {
  for (const button of document.querySelectorAll(".toggle button")) {
    button.setAttribute("aria-pressed", String(button.dataset.view === state.view));
  }
}

function hyperInput(config, index, hyper, shownDefault) {
  const id = `cfg${index}-hp-${hyper.name}`;
  const current = hyper.name in config.hp ? config.hp[hyper.name] : shownDefault;
  const title = [hyper.description, hyper.range].filter(Boolean).join(" — ");
  const update = (value) => {
    const same = JSON.stringify(value) === JSON.stringify(shownDefault);
    if (same) delete config.hp[hyper.name];
    else config.hp[hyper.name] = value;
    saveState();
  };
  if (hyper.type === "bool") {
    const box = el("input", { type: "checkbox", id, "data-hp": hyper.name });
    box.checked = !!current;
    box.addEventListener("change", () => update(box.checked));
    return el("label", { class: "checkbox", title, for: id }, box, hyper.name);
  }
  const input = el("input", { id, "data-hp": hyper.name, type: "text", inputmode: "decimal" });
  input.value = Array.isArray(current) ? current.join(", ") : current ?? "";
  input.addEventListener("change", () => {
    const text = input.value.trim();
    if (hyper.type === "pair") {
      const parts = text.split(/[\s,]+/).filter(Boolean).map(Number);
      update(parts.length === 2 && parts.every(Number.isFinite) ? parts : text);
    } else {
      const value = Number(text);
      update(text !== "" && Number.isFinite(value) ? value : text);
    }
  });
  return el("label", { title }, hyper.name, input);
}

function scheduleControls(config, index) {
  const wrap = el("div", { class: "schedule" });
  const select = el("select", { "data-field": "schedule", id: `cfg${index}-schedule` });
  const names = ["constant", ...catalog.schedules.map((s) => s.name).filter((n) => n !== "constant")];
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  select.value = (config.schedule && config.schedule.name) || "constant";
  select.addEventListener("change", () => {
    config.schedule = select.value === "constant" ? null : Object.assign({ name: select.value }, scheduleDefaults(select.value));
    renderConfigs();
    saveState();
  });
  wrap.append(el("label", {}, "Schedule", select));
  if (config.schedule && config.schedule.name !== "constant") {
    const grid = el("div", { class: "hyper-grid" });
    for (const [key, value] of Object.entries(config.schedule)) {
      if (key === "name") continue;
      const input = el("input", { type: "text", "data-schedule": key });
      input.value = Array.isArray(value) ? value.join(", ") : value;
      input.addEventListener("change", () => {
        const text = input.value.trim();
        if (Array.isArray(value)) config.schedule[key] = text.split(/[\s,]+/).filter(Boolean).map(Number);
        else if (typeof value === "boolean") config.schedule[key] = text === "true";
        else if (typeof value === "number") config.schedule[key] = Number.isFinite(Number(text)) && text !== "" ? Number(text) : text;
        else config.schedule[key] = text;
        saveState();
      });
      grid.append(el("label", {}, key, input));
    }
    wrap.append(grid);
  }
  return wrap;
}

function renderConfigs() {
  const holder = $("#configs");
  holder.replaceChildren();
  state.configs.forEach((config, index) => {
    const info = optimizerInfo(config.optimizer);
    const box = el("div", { class: "config", style: `--swatch: ${COLORS[index]}`, "data-config": index });
    const select = el("select", { "data-field": "optimizer", "aria-label": `Optimizer ${index + 1}` });
    const names = optimizerNames();
    if (!names.includes(config.optimizer)) names.push(config.optimizer);
    select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
    select.value = config.optimizer;
    select.addEventListener("change", () => {
      config.optimizer = select.value;
      config.hp = {};
      const next = optimizerInfo(select.value);
      if (next) config.lr = next.family.defaultLr;
      renderConfigs();
      saveState();
    });
    const lr = el("input", { type: "text", inputmode: "decimal", "data-field": "learning_rate", "aria-label": `Learning rate ${index + 1}` });
    lr.value = config.lr ?? "";
    lr.placeholder = info ? String(info.family.defaultLr) : "";
    lr.addEventListener("change", () => {
      const text = lr.value.trim();
      const value = Number(text);
      config.lr = text === "" ? null : Number.isFinite(value) ? value : text;
      saveState();
    });
    const remove = el("button", { type: "button", class: "remove secondary", title: "Remove", "aria-label": `Remove optimizer ${index + 1}` }, "×");
    remove.disabled = state.configs.length <= 1;
    remove.addEventListener("click", () => {
      state.configs.splice(index, 1);
      renderConfigs();
      saveState();
    });
    box.append(el("div", { class: "config-head" },
      el("label", {}, "Optimizer", select), el("label", {}, "Learning rate", lr), remove));

    if (state.mode === "dataset") {
      const batching = el("select", { "data-field": "batching" });
      batching.replaceChildren(...["full", "stochastic", "minibatch"].map((n) => el("option", { value: n, text: n })));
      batching.value = config.batching || "full";
      batching.addEventListener("change", () => { config.batching = batching.value; renderConfigs(); saveState(); });
      const row = el("div", { class: "row" }, el("label", {}, "Batching", batching));
      if ((config.batching || "full") === "minibatch") {
        const size = el("input", { type: "number", min: "1", step: "1", "data-field": "batch_size" });
        size.value = config.batch_size || 32;
        size.addEventListener("change", () => { config.batch_size = Math.max(1, Math.round(Number(size.value) || 32)); saveState(); });
        row.append(el("label", {}, "Batch size", size));
      }
      box.append(row);
    }

    const more = el("details", { class: "more" }, el("summary", { text: "Hyperparameters and schedule" }));
    if (Object.keys(config.hp).length || config.schedule) more.open = true;
    if (info && info.family.hyperparameters.length) {
      const grid = el("div", { class: "hyper-grid" });
      for (const hyper of info.family.hyperparameters) {
        const shownDefault = hyper.name in info.sets ? info.sets[hyper.name] : hyper.default;
        grid.append(hyperInput(config, index, hyper, shownDefault));
      }
      more.append(grid);
    }
    more.append(scheduleControls(config, index));
    box.append(more);
    box.append(el("p", { class: "error-text", "data-error": index, hidden: true }));
    holder.append(box);
  });
  $("#add-config").disabled = state.configs.length >= MAX_CONFIGS;
  $("#config-count").textContent = `(${state.configs.length}/${MAX_CONFIGS})`;
}

function markConfigErrors(index, fields, message) {
  const box = document.querySelector(`.config[data-config="${index}"]`);
  if (!box) return;
  const text = box.querySelector(".error-text");
  text.textContent = message;
  text.hidden = !message;
  for (const input of box.querySelectorAll("input, select")) input.classList.remove("invalid");
  for (const { field } of fields || []) {
    const top = field.split(".")[0];
    let selector = null;
    if (top === "learning_rate") selector = '[data-field="learning_rate"]';
    else if (top === "optimizer") selector = field.includes(".") ? `[data-hp="${field.split(".")[1]}"]` : '[data-field="optimizer"]';
    else if (top === "schedule") selector = field.includes(".") ? `[data-schedule="${field.split(".")[1]}"]` : '[data-field="schedule"]';
    else if (top === "batch_size" || top === "batching") selector = `[data-field="${top}"]`;
    const input = selector && box.querySelector(selector);
    if (input) {
      input.classList.add("invalid");
      const details = input.closest("details");
      if (details) details.open = true;
    }
  }
}

/* ---------------------------------------------------------------- the surface */

function normalizePoints(list) {
  return (list || []).filter((p) => p && Array.isArray(p.params) && p.params.length >= 2)
    .map((p) => ({ params: p.params, value: p.value, kind: p.kind || p.classification || "degenerate" }));
}

async function loadSurface() {
  const request = ++surfaceRequest;
  let next = null;
  try {
    if (state.mode === "catalogue") {
      const name = encodeURIComponent(state.fn);
      const [details, grid] = await Promise.all([
        catalog.details[state.fn] ? Promise.resolve(catalog.details[state.fn]) : api(`/v1/functions/${name}`),
        api(`/v1/functions/${name}/surface?resolution=${SURFACE_RESOLUTION}`),
      ]);
      catalog.details[state.fn] = details;
      next = {
        x: grid.x, y: grid.y, z: grid.z, points: normalizePoints(details.stationary_points),
        axisNames: (details.parameter_names || ["x", "y"]).slice(0, 2), title: state.fn,
        start: details.start,
      };
    } else if (state.mode === "expression") {
      next = await expressionSurface();
    } else {
      next = await datasetSurface();
    }
  } catch (err) {
    if (request !== surfaceRequest) return;
    if (state.mode === "expression") setExpressionStatus(err.message, true);
    else showError(`Could not load the surface: ${err.message}`);
    // Without a surface the paths are still drawn, on a plain plane.
    surface = state.mode === "dataset" ? { x: null, y: null, z: null, points: [], axisNames: ["w", "b"], title: "linear regression: (w, b)" } : null;
    drawMap();
    return;
  }
  if (request !== surfaceRequest) return;
  surface = next;
  if (state.mode !== "expression") showError("");
  drawMap();
}

async function expressionSurface() {
  const fn = functionSpec();
  const [[x0, x1], [y0, y1]] = state.bounds;
  const grid = await api("/v1/surface", {
    body: { function: fn, resolution: SURFACE_RESOLUTION, x_min: x0, x_max: x1, y_min: y0, y_max: y1 },
  });
  setExpressionStatus("✓ valid formula", false);
  let points = normalizePoints(grid.stationary_points);
  if (!points.length) {
    try {
      const analysis = await api("/v1/analyze", { body: { function: fn, bounds: state.bounds } });
      points = normalizePoints(analysis.points || analysis.stationary_points || []);
    } catch (err) {
      points = [];  // the surface is valid; stationary points are a bonus
    }
  }
  return { x: grid.x, y: grid.y, z: grid.z, points, axisNames: ["x", "y"], title: `f(x, y) = ${state.expr}` };
}

/* The (w, b) plane of one-feature linear regression: the API computes the MSE surface from
 * the same generated data the jobs use. The box is widened to hold the start point and every
 * trajectory, so the paths are always drawn on the surface. */
async function datasetSurface() {
  const base = { x: null, y: null, z: null, points: [], axisNames: ["w", "b"], title: "linear regression: MSE over (w, b)" };
  let grid = await datasetGrid(null);
  const want = unionBox(grid, trajectoryExtent());
  if (want) grid = await datasetGrid(want);
  let points = [];
  try {
    const bounds = [[grid.x[0], grid.x[grid.x.length - 1]], [grid.y[0], grid.y[grid.y.length - 1]]];
    const analysis = await api("/v1/analyze", { body: { function: "linear_regression", data: datasetSpec(), bounds } });
    points = normalizePoints(analysis.points || analysis.stationary_points || []);
  } catch (err) {
    points = [];  // the surface is drawn; the minimum's marker is a bonus
  }
  return Object.assign(base, { x: grid.x, y: grid.y, z: grid.z, points });
}

function datasetGrid(box) {
  const body = { function: "linear_regression", data: datasetSpec(), resolution: SURFACE_RESOLUTION };
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
  if (state.start) extendExtent(extent, state.start);
  for (const run of runs) {
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

/* ---------------------------------------------------------------- drawing */

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
  if (!surface) return traces;
  for (const [kind, style] of Object.entries(KIND_STYLE)) {
    const pts = surface.points.filter((p) => p.kind === kind);
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
  for (const run of runs) {
    const part = pointsUpTo(run, replayStep);
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

function drawMap() {
  const div = $("#map-plot");
  if (typeof Plotly === "undefined") return;
  const is3d = state.view === "3d";
  const traces = [];
  let zOf = (v) => v;
  const names = surface ? surface.axisNames : ["x", "y"];
  if (surface && surface.z) {
    const { values, log } = contourValues(surface.z);
    if (log) {
      const flat = surface.z.flat().filter((v) => v !== null && Number.isFinite(v));
      const min = Math.min(...flat), eps = (Math.max(...flat) - min) * 1e-6;
      zOf = (v) => Math.log10(Math.max(v - min, 0) + eps);
    }
    const text = surface.z.map((r) => r.map((v) => fmt(v)));
    const colorbar = { title: { text: log ? "log₁₀(f − min)" : "f" }, thickness: 12 };
    if (is3d) {
      traces.push({ type: "surface", x: surface.x, y: surface.y, z: values, text, colorscale: "Viridis", opacity: 0.85,
        hovertemplate: `${names[0]}=%{x:.3g}<br>${names[1]}=%{y:.3g}<br>f=%{text}<extra></extra>`, colorbar, showscale: false, meta: { role: "surface" } });
    } else {
      traces.push({ type: "contour", x: surface.x, y: surface.y, z: values, text, colorscale: "Viridis", ncontours: 30,
        contours: { coloring: "heatmap", showlines: true }, line: { width: 0.5, color: "rgba(255,255,255,0.35)" },
        hovertemplate: `${names[0]}=%{x:.3g}<br>${names[1]}=%{y:.3g}<br>f=%{text}<extra></extra>`, colorbar, showlegend: false, meta: { role: "surface" } });
    }
  }
  traces.push(...stationaryTraces(is3d, zOf));
  traces.push(...trajectoryTraces(is3d, zOf));
  if (state.start && !is3d) {
    traces.push({ type: "scatter", mode: "markers", name: "start", x: [state.start[0]], y: [state.start[1]],
      marker: { symbol: "circle-open", size: 14, color: "#fff", line: { width: 3, color: "#fff" } }, meta: { role: "start" }, hoverinfo: "name" });
  }
  const layout = {
    margin: { l: 45, r: 10, t: 10, b: 40 }, uirevision: `${state.mode}:${state.fn}:${state.expr}:${state.view}`,
    legend: { orientation: "h", y: -0.16, yanchor: "top", font: { size: 11 } }, showlegend: true,
  };
  if (is3d) {
    layout.scene = { xaxis: { title: { text: names[0] } }, yaxis: { title: { text: names[1] } }, zaxis: { title: { text: "f" } } };
    if (surface && surface.x && surface.z) {
      // Keep the view on the surface's box: a diverging path would otherwise shrink it to a dot.
      const finite = surface.z.flat().filter((v) => v !== null && Number.isFinite(v)).map(zOf);
      layout.scene.xaxis.range = [surface.x[0], surface.x[surface.x.length - 1]];
      layout.scene.yaxis.range = [surface.y[0], surface.y[surface.y.length - 1]];
      layout.scene.zaxis.range = [Math.min(...finite), Math.max(...finite)];
      layout.scene.zaxis.title.text = zOf(2) === 2 ? "f" : "log₁₀(f − min)";
    }
  } else {
    layout.xaxis = { title: { text: names[0] } };
    layout.yaxis = { title: { text: names[1] } };
    if (surface && surface.x) {
      layout.xaxis.range = [surface.x[0], surface.x[surface.x.length - 1]];
      layout.yaxis.range = [surface.y[0], surface.y[surface.y.length - 1]];
    }
  }
  Plotly.react(div, traces, layout, plotConfig());
  $("#map-title").textContent = surface ? surface.title : "Loss surface";
  $("#start-x-label").textContent = `Start ${names[0]}`;
  $("#start-y-label").textContent = `Start ${names[1]}`;
}

/* Losses that reach zero or below (six-hump camel, −0.25 minima) have no log: then we plot
 * the gap to the known global minimum value f*, or fall back to a linear axis. */
function lossScale() {
  const values = runs.flatMap((run) => (run.result && run.result.trajectory ? run.result.trajectory.loss : []))
    .filter((v) => v !== null && Number.isFinite(v));
  if (!values.some((v) => v <= 0)) return { offset: 0, logY: true, title: "Loss (log scale)" };
  const globals = surface ? surface.points.filter((p) => p.kind === "global" && Number.isFinite(p.value)).map((p) => p.value) : [];
  if (!globals.length) return { offset: 0, logY: false, title: "Loss" };
  const best = Math.min(...globals);
  return { offset: best, logY: true, title: `Loss − f* (f* = ${fmt(best)}, log scale)` };
}

function drawCurves() {
  if (typeof Plotly === "undefined") return;
  const lossTraces = [], lrTraces = [];
  const { offset, logY, title } = lossScale();
  for (const run of runs) {
    const t = run.result && run.result.trajectory;
    if (!t) continue;
    const positive = t.loss.map((v) => (v === null || (logY && !(v - offset > 0)) ? null : v - offset));
    lossTraces.push({ type: "scatter", mode: "lines", name: run.label, x: t.step, y: positive, line: { color: run.color }, meta: { run: run.index } });
    if (t.lr) lrTraces.push({ type: "scatter", mode: "lines", name: run.label, x: t.step, y: t.lr, line: { color: run.color, shape: "hv" }, meta: { run: run.index } });
  }
  const cursor = [{ type: "line", xref: "x", yref: "paper", x0: replayStep, x1: replayStep, y0: 0, y1: 1, line: { color: "#999", dash: "dot", width: 1 } }];
  const common = { margin: { l: 55, r: 10, t: 30, b: 35 }, showlegend: false, shapes: runs.length ? cursor : [] };
  Plotly.react($("#loss-plot"), lossTraces, Object.assign({ title: { text: title, font: { size: 13 } }, xaxis: { title: { text: "step" } }, yaxis: { type: logY ? "log" : "linear", exponentformat: "power" } }, common), plotConfig());
  // Learning rates a hundredfold apart share the plot only on a log axis.
  const rates = lrTraces.flatMap((trace) => trace.y.filter((v) => v > 0));
  const lrLog = rates.length > 0 && Math.max(...rates) / Math.min(...rates) > 50;
  Plotly.react($("#lr-plot"), lrTraces, Object.assign({ title: { text: "Learning rate", font: { size: 13 } }, xaxis: { title: { text: "step" } }, yaxis: { type: lrLog ? "log" : "linear", rangemode: "tozero", exponentformat: "power" } }, common), plotConfig());
}

function renderTable() {
  const body = $("#results-table tbody");
  body.replaceChildren(...runs.map((run) => {
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
      statusCell,
      el("td", { class: "num", "data-col": "loss", text: r ? fmt(r.final && r.final.loss) : running && run.loss !== undefined ? `${fmt(run.loss)}…` : "" }),
      el("td", { class: "num", "data-col": "steps", text: r ? String(r.steps) : running && run.step !== undefined ? `${run.step}…` : "" }),
      el("td", { "data-col": "stop", text: r ? r.stop_reason : "" }),
      el("td", { class: "num", text: r && r.final ? fmtPoint(r.final.params) : "" }),
      nearestCell);
  }));
}

/* ---------------------------------------------------------------- replay */

function maxRecordedStep() {
  let max = 0;
  for (const run of runs) {
    const t = run.result && run.result.trajectory;
    if (t && t.step.length) max = Math.max(max, t.step[t.step.length - 1]);
  }
  return max;
}

function updateSlider() {
  const slider = $("#step-slider");
  const max = maxRecordedStep();
  slider.max = String(max);
  if (followReplay) replayStep = max;
  replayStep = Math.min(replayStep, max);
  slider.value = String(replayStep);
  $("#step-label").textContent = `step ${replayStep} / ${max}`;
}

function setReplayStep(step) {
  replayStep = step;
  $("#step-slider").value = String(step);
  $("#step-label").textContent = `step ${step} / ${maxRecordedStep()}`;
  drawMap();
  drawCurves();
}

function togglePlay() {
  const button = $("#play-button");
  if (playTimer) { stopPlay(); return; }
  const max = maxRecordedStep();
  if (!max) return;
  followReplay = false;
  const started = performance.now();
  const from = replayStep >= max ? 0 : replayStep;
  button.textContent = "❚❚ Pause";
  const tick = (now) => {
    const step = Math.min(max, Math.round(from + ((max - from) * (now - started)) / REPLAY_DURATION_MS));
    setReplayStep(step);
    if (step >= max) { stopPlay(); followReplay = true; return; }
    playTimer = requestAnimationFrame(tick);
  };
  playTimer = requestAnimationFrame(tick);
}

function stopPlay() {
  if (playTimer) cancelAnimationFrame(playTimer);
  playTimer = null;
  $("#play-button").textContent = "▶ Play";
}

/* ---------------------------------------------------------------- running jobs */

function anyRunning() { return runs.some((run) => run.jobId && !TERMINAL.has(run.status)); }

function refreshRunButtons() {
  const busy = anyRunning();
  $("#run-button").disabled = busy;
  $("#cancel-button").disabled = !busy;
  const done = runs.filter((r) => TERMINAL.has(r.status)).length;
  if (runs.length) setRunStatus(busy ? `running… ${done}/${runs.length} finished` : `${done}/${runs.length} finished`);
}

function refreshResults() {
  updateSlider();
  drawMap();
  drawCurves();
  renderTable();
  refreshRunButtons();
}

async function runAll() {
  stopPlay();
  showError("");
  for (const run of runs) if (run.source) run.source.close();
  state.configs.forEach((_, i) => markConfigErrors(i, [], ""));
  followReplay = true;
  replayStep = 0;
  runs = state.configs.map((config, index) => ({
    index, color: COLORS[index], label: configLabel(config, index), spec: jobSpec(config), status: "submitting",
  }));
  refreshResults();
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

/* Progress by server-sent events; if the stream breaks before the job ends, poll instead.
 * A browser keeps at most 6 HTTP/1.1 connections per host and every open event stream holds
 * one: with 8 streams the Cancel requests would wait forever. So at most SSE_STREAMS jobs are
 * streamed at a time; the others are polled and take a free stream when one closes. */
function follow(run) {
  if (run.sseFailed || openStreams() >= SSE_STREAMS) {
    poll(run);
    return;
  }
  let source;
  try {
    source = new EventSource(`/v1/jobs/${encodeURIComponent(run.jobId)}/events`);
  } catch (err) {
    poll(run);
    return;
  }
  run.source = source;
  const onEvent = (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch (err) { return; }
    applyJobUpdate(run, data, event.type);
    if (TERMINAL.has(run.status)) finish(run);
    else renderTable();
  };
  for (const type of ["message", "progress", "status", "job", "update", "end", "done", "finished", "complete"]) {
    source.addEventListener(type, onEvent);
  }
  source.addEventListener("error", () => {
    if (run.source !== source) return;
    source.close();
    run.source = null;
    if (!TERMINAL.has(run.status)) {
      run.sseFailed = true;
      poll(run);
    }
  });
}

function openStreams() { return runs.filter((run) => run.source).length; }

function applyJobUpdate(run, data, type) {
  if (!data || typeof data !== "object") return;
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

async function poll(run) {
  if (run.polling) return;
  run.polling = true;
  while (run.jobId && !TERMINAL.has(run.status) && runs.includes(run)) {
    if (!run.sseFailed && openStreams() < SSE_STREAMS) {
      run.polling = false;
      follow(run);
      return;
    }
    try {
      applyJobUpdate(run, await api(`/v1/jobs/${encodeURIComponent(run.jobId)}`));
    } catch (err) {
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
  if (run.status === "succeeded" || run.status === "cancelled") {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        run.result = await api(`/v1/jobs/${encodeURIComponent(run.jobId)}/result?max_points=${RESULT_MAX_POINTS}`);
        break;
      } catch (err) {
        // 409 on a finished job: the events can run a moment ahead of the stored result.
        // A job cancelled before it ran has no result at all (409 too): nothing to wait for.
        if (err.status !== 409 || run.status === "cancelled") { if (run.status !== "cancelled") run.error = err.message; break; }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }
  if (!runs.includes(run)) return;
  refreshResults();
  if (state.mode === "dataset" && !anyRunning()) loadSurface();
}

async function cancelAll() {
  const active = runs.filter((run) => run.jobId && !TERMINAL.has(run.status));
  setRunStatus("cancelling…");
  await Promise.all(active.map(async (run) => {
    try {
      await api(`/v1/jobs/${encodeURIComponent(run.jobId)}`, { method: "DELETE" });
    } catch (err) {
      if (err.status !== 409) run.error = err.message;  // 409: it had just finished
    }
    if (!run.source) poll(run);  // a no-op when it is polled already
  }));
  refreshRunButtons();
}

/* ---------------------------------------------------------------- export */

function exportJson() {
  const document_ = {
    link: location.href, state,
    runs: runs.map((run) => ({ label: run.label, spec: run.spec, job_id: run.jobId || null, status: run.status, error: run.error || null, result: run.result || null })),
  };
  const blob = new Blob([JSON.stringify(document_, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: "descent-comparison.json" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function exportPng() {
  Plotly.downloadImage($("#map-plot"), { format: "png", filename: "descent-map", width: 1200, height: 900 });
  if (runs.some((run) => run.result)) Plotly.downloadImage($("#loss-plot"), { format: "png", filename: "descent-loss", width: 1000, height: 500 });
}

/* ---------------------------------------------------------------- events */

function onFunctionChanged() {
  runs = [];
  replayStep = 0;
  refreshResults();
  saveState();
  if (state.mode === "expression") scheduleValidation();
  else loadSurface();
}

function setExpressionStatus(message, isError) {
  const status = $("#expression-status");
  status.textContent = message;
  status.className = "field-status " + (isError ? "error" : "ok");
  $("#expression-input").classList.toggle("invalid", !!isError);
}

function scheduleValidation() {
  clearTimeout(validateTimer);
  setExpressionStatus("checking…", false);
  validateTimer = setTimeout(loadSurface, VALIDATE_DELAY_MS);
}

function setStartFromMap(x, y) {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return;
  state.start = [Number(x.toPrecision(4)), Number(y.toPrecision(4))];
  renderRunControls();
  saveState();
  drawMap();
}

function bindMapClick() {
  const div = $("#map-plot");
  // A click anywhere on the 2-D plot area (not only on a grid point) sets the start.
  div.addEventListener("click", (event) => {
    if (state.view !== "contour" || !div._fullLayout || !div._fullLayout.xaxis) return;
    const xa = div._fullLayout.xaxis, ya = div._fullLayout.yaxis;
    const rect = div.getBoundingClientRect();
    const px = event.clientX - rect.left - xa._offset, py = event.clientY - rect.top - ya._offset;
    if (px < 0 || py < 0 || px > xa._length || py > ya._length) return;
    setStartFromMap(xa.p2l(px), ya.p2l(py));
  });
  div.on && div.on("plotly_click", (data) => {
    if (state.view === "3d" && data.points && data.points[0]) setStartFromMap(data.points[0].x, data.points[0].y);
  });
}

function applyPreset(preset) {
  stopPlay();
  state = withDefaults(preset.state);
  renderAll();
  onFunctionChanged();
}

function bindControls() {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => {
      if (state.mode === button.dataset.mode) return;
      state.mode = button.dataset.mode;
      state.start = null;
      renderAll();
      onFunctionChanged();
    });
  }
  $("#function-select").addEventListener("change", (e) => {
    state.fn = e.target.value;
    state.start = null;
    renderAll();
    onFunctionChanged();
  });
  $("#expression-input").addEventListener("input", (e) => { state.expr = e.target.value; saveState(); scheduleValidation(); });
  const bound = (selector, axis, side) => $(selector).addEventListener("change", (e) => {
    const value = numberOrNull(e.target.value);
    if (value === null) return;
    state.bounds[axis][side] = value;
    onFunctionChanged();
  });
  bound("#expr-xmin", 0, 0); bound("#expr-xmax", 0, 1); bound("#expr-ymin", 1, 0); bound("#expr-ymax", 1, 1);
  const dataField = (selector, key, parse) => $(selector).addEventListener("change", (e) => {
    const value = parse(e.target.value);
    if (value === null) return;
    state.data[key] = value;
    onFunctionChanged();
  });
  dataField("#data-generator", "generator", (v) => v);
  dataField("#data-n", "n_samples", (v) => (numberOrNull(v) === null ? null : Math.round(Number(v))));
  dataField("#data-noise", "noise", numberOrNull);
  dataField("#data-seed", "seed", (v) => (numberOrNull(v) === null ? null : Math.round(Number(v))));
  const startField = () => {
    const x = numberOrNull($("#start-x").value), y = numberOrNull($("#start-y").value);
    state.start = x === null || y === null ? null : [x, y];
    saveState();
    drawMap();
  };
  $("#start-x").addEventListener("change", startField);
  $("#start-y").addEventListener("change", startField);
  $("#max-steps").addEventListener("change", (e) => { const v = numberOrNull(e.target.value); if (v !== null) state.max_steps = Math.max(1, Math.round(v)); saveState(); });
  $("#run-seed").addEventListener("change", (e) => { const v = numberOrNull(e.target.value); if (v !== null) state.seed = Math.max(0, Math.round(v)); saveState(); });
  $("#gradient-noise").addEventListener("change", (e) => { const v = numberOrNull(e.target.value); if (v !== null) state.noise = v; saveState(); });
  $("#add-config").addEventListener("click", () => {
    if (state.configs.length >= MAX_CONFIGS) return;
    const last = state.configs[state.configs.length - 1];
    state.configs.push(last ? clone(last) : { optimizer: "sgd", lr: 0.01, hp: {}, schedule: null });
    renderConfigs();
    saveState();
  });
  for (const button of document.querySelectorAll(".toggle button")) {
    button.addEventListener("click", () => { state.view = button.dataset.view; renderViewToggle(); saveState(); drawMap(); });
  }
  $("#run-button").addEventListener("click", runAll);
  $("#cancel-button").addEventListener("click", cancelAll);
  $("#export-json").addEventListener("click", exportJson);
  $("#export-png").addEventListener("click", exportPng);
  $("#copy-link").addEventListener("click", async () => {
    saveState();
    try { await navigator.clipboard.writeText(location.href); setRunStatus("link copied"); } catch (err) { setRunStatus(location.href); }
  });
  $("#step-slider").addEventListener("input", (e) => {
    stopPlay();
    const step = Number(e.target.value);
    followReplay = step >= maxRecordedStep();
    setReplayStep(step);
  });
  $("#play-button").addEventListener("click", togglePlay);
  window.addEventListener("hashchange", () => {
    const decoded = decodeState(location.hash);
    if (decoded && JSON.stringify(withDefaults(decoded)) !== JSON.stringify(state)) {
      state = withDefaults(decoded);
      renderAll();
      onFunctionChanged();
    }
  });
  $("#preset-buttons").replaceChildren(...PRESETS.map((preset) => el("button", {
    type: "button", class: "preset", "data-preset": preset.id, text: preset.title, onclick: () => applyPreset(preset),
  })));
}

async function loadCatalog() {
  const [functions, optimizers, schedules] = await Promise.all([
    api("/v1/functions"),
    api("/v1/optimizers"),
    api("/v1/schedules").catch(() => []),
  ]);
  // The map is two-dimensional: offer the functions that have two parameters by default.
  catalog.functions = listOf(functions, "functions").filter((f) => !f.dims || f.dims === 2);
  catalog.optimizers = normalizeOptimizers(optimizers);
  catalog.optimizerByName = Object.fromEntries(catalog.optimizers.map((o) => [o.name, o]));
  catalog.schedules = normalizeSchedules(schedules);
}

async function main() {
  state = withDefaults(decodeState(location.hash));
  bindControls();
  try {
    await loadCatalog();
  } catch (err) {
    showError(`Could not load the catalogue from the service: ${err.message}`);
  }
  renderAll();
  bindMapClick();
  refreshResults();
  await loadSurface();
  document.body.dataset.ready = "true";
}

window.descentPage = {
  get state() { return clone(state); },
  get runs() { return runs.map((run) => ({ index: run.index, label: run.label, status: run.status, jobId: run.jobId || null, hasResult: !!run.result, error: run.error || null })); },
  get surface() { return surface ? { points: surface.points.map((p) => p.kind), hasGrid: !!surface.z, x: [surface.x[0], surface.x[surface.x.length - 1]], y: [surface.y[0], surface.y[surface.y.length - 1]] } : null; },
};

document.addEventListener("DOMContentLoaded", main);
