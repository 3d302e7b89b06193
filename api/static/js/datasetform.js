/* The Dataset tab: the model (the catalogue's models), its function_params, and the data: a
 * generator the model suits with its settings, or an uploaded data set (by id, or a CSV file
 * sent to POST /v1/datasets). Every change is written to `page.state`, saved in the URL, and
 * reloads the samples, their view and the surface (main.js's handler). */
import { catalog, modelInfo } from "./catalog.js";
import { uploadCsv } from "./datasets.js";
import { $, el } from "./dom.js";
import { clearFieldErrors, markFieldErrors } from "./fielderrors.js";
import { page, saveState } from "./state.js";

/* The model (from the catalogue's models), its function_params, and the data: a generator the
 * model suits (the catalogue's `generators`) with its settings, or an uploaded data set. */
export function renderDatasetControls() {
  const { data } = page.state;
  const models = catalog.models.map((m) => m.name);
  if (!models.includes(page.state.model)) models.push(page.state.model);
  const modelSelect = $("#data-model");
  modelSelect.replaceChildren(...models.map((n) => el("option", { value: n, text: n })));
  modelSelect.value = page.state.model;
  const info = modelInfo(page.state.model);
  $("#model-description").textContent = info ? `${info.description} Loss: ${info.loss}. Labels: ${info.labels}.` : "";
  $("#model-params").replaceChildren(...((info && info.params) || []).map(modelParamInput));
  for (const button of document.querySelectorAll("[data-source]")) {
    button.setAttribute("aria-selected", String(button.dataset.source === data.source));
  }
  for (const pane of document.querySelectorAll("[data-source-pane]")) pane.hidden = pane.dataset.sourcePane !== data.source;
  const generators = suitedGenerators();
  if (!generators.includes(data.generator)) generators.push(data.generator);
  $("#data-generator").replaceChildren(...generators.map((n) => el("option", { value: n, text: n })));
  $("#data-generator").value = data.generator;
  $("#data-n").value = data.n_samples;
  $("#data-noise").value = data.noise;
  $("#data-seed").value = data.seed;
  $("#data-features").value = data.n_features ?? "";
  $("#data-options").value = typeof data.options === "string" ? data.options
    : data.options && Object.keys(data.options).length ? JSON.stringify(data.options) : "";
  $("#data-id").value = data.dataset_id || "";
}

function suitedGenerators() {
  const info = modelInfo(page.state.model);
  return info && info.generators ? info.generators.slice() : [page.state.data.generator];
}

/* One of the model's function_params (catalogue: name, type, default, choices, bounds): a select
 * for choices, a number otherwise; left at the default, it is not sent. */
function modelParamInput(param) {
  const given = page.state.model_params[param.name];
  const title = [param.description, param.minimum !== undefined ? `${param.minimum}..${param.maximum}` : ""].filter(Boolean).join(" — ");
  const attrs = { id: `model-param-${param.name}`, "data-spec": `function_params.${param.name}`, "data-model-param": param.name };
  let input;
  if (param.choices) {
    input = el("select", attrs, ...param.choices.map((c) => el("option", { value: c, text: c === param.default ? `${c} (default)` : c })));
    input.value = given ?? param.default;
  } else {
    input = el("input", Object.assign(attrs, { type: "number", step: "1", min: param.minimum, max: param.maximum,
      placeholder: param.default === null || param.default === undefined ? "auto" : `${param.default}` }));
    input.value = given ?? "";
  }
  input.addEventListener("change", () => {
    const text = input.value.trim();
    const value = param.choices ? text : text === "" ? null : Number.isInteger(Number(text)) ? Number(text) : text;
    if (value === null || value === param.default) delete page.state.model_params[param.name];
    else page.state.model_params[param.name] = value;
    datasetChanged();
  });
  return el("label", { title }, param.name, input);
}

let datasetChanged = () => {};

/* A generator whose labels are classes trains an MLP by cross-entropy, the linear one by MSE:
 * the catalogue's default loss (mse) is the regression one. */
function chooseMlpLoss() {
  const info = modelInfo(page.state.model);
  const loss = info && (info.params || []).find((p) => p.name === "loss");
  if (page.state.model !== "mlp" || !loss || !loss.choices.includes("cross_entropy")) return;
  const classes = page.state.data.source === "generator" && page.state.data.generator !== "linear";
  if (classes) page.state.model_params.loss = "cross_entropy";
  else delete page.state.model_params.loss;
}

/* Wire the dataset controls; `onChange` reloads the data, its view and the surface. */
export function bindDatasetControls(onChange) {
  datasetChanged = () => { renderDatasetControls(); saveState(); onChange(); };
  const data = () => page.state.data;
  const integer = (text) => (text.trim() === "" ? null : Number.isFinite(Number(text)) ? Math.round(Number(text)) : text);
  const number = (text) => (text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text);
  $("#data-model").addEventListener("change", (e) => {
    page.state.model = e.target.value;
    page.state.model_params = {};
    page.state.start = null;
    const generators = suitedGenerators();
    if (data().source === "generator" && generators.length && !generators.includes(data().generator)) data().generator = generators[0];
    chooseMlpLoss();
    datasetChanged();
  });
  for (const button of document.querySelectorAll("[data-source]")) {
    button.addEventListener("click", () => {
      if (data().source === button.dataset.source) return;
      data().source = button.dataset.source;
      chooseMlpLoss();
      datasetChanged();
    });
  }
  const field = (selector, key, parse) => $(selector).addEventListener("change", (e) => {
    data()[key] = parse(e.target.value);
    if (key === "generator") chooseMlpLoss();
    datasetChanged();
  });
  field("#data-generator", "generator", (v) => v);
  field("#data-n", "n_samples", integer);
  field("#data-noise", "noise", number);
  field("#data-seed", "seed", integer);
  field("#data-features", "n_features", integer);
  field("#data-options", "options", (text) => {
    if (!text.trim()) return {};
    try { return JSON.parse(text); } catch (err) { return text; }  // sent as typed: the 422 says why
  });
  field("#data-id", "dataset_id", (v) => v.trim());
  $("#data-file").addEventListener("change", async (e) => {
    const file = e.target.files && e.target.files[0];
    if (!file) return;
    clearFieldErrors();
    setDataStatus(`uploading ${file.name}…`, false);
    try {
      const uploaded = await uploadCsv(await file.text(), $("#data-target").value.trim());
      Object.assign(data(), { source: "dataset", dataset_id: uploaded.id });
      setDataStatus(`uploaded ${file.name}: ${uploaded.n_samples} samples, ${uploaded.n_features} features (${uploaded.columns.join(", ")} → ${uploaded.target})`, false);
      datasetChanged();
    } catch (err) {
      // Entries naming a row or column of the file (X, y) are shown beside the file.
      const unplaced = markFieldErrors(err.fields.length ? err.fields : [{ field: "file", message: err.message }]);
      markFieldErrors(unplaced.map((entry) => ({ field: "file", message: entry.field ? `${entry.field}: ${entry.message}` : entry.message })));
      setDataStatus(err.message, true);
    }
  });
}

export function setDataStatus(message, isError) {
  const status = $("#data-status");
  status.textContent = message;
  status.className = "field-status " + (isError ? "error" : "ok");
}
