/* API calls: JSON requests, readable errors, the API key, and server-sent events over fetch.
 *
 * The key (docs/spec.md §9.3) is kept in sessionStorage, so it lasts for the tab's session and
 * is never part of the URL or a shared link; every call sends it as `Authorization: Bearer`.
 * EventSource cannot send that header, so job events are read with fetch() and parsed here. */

const KEY_STORAGE = "descent.apiKey";
const authListeners = [];

export function apiKey() {
  try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch (err) { return ""; }
}

export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch (err) { /* storage disabled: the key is not kept */ }
}

/* `listener(outcome, key)` hears how the service took a key: "missing" (401 without a key),
 * "refused" (401 with one) or "accepted" (a /v1 call with a key answered). */
export function onAuth(listener) { authListeners.push(listener); }

function reportAuth(status, key) {
  let outcome = null;
  if (status === 401) outcome = key ? "refused" : "missing";
  else if (key && status > 0 && status !== 403) outcome = "accepted";
  if (outcome) for (const listener of authListeners) listener(outcome, key);
}

export const AUTH_MESSAGES = {
  missing: "This server needs an API key: enter it in the API key field at the top.",
  refused: "The API key was refused: check the key in the API key field at the top.",
};

export class ApiError extends Error {
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

function headersWithKey(headers, key) {
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function errorOf(response, key) {
  if (response.status === 401) return new ApiError(401, AUTH_MESSAGES[key ? "refused" : "missing"]);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (err) { body = { detail: text }; }
  const { message, fields } = describeErrorBody(response.status, body);
  return new ApiError(response.status, message, fields);
}

/* A JSON call; the answer's body (null when empty, as for a 204), or an ApiError. */
export async function api(path, options = {}) {
  const key = apiKey();
  const init = {
    method: options.method || (options.body === undefined ? "GET" : "POST"),
    headers: headersWithKey({ Accept: "application/json" }, key),
  };
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
  reportAuth(response.status, key);
  if (!response.ok) throw await errorOf(response, key);
  const text = await response.text();
  try { return text ? JSON.parse(text) : null; } catch (err) { return { detail: text }; }
}

export function listOf(body, key) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body[key])) return body[key];
  if (body && Array.isArray(body.items)) return body.items;
  if (body && typeof body === "object") {
    return Object.entries(body).map(([name, value]) => Object.assign({ name }, value));
  }
  return [];
}

/* Server-sent events from `path`, read with fetch() so that the key goes in a header.
 * `onEvent(type, data)` gets each event (`data` is the raw text); `onEnd(error)` is called
 * once when the stream ends by itself (error null) or fails (an ApiError or a network error),
 * never after `close()`. Returns {close}. */
export function eventStream(path, onEvent, onEnd) {
  const controller = new AbortController();
  let closed = false;
  const stream = { close() { if (!closed) { closed = true; controller.abort(); } } };
  const dispatch = (block) => {
    let type = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = value || "message";
      else if (field === "data") data.push(value);
    }
    if (data.length && !closed) onEvent(type, data.join("\n"));
  };
  (async () => {
    const key = apiKey();
    let failure = null;
    try {
      const response = await fetch(path, {
        headers: headersWithKey({ Accept: "text/event-stream" }, key), cache: "no-store", signal: controller.signal,
      });
      reportAuth(response.status, key);
      if (!response.ok) throw await errorOf(response, key);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (err) {
      failure = err;
    }
    if (closed) return;
    closed = true;
    onEnd(failure);
  })();
  return stream;
}
