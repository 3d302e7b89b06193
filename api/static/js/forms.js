/* The settings forms: function, run controls, the optimizer configurations (hyperparameters
 * and schedules) and the marks a rejected field gets. Every change is written to `page.state`
 * and saved in the URL. */
import { COLORS, MAX_CONFIGS } from "./constants.js";
import { catalog, optimizerInfo, optimizerNames, scheduleDefaults } from "./catalog.js";
import { renderDatasetControls } from "./datasetform.js";
import { clearFieldErrors, markFieldErrors, showBeside } from "./fielderrors.js";
import { $, el } from "./dom.js";
import { page, saveState } from "./state.js";
import { renderCompareControls } from "./compare.js";

export function renderAll() {
  renderFunctionControls();
  renderRunControls();
  renderConfigs();
  renderViewToggle();
  renderCompareControls();
  saveState();
}

function renderFunctionControls() {
  for (const button of document.querySelectorAll(".tabs button[data-mode]")) {
    button.setAttribute("aria-selected", String(button.dataset.mode === page.state.mode));
  }
  for (const pane of document.querySelectorAll(".mode-pane")) pane.hidden = pane.dataset.pane !== page.state.mode;
  const select = $("#function-select");
  if (catalog.functions.length && !catalog.functions.some((f) => f.name === page.state.fn)) {
    catalog.functions.push({ name: page.state.fn, formula: "" });
  }
  select.replaceChildren(...catalog.functions.map((f) => el("option", { value: f.name, text: f.name })));
  select.value = page.state.fn;
  const entry = catalog.functions.find((f) => f.name === page.state.fn);
  $("#function-formula").textContent = entry ? entry.formula || entry.description || "" : "";
  $("#expression-input").value = page.state.expr;
  $("#expr-xmin").value = page.state.bounds[0][0];
  $("#expr-xmax").value = page.state.bounds[0][1];
  $("#expr-ymin").value = page.state.bounds[1][0];
  $("#expr-ymax").value = page.state.bounds[1][1];
  renderDatasetControls();
  $("#noise-row").hidden = page.state.mode === "dataset";
}

export function renderRunControls() {
  $("#start-x").value = page.state.start ? page.state.start[0] : "";
  $("#start-y").value = page.state.start ? page.state.start[1] : "";
  $("#max-steps").value = page.state.max_steps;
  $("#run-seed").value = page.state.seed;
  $("#gradient-noise").value = page.state.noise;
}

export function renderViewToggle() {
  for (const button of document.querySelectorAll(".toggle button")) {
    button.setAttribute("aria-pressed", String(button.dataset.view === page.state.view));
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
  if (hyper.type === "choice") {  // e.g. lbfgs's line_search_fn: one of choices, or null
    const options = [...(hyper.nullable ? [""] : []), ...(hyper.choices || [])];
    const select = el("select", { id, "data-hp": hyper.name });
    select.replaceChildren(...options.map((value) => el("option", { value, text: value || "none" })));
    select.value = current ?? "";
    select.addEventListener("change", () => update(select.value === "" ? null : select.value));
    return el("label", { title }, hyper.name, select);
  }
  const input = el("input", { id, "data-hp": hyper.name, type: "text", inputmode: "decimal" });
  input.value = Array.isArray(current) ? current.join(", ") : current ?? "";
  input.addEventListener("change", () => {
    const text = input.value.trim();
    if (hyper.nullable && text === "") {
      update(null);
    } else if (hyper.type === "pair") {
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
      // A combinator's schedules are objects: edited as JSON (a broken one is sent as typed,
      // and the API's 422 names the field).
      const members = Array.isArray(value) && value.some((item) => typeof item === "object");
      input.value = members ? JSON.stringify(value) : Array.isArray(value) ? value.join(", ") : value;
      input.addEventListener("change", () => {
        const text = input.value.trim();
        if (members) {
          try { config.schedule[key] = JSON.parse(text); } catch { config.schedule[key] = text; }
        } else if (Array.isArray(value)) config.schedule[key] = text.split(/[\s,]+/).filter(Boolean).map(Number);
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

export function renderConfigs() {
  const holder = $("#configs");
  holder.replaceChildren();
  page.state.configs.forEach((config, index) => {
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
    remove.disabled = page.state.configs.length <= 1;
    remove.addEventListener("click", () => {
      page.state.configs.splice(index, 1);
      renderConfigs();
      saveState();
    });
    box.append(el("div", { class: "config-head" },
      el("label", {}, "Optimizer", select), el("label", {}, "Learning rate", lr), remove));

    if (page.state.mode === "dataset") {
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
  $("#add-config").disabled = page.state.configs.length >= MAX_CONFIGS;
  $("#config-count").textContent = `(${page.state.configs.length}/${MAX_CONFIGS})`;
}

/* A job's 422 (runs.js): the whole message in its configuration's box, and each entry beside
 * the control it names: the configuration's own fields there, the others (data, model, run
 * settings) beside the page's controls. Called with no fields and no message, it clears. */
export function markConfigErrors(index, fields, message) {
  const box = document.querySelector(`.config[data-config="${index}"]`);
  if (!fields.length && !message) clearFieldErrors();
  if (!box) return;
  const text = box.querySelector(".error-text");
  text.textContent = message;
  text.hidden = !message;
  for (const input of box.querySelectorAll("input, select")) input.classList.remove("invalid");
  for (const note of box.querySelectorAll(".field-error")) note.remove();
  const elsewhere = [];
  for (const entry of fields || []) {
    const input = configControl(box, entry.field);
    if (input) showBeside(input, `${entry.field}: ${entry.message}`);
    else elsewhere.push(entry);
  }
  markFieldErrors(elsewhere);
}

function configControl(box, field) {
  const [top, second] = field.split(".");
  let selector = null;
  if (top === "learning_rate") selector = '[data-field="learning_rate"]';
  else if (top === "optimizer") selector = second ? `[data-hp="${CSS.escape(second)}"]` : '[data-field="optimizer"]';
  else if (top === "schedule") selector = second ? `[data-schedule="${CSS.escape(second)}"]` : '[data-field="schedule"]';
  else if (top === "batch_size" || top === "batching") selector = `[data-field="${top}"]`;
  return selector && box.querySelector(selector);
}

export function setExpressionStatus(message, isError) {
  const status = $("#expression-status");
  status.textContent = message;
  status.className = "field-status " + (isError ? "error" : "ok");
  $("#expression-input").classList.toggle("invalid", !!isError);
}
