/* Job specs (docs/spec.md) built from the page's state, one per optimizer configuration. */
import { RECORD_POINTS_TARGET } from "./constants.js";
import { page } from "./state.js";

export function functionSpec() {
  const { state } = page;
  if (state.mode === "expression") {
    return { expression: state.expr, variables: ["x", "y"], bounds: state.bounds };
  }
  if (state.mode === "dataset") return state.model;
  return state.fn;
}

/* The dataset model's function_params: only the values the user chose (the catalogue's
 * defaults are the engine's). */
export function modelParamsSpec() {
  return Object.assign({}, page.state.model_params || {});
}

/* The job's `data` (docs/spec.md §2): an uploaded data set by id, or a seeded generator. */
export function datasetSpec() {
  const d = page.state.data;
  if (d.source === "dataset") return { dataset_id: d.dataset_id || "" };
  const spec = { generator: d.generator, n_samples: d.n_samples, noise: d.noise, seed: d.seed };
  if (d.n_features !== null && d.n_features !== undefined && d.n_features !== "") spec.n_features = d.n_features;
  if (typeof d.options === "string" || (d.options && Object.keys(d.options).length)) spec.options = d.options;
  return spec;
}

export function jobSpec(config) {
  const { state } = page;
  const spec = { function: functionSpec(), max_steps: state.max_steps, seed: state.seed };
  const hp = Object.assign({}, config.hp || {});
  spec.optimizer = Object.keys(hp).length ? Object.assign({ name: config.optimizer }, hp) : config.optimizer;
  if (config.lr !== null && config.lr !== undefined && config.lr !== "") spec.learning_rate = config.lr;
  if (config.schedule && config.schedule.name && config.schedule.name !== "constant") spec.schedule = config.schedule;
  if (state.start) spec.init = state.start.slice();
  const every = Math.max(1, Math.ceil(state.max_steps / RECORD_POINTS_TARGET));
  if (every > 1) spec.record_every = every;
  if (state.mode === "dataset") {
    const params = modelParamsSpec();
    if (Object.keys(params).length) spec.function_params = params;
    spec.data = datasetSpec();
    spec.batching = config.batching || "full";
    if (spec.batching === "minibatch") spec.batch_size = config.batch_size || 32;
  } else if (state.noise > 0) {
    spec.gradient_noise = state.noise;
  }
  return spec;
}

export function configLabel(config, index) {
  let label = `${index + 1}. ${config.optimizer}`;
  if (config.lr) label += ` lr=${config.lr}`;
  if (page.state.mode === "dataset") {
    label += ` ${config.batching || "full"}`;
    if (config.batching === "minibatch") label += `(${config.batch_size || 32})`;
  }
  if (config.schedule && config.schedule.name && config.schedule.name !== "constant") label += ` ${config.schedule.name}`;
  return label;
}
