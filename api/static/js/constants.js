/* The page's fixed settings: limits, colours, the default state and the lessons (presets). */
export const MAX_CONFIGS = 8;
export const SURFACE_RESOLUTION = 80;
export const RESULT_MAX_POINTS = 2000;
export const RECORD_POINTS_TARGET = 5000;  // record_every is chosen so a run records about this many
export const VALIDATE_DELAY_MS = 400;
export const SSE_STREAMS = 3;  // event streams open at once (see follow in runs.js)
export const REPLAY_DURATION_MS = 4000;
export const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#f032e6", "#9a6324"];
export const KIND_STYLE = {
  global: { label: "global minimum", symbol: "star", color: "#1f8a4c", size: 16 },
  local: { label: "local minimum", symbol: "circle", color: "#f2a900", size: 11 },
  saddle: { label: "saddle", symbol: "x", color: "#7b3fbf", size: 12 },
  maximum: { label: "maximum", symbol: "triangle-up", color: "#c8372d", size: 12 },
  degenerate: { label: "degenerate", symbol: "diamond", color: "#667085", size: 10 },
};
export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
/* Values for schedule parameters that have no default (or whose default is null). */
export const SCHEDULE_FALLBACKS = {
  step: { step_size: 100, gamma: 0.5 },
  multistep: { milestones: [100, 200], gamma: 0.5 },
  exponential: { gamma: 0.99 },
  cosine: { t_max: 500, eta_min: 0 },
  linear: { start_factor: 0.1, end_factor: 1.0, total_iters: 100 },
  plateau: { factor: 0.5, patience: 10 },
  cosine_warm_restarts: { t_0: 100 },
  cyclic: { max_lr: 0.05, step_size_up: 100 },
  lambda: { factor: "0.99**step" },
  multiplicative: { factor: "0.999" },
  sequential: { milestones: [100], schedules: [{ name: "linear", start_factor: 0.1, total_iters: 100 }, { name: "cosine", t_max: 400 }] },
  chained: { schedules: [{ name: "constant_factor", factor: 0.5, total_iters: 50 }, { name: "exponential", gamma: 0.995 }] },
};

export const DEFAULT_STATE = {
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
  compare: "race",  // or "sweep": final loss against learning rate (sweepview.js)
  tune: false,      // race at learning rates chosen by a halving sweep first (tune.js)
  lr_range: { from: 1e-4, to: 1, count: 41 },  // the rates swept or tuned over (log-spaced)
  sweep_id: null,
  picked: [],       // sweep runs whose paths are on the map
  configs: [
    { optimizer: "sgd", lr: 0.001, hp: {}, schedule: null },
    { optimizer: "adam", lr: 0.05, hp: {}, schedule: null },
  ],
};

/* The lessons: each preset is a whole state. */
export const PRESETS = [
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
    // Tuned first: even at its best rate (the largest before it diverges) gd still crawls along
    // the valley, while momentum at its own reaches the minimum (docs/web.md).
    state: {
      mode: "catalogue", fn: "rosenbrock", start: [-1.2, 1], max_steps: 2000, tune: true, configs: [
        { optimizer: "gd", lr: 0.001, hp: {}, schedule: null },
        { optimizer: "momentum", lr: 0.001, hp: {}, schedule: null },
        { optimizer: "nesterov", lr: 0.001, hp: {}, schedule: null },
        { optimizer: "adam", lr: 0.02, hp: {}, schedule: null },
      ],
    },
  },
];
