// The live job list: one page of job summaries, kept current by the events stream; the
// detail (detail.js) fetches a job whole when its row is opened. A chain (a webhook and
// the scan and notify jobs it led to) is one row, its root's, that expands to the chain.
import { closeDetail, currentJobId, onChainEvent } from "./detail.js";
import { badge, el, fmtTime, followSse, getJson, jobHref, readSse, shortId, showMessage } from "./lib.js";

const $ = (id) => document.getElementById(id);
const IGNORED = " (ignored)"; // how an ignored event's summary ends (tasks/webhook.py)
const enc = encodeURIComponent;

const list = {
  filters: { status: "", type: "", q: "", maintenance: false }, // maintenance: show the platform's own runs
  rows: new Map(), // job id -> {job, tr, updatedAt, members}
  expanded: new Set(), // root ids whose chain is shown
  nextCursor: null,
  lastEventId: 0,
  stream: null, // AbortController of the events stream
  generation: 0, // bumped by each reload, so only the latest one starts a stream
  fetching: new Map(), // job id -> events that arrived while the job was being fetched
  outOfRange: new Set(), // jobs older than the last loaded page: "load more" brings them
};

function progressCell(job) {
  // A bar is for work under way: a finished job's 100 % said nothing its status does not.
  if (job.status !== "processing") return "";
  const { percent, message } = job.progress || {};
  if (percent == null) return el("progress", { max: 100 }); // running, no percent reported
  return el("span", { className: "progress", title: message || "" },
    el("progress", { max: 100, value: percent }), ` ${Math.round(percent)}%`);
}

// A chain's state, the most telling of its jobs' statuses: failed if any failed, ...
const CHAIN_ORDER = ["failed", "processing", "retrying", "pending", "cancelled", "completed"];
const chainStatus = (jobs) => CHAIN_ORDER.find((s) => jobs.some((j) => j.status === s)) || jobs[0].status;

/** The chain root's entry of a loaded member of that chain, or null. */
function rootOf(entry) {
  const root = entry.job.root_id !== entry.job.id && list.rows.get(entry.job.root_id);
  return root || null;
}

function jobCell(job, members, member) {
  const label = job.summary
    ? [el("span", { className: "summary" }, job.summary), " ", el("span", { className: "type" }, job.type)]
    : [el("span", { className: "summary" }, job.type)];
  if (member) return el("td", { className: "job-cell" }, el("span", { className: "branch", "aria-hidden": "true" }, "↳ "), label);
  if (!members.length) return el("td", { className: "job-cell" }, label);
  const open = list.expanded.has(job.id);
  const toggle = el("button", { type: "button", className: "chain-toggle", "aria-expanded": String(open),
    title: `${open ? "Hide" : "Show"} the ${members.length + 1} jobs of this chain`,
    onclick: (e) => { e.stopPropagation(); toggleChain(job.id); } },
  `${open ? "▾" : "▸"} ${members.length + 1}`);
  return el("td", { className: "job-cell" }, toggle, " ", label);
}

function fillRow(entry) {
  const { job, tr } = entry;
  const member = rootOf(entry) !== null;
  const members = member ? [] : entry.members || [];
  const state = chainStatus([job, ...members.map((m) => m.job)]);
  tr.dataset.status = job.status;
  tr.dataset.chainStatus = state;
  tr.classList.toggle("chain", members.length > 0);
  tr.classList.toggle("member", member);
  tr.classList.toggle("failed", state === "failed");
  tr.classList.toggle("selected", job.id === currentJobId());
  // A failure is marked by a sign and a word as well as by colour.
  const mark = state === "failed" ? el("span", { className: "fail-mark", title: members.length ? "a job of this chain failed" : "failed" }, "⚠ ") : null;
  // A webhook of an event with nothing to scan (Test, Grab, Health ...) is not real work.
  const ignored = job.type === "webhook" && state === "completed" && (job.summary || "").endsWith(IGNORED);
  tr.classList.toggle("ignored", ignored);
  tr.replaceChildren(
    el("td", {}, mark, ignored ? badge("ignored") : badge(state)),
    jobCell(job, members, member),
    el("td", { className: "mono col-id", title: job.id }, shortId(job.id)),
    el("td", { className: "num col-attempt" }, job.attempts),
    el("td", {}, progressCell(job)),
    el("td", { className: "time col-created" }, fmtTime(job.created_at)),
  );
}

