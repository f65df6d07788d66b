// Talking to the batchdial API: the key, JSON requests, and the live event stream.
// The key lives in sessionStorage only and travels in the `api_key` header; the event
// stream is read with fetch() (EventSource cannot send headers) and resumes after the
// last event id it saw whenever the connection drops.

const KEY = "batchdial.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An error answer of the API: `{error: {code, message, details}}` and its status. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || "error";
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

let onUnauthorized = () => {};

/** What to do when the key is refused (401): sign out and ask again. */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** fetch() with the key, without cookies or cache; a network failure is ApiError 0. */
async function send(path, headers, init = {}, key = apiKey()) {
  if (key) headers["api_key"] = key;
  try {
    return await fetch(path, { ...init, headers, cache: "no-store", credentials: "omit" });
  } catch (err) {
    throw new ApiError(0, { error: { code: "offline", message: "the server cannot be reached" } });
  }
}

/** The ApiError of a refused answer (its parsed body, or null); a 401 signs out. */
function refused(response, parsed) {
  const error = new ApiError(response.status, parsed);
  if (response.status === 401) onUnauthorized(error);
  return error;
}

/** A request to the API with the key (a JSON `body`, or a FormData `form` sent as
 * multipart); resolves to the parsed body, or throws ApiError. */
export async function api(path, { method = "GET", body, form, key = apiKey() } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method };
  if (form !== undefined) {
    init.body = form; // the browser sets the multipart Content-Type with its boundary
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await send(path, headers, init, key);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (err) {
    parsed = null;
  }
  if (!response.ok) throw refused(response, parsed);
  return parsed;
}

/** Download what `path` answers (asked for as `accept`) as the file `filename`: fetched
 * with the key (a plain link cannot send the header), then handed to the browser. */
export async function download(path, accept, filename, key = apiKey()) {
  const response = await send(path, { Accept: accept }, {}, key);
  if (!response.ok) throw refused(response, await response.json().catch(() => null));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export const jobsPath = (id = "") =>
  "/api/batch_dial_jobs" + (id ? "/" + encodeURIComponent(id) : "");

/** `a` after `b` in a Redis stream's order ("<ms>-<seq>"). */
export function idAfter(a, b) {
  if (!b) return true;
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am > bm || (am === bm && as > bs);
}

/** Split an SSE body into messages; returns the rest that is not a whole message yet. */
export function parseSse(buffer, onMessage) {
  const blocks = buffer.split(/\r\n\r\n|\n\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    const message = { id: null, data: [], retry: null };
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "id") message.id = value;
      else if (field === "data") message.data.push(value);
      else if (field === "retry" && /^\d+$/.test(value)) message.retry = Number(value);
    }
    onMessage(message);
  }
  return rest;
}

/**
 * Follow a job's events live. Calls `onEvent(event)` for each event after `from`
 * (an event id, or null for the whole log), `onState("live" | "reconnecting" |
 * "stopped")` as the connection changes. Stops when `signal` aborts.
 */
export async function followEvents(jobId, { from = null, onEvent, onState, signal }) {
  let last = from;
  let retryMs = 2000;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const headers = { Accept: "text/event-stream", api_key: apiKey() || "" };
      if (last) headers["Last-Event-ID"] = last;
      const response = await fetch(jobsPath(jobId) + "/events/stream", {
        headers, signal, cache: "no-store", credentials: "omit",
      });
      if (response.status === 401) {
        onUnauthorized(new ApiError(401, null));
        onState("stopped");
        return;
      }
      if (response.status === 404) {
        onState("stopped");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      onState("live");
      failures = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseSse(buffer + value, (message) => {
          if (message.retry !== null) retryMs = message.retry;
          if (!message.data.length || !message.id) return;
          if (!idAfter(message.id, last)) return; // already seen (replayed on resume)
          last = message.id;
          onEvent(JSON.parse(message.data.join("\n")));
        });
      }
    } catch (err) {
      if (signal.aborted) break;
    }
    if (signal.aborted) break;
    onState("reconnecting");
    failures += 1;
    const wait = Math.min(retryMs * 2 ** Math.min(failures - 1, 3), 15000);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, wait);
      signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
  onState("stopped");
}
