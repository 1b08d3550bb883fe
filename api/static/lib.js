// Shared helpers: the API key, JSON calls, an SSE reader over fetch(), DOM building.

const KEY_NAME = "orchestrator.apiKey";
let onUnauthorized = () => {};

export const getKey = () => sessionStorage.getItem(KEY_NAME);
export const setKey = (key) => sessionStorage.setItem(KEY_NAME, key);
export const clearKey = () => sessionStorage.removeItem(KEY_NAME);
export const setUnauthorizedHandler = (handler) => { onUnauthorized = handler; };

/** An error answer of the API, carrying its problem+json body. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

function headers(extra) {
  return { "X-Api-Key": getKey() || "", ...extra };
}

/** Call the API with JSON in and out; a 401 signs out, other errors throw ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, cache: "no-store", headers: headers({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, response };
}

export const getJson = async (path) => (await api(path)).data;

/**
 * Read a Server-Sent Events stream with fetch(): EventSource cannot send the key header.
 * Calls onOpen() once connected and onEvent({id, event, data}) per event (data parsed as
 * JSON); resolves when the server ends the stream, rejects on a network or HTTP error.
 * `lastId` becomes the Last-Event-ID header.
 */
export async function readSse(path, { lastId, signal, onOpen, onEvent }) {
  const extra = { Accept: "text/event-stream" };
  if (lastId) extra["Last-Event-ID"] = String(lastId);
  const response = await fetch(path, { headers: headers(extra), signal, cache: "no-store" });
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  if (onOpen) onOpen();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: null, event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // A trailing "\r" may be half of a "\r\n" split across chunks: keep it for the next one.
    const cut = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
    buffer = lines.pop() + buffer.slice(cut); // an incomplete last line waits too
    for (const line of lines) {
      if (line === "") {
        // A blank line ends an event; one without data (e.g. "retry:") is not dispatched.
        if (event.data.length) onEvent({ ...event, data: JSON.parse(event.data.join("\n")) });
        event = { id: null, event: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") event.id = Number(text);
      else if (field === "event") event.event = text;
      else if (field === "data") event.data.push(text);
    }
  }
}

/**
 * Follow an SSE stream: reconnect after an error from the last id seen, until aborted or
 * (unless `forever`) until the server ends it. onState("live" | "reconnecting") reports it.
 */
export async function followSse(path, { lastId, signal, onEvent, onState, forever = false }) {
  while (!signal.aborted) {
    try {
      await readSse(path, { lastId, signal, onOpen: () => onState?.("live"),
        onEvent: (ev) => { lastId = ev.id ?? lastId; onEvent(ev); } });
      if (!forever) return;
    } catch (err) {
      if (signal.aborted || err.status === 401 || err.status === 404) return;
    }
    onState?.("reconnecting");
    await sleep(2000); // the server's "retry:" advice
  }
}

/** Show `message` in the element `id`, or hide it when empty. */
export function showMessage(id, message) {
  const node = document.getElementById(id);
  node.textContent = message || "";
  node.hidden = !message;
}

/** Build an element: attrs are properties ("className") or "data-*"/"aria-*" attributes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("data-") || name.startsWith("aria-") || name === "for") {
      node.setAttribute(name, value === true ? "" : String(value));
    } else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node[name] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A local "YYYY-MM-DD HH:MM:SS" (Swedish dates are ISO-like) for an ISO time, or "—". */
export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString("sv-SE") : "—");

export const badge = (status) => el("span", { className: "badge", "data-status": status }, status);
export const shortId = (id) => id.slice(0, 8);
export const jobHref = (id) => `#job=${encodeURIComponent(id)}`;
export const pretty = (value) => JSON.stringify(value, null, 2);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