function toggleChain(rootId) {
  if (list.expanded.has(rootId)) list.expanded.delete(rootId);
  else list.expanded.add(rootId);
  render();
}

/** Lay the rows out: top-level jobs newest first, each chain's jobs under its root. */
function render() {
  const members = new Map();
  const top = [];
  for (const entry of list.rows.values()) {
    const root = rootOf(entry);
    if (root) members.set(root.job.id, [...(members.get(root.job.id) || []), entry]);
    else top.push(entry);
  }
  top.sort((a, b) => (isNewer(a.job, b.job) ? -1 : 1));
  const order = [];
  for (const entry of top) {
    entry.members = (members.get(entry.job.id) || []).sort((a, b) => (isNewer(a.job, b.job) ? 1 : -1));
    fillRow(entry);
    order.push(entry.tr);
    const open = list.expanded.has(entry.job.id);
    const depth = new Map([[entry.job.id, 0]]);
    for (const m of entry.members) {
      depth.set(m.job.id, Math.min(3, (depth.get(m.job.parent_id) ?? 0) + 1));
      m.tr.dataset.depth = depth.get(m.job.id);
      m.tr.hidden = !open;
      fillRow(m);
      order.push(m.tr);
    }
  }
  $("job-rows").replaceChildren(...order);
  updateEmpty();
}

function newEntry(job) {
  const open = () => { location.hash = jobHref(job.id); };
  const tr = el("tr", { "data-job-id": job.id, "data-root-id": job.root_id, tabIndex: 0, onclick: open,
    onkeydown: (e) => e.key === "Enter" && open() });
  const entry = { job, tr, updatedAt: Date.parse(job.updated_at), members: [] };
  list.rows.set(job.id, entry);
  return entry;
}

// Newest first, as the API orders: created_at descending, then id descending.
function isNewer(a, b) {
  const diff = Date.parse(a.created_at) - Date.parse(b.created_at);
  return diff > 0 || (diff === 0 && a.id > b.id);
}

/** Put a live-discovered job at its place; false when it belongs to a page not loaded yet. */
function insertJob(job) {
  const inRange = [...list.rows.values()].some((entry) => isNewer(job, entry.job));
  if (!inRange && list.nextCursor && !list.rows.has(job.root_id)) return false;
  newEntry(job);
  render();
  return true;
}

function updateEmpty() {
  $("job-list-empty").hidden = list.rows.size > 0;
}

async function loadPage(more = false) {
  const params = new URLSearchParams({ limit: "50" });
  if (list.filters.status) params.set("status", list.filters.status);
  if (list.filters.type) params.set("type", list.filters.type);
  if (list.filters.q) params.set("q", list.filters.q);
  if (!list.filters.maintenance) params.set("maintenance", "0");
  if (more) params.set("cursor", list.nextCursor);
  const page = await getJson(`/api/v1/jobs?${params}`);
  if (!more) list.rows.clear();
  list.outOfRange.clear();
  for (const job of page.items) if (!list.rows.has(job.id)) newEntry(job);
  list.nextCursor = page.next_cursor;
  $("load-more").hidden = !list.nextCursor;
  render();
}

// Without Last-Event-ID the events stream replays every stored event ever, and the API has
// no "from now on". Any event id seen before the list is loaded is a safe start: the list
// already shows what happened up to it. The newest job's own stream gives one at once.
async function startingEventId() {
  const newest = (await getJson("/api/v1/jobs?limit=1")).items[0];
  if (!newest) return 0;
  const ctl = new AbortController();
  let id = 0;
  const onEvent = (ev) => { id = ev.id; ctl.abort(); };
  await readSse(`/api/v1/jobs/${enc(newest.id)}/stream`, { signal: ctl.signal, onEvent })
    .catch((err) => { if (!ctl.signal.aborted) throw err; });
  return id;
}

function setLive(state) {
  const node = $("live-state");
  node.dataset.state = state;
  node.textContent = { live: "● live", reconnecting: "reconnecting…", off: "" }[state] || state;
}

