/* DOM helpers and number formatting shared by the page's modules. */

export const $ = (selector) => document.querySelector(selector);

export function el(tag, attrs = {}, ...children) {
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

export function showError(message) {
  const banner = $("#error-banner");
  banner.textContent = message;
  banner.hidden = !message;
}

export function setRunStatus(text) { $("#run-status").textContent = text; }

export function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) return value.toExponential(digits - 1);
  return String(Number(value.toPrecision(digits)));
}

export function fmtPoint(point) {
  return point ? "(" + point.map((v) => fmt(v, 3)).join(", ") + ")" : "—";
}

export function numberOrNull(text) {
  if (text === "" || text === null || text === undefined) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}
