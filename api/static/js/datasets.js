/* Uploading a data set (docs/spec.md §9.2): the chosen CSV file goes as it is to
 * POST /v1/datasets (text/csv, `?target=` the label column, default the last one). `api()` sends
 * JSON only, so this call is made here, with the same key header and error shape. */
import { ApiError, apiKey } from "./api.js";

export async function uploadCsv(text, target) {
  const headers = { Accept: "application/json", "Content-Type": "text/csv" };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const query = target ? `?target=${encodeURIComponent(target)}` : "";
  let response;
  try {
    response = await fetch(`/v1/datasets${query}`, { method: "POST", headers, body: text });
  } catch (err) {
    throw new ApiError(0, `cannot reach the service (${err.message})`);
  }
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (response.ok) return body;
  // 422: one entry per problem, `loc` naming `file` (the upload), `target` or a row and column.
  const detail = body && body.detail;
  const fields = Array.isArray(detail)
    ? detail.map((item) => ({ field: (item.loc || []).filter((part) => part !== "body" && part !== "query").join("."), message: item.msg }))
    : [];
  const message = fields.length ? fields.map((f) => f.message).join("\n")
    : typeof detail === "string" ? detail : `HTTP ${response.status}`;
  throw new ApiError(response.status, message, fields);
}
