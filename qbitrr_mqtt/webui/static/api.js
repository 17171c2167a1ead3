// Talking to the API: relative URLs only (so the page works behind Home Assistant ingress),
// the token from localStorage on every call, and SSE read with fetch so the token travels in
// a header rather than in the URL.
const TOKEN_KEY = "qbitrr-mqtt.token";

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) || "",
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "error";
    this.problems = err.problems || [];
  }
}

/** Called when the API says the token is missing or wrong (set by app.js). */
export let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

function headers(extra = {}) {
  return { "X-API-Token": token.get(), ...extra };
}

/** GET/POST/PUT `api/v1/<path>`; resolves to {status, data}, throws ApiError on 4xx/5xx. */
export async function api(path, { method = "GET", body, query } = {}) {
  const qs = query ? "?" + new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null)) : "";
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(`api/v1/${path}${qs}`, init);
  const data = await response.json().catch(() => null);
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

/** Follow an SSE route; calls onEvent(name, data) per event until `signal` aborts. */
export async function stream(path, onEvent, signal, onOpen = () => {}) {
  const response = await fetch(`api/v1/${path}`, { headers: headers({ Accept: "text/event-stream" }), signal });
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}
