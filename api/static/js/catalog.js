/* The service's catalogue: functions, dataset models (their parameters, layout and generators),
 * optimizers (with their aliases and hyperparameters) and learning-rate schedules, read once at
 * start (and again when the API key changes). */
import { SCHEDULE_FALLBACKS } from "./constants.js";
import { api, listOf } from "./api.js";
import { page } from "./state.js";

export const catalog = { functions: [], details: {}, models: [], optimizers: [], optimizerByName: {}, schedules: [] };

function normalizeOptimizers(body) {
  return listOf(body, "optimizers").filter((opt) => opt.applicable !== false).map((opt) => ({
    name: opt.name,
    description: opt.description || "",
    defaultLr: opt.default_learning_rate ?? opt.default_lr ?? 0.001,
    aliases: (opt.aliases || []).map((alias) => (typeof alias === "string" ? { name: alias, sets: {} } : { name: alias.name, sets: alias.sets || {} })),
    hyperparameters: (opt.hyperparameters || []).map((h) => ({
      name: h.name, type: h.type || h.kind || "float", default: h.default,
      range: h.range || "", description: h.description || "",
      choices: h.choices || null, nullable: !!h.nullable,
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

export async function loadCatalog() {
  const [functions, optimizers, schedules] = await Promise.all([
    api("/v1/functions"),
    api("/v1/optimizers"),
    api("/v1/schedules").catch(() => []),
  ]);
  // The map is two-dimensional: offer the functions that have two parameters by default.
  const entries = listOf(functions, "functions");
  catalog.functions = entries.filter((f) => f.kind !== "model" && (!f.dims || f.dims === 2));
  // The dataset models (docs/spec.md §3.3): their function_params, layout and generators.
  catalog.models = entries.filter((f) => f.kind === "model");
  catalog.optimizers = normalizeOptimizers(optimizers);
  catalog.optimizerByName = Object.fromEntries(catalog.optimizers.map((o) => [o.name, o]));
  catalog.schedules = normalizeSchedules(schedules);
}

export function modelInfo(name) {
  return catalog.models.find((m) => m.name === name) || null;
}

/* The family and the alias presets behind an optimizer name (`momentum` is sgd + momentum 0.9). */
export function optimizerInfo(name) {
  const direct = catalog.optimizerByName[name];
  if (direct) return { family: direct, sets: {} };
  for (const family of catalog.optimizers) {
    const alias = family.aliases.find((a) => a.name === name);
    if (alias) return { family, sets: alias.sets };
  }
  return null;
}

export function optimizerNames() {
  const names = [];
  for (const family of catalog.optimizers) {
    names.push(family.name);
    for (const alias of family.aliases) names.push(alias.name);
  }
  return names;
}

export function scheduleDefaults(name) {
  const info = catalog.schedules.find((s) => s.name === name);
  const values = Object.assign({}, SCHEDULE_FALLBACKS[name] || {});
  if (name === "cosine") values.t_max = page.state.max_steps;
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
