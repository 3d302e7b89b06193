/* A 422's entries beside the controls they name (docs/spec.md §2: one entry per problem, its
 * `loc` the field as the spec writes it). A control declares the spec field it sets in
 * `data-spec`; a configuration's own fields are placed by forms.js (markConfigErrors). */
import { el } from "./dom.js";

/* The controls a 422 entry names: its `loc` as a spec path (`data.n_samples`,
 * `function_params.hidden`, `init.1`), matched on the longest prefix that a visible control
 * declares in `data-spec`. */
function controlsFor(field, root = document) {
  const parts = field.split(".");
  for (let n = parts.length; n > 0; n--) {
    const name = parts.slice(0, n).join(".");
    const found = [...root.querySelectorAll(`[data-spec="${CSS.escape(name)}"]`)].filter((c) => !c.closest("[hidden]"));
    if (found.length) return found;
  }
  return [];
}

export function showBeside(control, message) {
  control.classList.add("invalid");
  const holder = control.closest("label") || control.parentElement;
  let note = holder.querySelector(":scope > .field-error");
  if (!note) { note = el("span", { class: "field-error", role: "alert" }); holder.append(note); }
  if (note.textContent.split("\n").includes(message)) return;  // several runs, one problem
  note.textContent = note.textContent ? `${note.textContent}\n${message}` : message;
  const details = control.closest("details");
  if (details) details.open = true;
}

/* Page-level fields (the function, its data, the run's settings); returns the entries that no
 * control on the page names. */
export function markFieldErrors(fields) {
  const unplaced = [];
  for (const { field, message } of fields || []) {
    const controls = field ? controlsFor(field) : [];
    if (!controls.length) { unplaced.push({ field, message }); continue; }
    showBeside(controls[0], field ? `${field}: ${message}` : message);
    for (const control of controls.slice(1)) control.classList.add("invalid");
  }
  return unplaced;
}

export function clearFieldErrors(root = document) {
  for (const note of root.querySelectorAll(".field-error")) note.remove();
  for (const control of root.querySelectorAll("[data-spec].invalid")) control.classList.remove("invalid");
}