function follow() {
  list.stream = new AbortController();
  // Status is filtered here, not by the server: a stream filtered by status would never
  // tell that a shown job moved to another status.
  const params = new URLSearchParams();
  if (list.filters.type) params.set("type", list.filters.type);
  if (!list.filters.maintenance) params.set("maintenance", "0");
  followSse(`/api/v1/events?${params}`, { lastId: list.lastEventId, signal: list.stream.signal,
    onState: setLive, onEvent: onListEvent, forever: true });
}

function onListEvent({ id, event, data: ev }) {
  list.lastEventId = id;
  // The server replays a bounded number of events: a page further behind reloads its list.
  if (event === "stream.skipped") { loadPage().catch(() => {}); return; }
  const entry = list.rows.get(ev.job_id);
  if (entry) applyEvent(entry, ev);
  else if (list.fetching.has(ev.job_id)) list.fetching.get(ev.job_id).push(ev);
  else if (!list.outOfRange.has(ev.job_id)
           && (!list.filters.status || ev.status === list.filters.status)) addJob(ev.job_id, ev);
  onChainEvent(ev);
}

function applyEvent(entry, ev) {
  const at = Date.parse(ev.created_at);
  if (at < entry.updatedAt) return; // replayed, older than what the row already shows
  entry.updatedAt = at;
  const job = entry.job;
  job.status = ev.status;
  job.attempts = ev.attempt;
  if (ev.event === "job.progress") job.progress = { percent: ev.data.percent, message: ev.data.message };
  else if (ev.event === "job.started") job.progress = { percent: null, message: null };
  else if (ev.event === "job.completed") job.progress = { ...job.progress, percent: 100 };
  if (ev.data && "summary" in ev.data) job.summary = ev.data.summary; // the handler said more
  fillRow(entry);
  const root = rootOf(entry);
  if (root) fillRow(root); // the chain's state may change with it
}

// A row keeps what the list endpoint gives (no payload, result, checkpoint or traceback):
// a job fetched whole must not hold megabytes for as long as the page stays open.
function summary({ payload, result, checkpoint, children, ...job }) {
  return { ...job, error: job.error && { type: job.error.type, message: job.error.message } };
}

async function addJob(id, firstEvent) {
  list.fetching.set(id, [firstEvent]);
  try {
    const job = summary(await getJson(`/api/v1/jobs/${enc(id)}`));
    const q = list.filters.q.toLowerCase();
    const wanted = (!list.filters.status || job.status === list.filters.status)
      && (!list.filters.type || job.type === list.filters.type)
      && (!q || (job.summary || "").toLowerCase().includes(q));
    if (list.rows.has(id) || !wanted) return;
    if (!insertJob(job)) {
      list.outOfRange.add(id);
      return;
    }
    for (const ev of list.fetching.get(id)) applyEvent(list.rows.get(id), ev);
  } catch {
    // Gone or unreadable: nothing to show; a later event tries again.
  } finally {
    list.fetching.delete(id);
  }
}

async function reload() {
  const generation = ++list.generation;
  list.stream?.abort();
  list.filters = { status: $("filter-status").value, type: $("filter-type").value.trim(),
    q: $("filter-q").value.trim(), maintenance: $("filter-maintenance").checked };
  showMessage("list-error", "");
  try {
    if (!list.lastEventId) list.lastEventId = await startingEventId();
    await loadPage();
  } catch (err) {
    showMessage("list-error", err.message);
    if (err.status === 401) return;
  }
  if (generation === list.generation) follow();
}

export function initJobs() {
  $("filter-status").addEventListener("change", reload);
  $("filter-type").addEventListener("change", reload);
  $("filter-q").addEventListener("change", reload);
  $("filter-maintenance").addEventListener("change", reload);
  $("job-filters").addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  $("load-more").addEventListener("click", () => loadPage(true).catch((e) => showMessage("list-error", e.message)));
}

export const startJobs = reload;

export function stopJobs() {
  list.generation++; // a reload still in flight must not start a stream
  list.stream?.abort();
  closeDetail();
  list.rows.clear();
  list.expanded.clear();
  list.lastEventId = 0;
  $("job-rows").replaceChildren();
  setLive("off");
}
