/* The API key field (docs/spec.md §9.3). A server with DESCENT_API_KEYS answers 401 to any /v1
 * call without a valid key; the page then says so beside the field. The key is kept in
 * sessionStorage for the tab's session (api.js), never in the URL or a shared link. */
import { apiKey, onAuth, setApiKey } from "./api.js";
import { $ } from "./dom.js";

const MESSAGES = {
  missing: "This server needs an API key.",
  refused: "The API key was refused.",
};
let pending = false;   // a key was just applied and the service has not answered yet
let applying = false;  // the catalogue is being read again after a key was applied

function setKeyStatus(text, kind) {
  const status = $("#api-key-status");
  status.textContent = text;
  status.className = `key-status ${kind || ""}`.trim();
  status.hidden = !text;
  $("#api-key").classList.toggle("invalid", kind === "error");
}

/* `reload()` runs after a new key is applied (the catalogue and the surface are read again). */
export function bindKeyField(reload) {
  const input = $("#api-key");
  input.value = apiKey();
  onAuth((outcome, key) => {
    if (key !== apiKey()) return;  // an answer to a key that has been replaced since
    if (outcome === "accepted") {
      if (pending || $("#api-key-status").classList.contains("error")) setKeyStatus("✓ key accepted", "ok");
    } else {
      setKeyStatus(MESSAGES[outcome], "error");
    }
    pending = false;
  });
  const apply = () => {
    const key = input.value.trim();
    if (applying && key === apiKey()) return;  // Enter fires both change and submit
    setApiKey(key);
    pending = !!key;
    applying = true;
    setKeyStatus(key ? "checking the key…" : "", "");
    Promise.resolve(reload()).finally(() => { applying = false; });
  };
  input.addEventListener("change", apply);
  $("#api-key-form").addEventListener("submit", (event) => { event.preventDefault(); apply(); });
}
