/* Job specs (docs/spec.md) built from the page's state, one per optimizer configuration. */
import { RECORD_POINTS_TARGET } from "./constants.js";
import { page } from "./state.js";

export function functionSpec() {
  const { state } = page;
  if (state.mode === "expression") {
    return { expression: state.expr, variables: ["x", "y"], bounds: state.bounds };
  }
  if (state.mode === "dataset") return "linear_regression";
  return state.fn;
}

export function datasetSpec() {
  const d = page.state.data;
  return { generator: d.generator, n_samples: d.n_samples, n_features: 1, noise: d.noise, seed: d.seed };
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
