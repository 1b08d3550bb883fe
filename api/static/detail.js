// The job detail: fields, error, chain tree and event log, followed live; Retry and Cancel.
import { api, badge, el, fmtTime, followSse, getJson, jobHref, pretty, shortId, showMessage } from "./lib.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const FINAL = new Set(["completed", "failed", "cancelled"]);
// A payload or result longer than this (as shown) starts collapsed.
const LARGE_CHARS = 2000;
const detail = { id: null, job: null, stream: null, streaming: false, lastId: 0, timers: {} };

export const currentJobId = () => detail.id;

function markSelected() {
  for (const tr of $("job-rows").children) tr.classList.toggle("selected", tr.dataset.jobId === detail.id);
}

/** An event from the list's stream: a detail whose stream has ended (e.g. the job was
 * retried elsewhere) starts following again when its chain moves. */
export function onChainEvent(ev) {
  if (detail.job && ev.root_id === detail.job.root_id && !detail.streaming && !FINAL.has(ev.status)) {
    followDetail();
  }
}

export function initDetail() {
  $("retry-button").addEventListener("click", () => jobAction("retry"));
  $("cancel-button").addEventListener("click", () => {
    const job = detail.job;
    const what = job ? `${job.type} job${job.summary ? ` (${job.summary})` : ""}` : "job";
    if (window.confirm(`Cancel this ${what}?`)) jobAction("cancel");
  });
}

export async function showDetail(id) {
  if (detail.id === id) return;
  closeDetail();
  Object.assign(detail, { id, job: null, lastId: 0 });
  $("job-detail").hidden = false;
  $("jobs-view").classList.add("detail-open"); // on a phone the detail replaces the list
  for (const name of ["payload", "result"]) delete $(`detail-${name}-box`).dataset.large;
  $("detail-events").replaceChildren();
  $("detail-chain").replaceChildren();
  markSelected();
  await refreshDetail();
  if (detail.id !== id || !detail.job) return;
  loadTree();
  followDetail();
}

export function closeDetail() {
  detail.stream?.abort();
  Object.values(detail.timers).forEach(clearTimeout);
  Object.assign(detail, { id: null, job: null, stream: null, streaming: false });
  $("job-detail").hidden = true;
  $("jobs-view").classList.remove("detail-open");
  markSelected();
}

async function refreshDetail() {
  const id = detail.id;
  try {
    const job = await getJson(`/api/v1/jobs/${enc(id)}`);
    if (detail.id !== id) return;
    detail.job = job;
    renderDetail(job);
  } catch (err) {
    if (detail.id === id) showMessage("action-error", err.message);
  }
}

function renderDetail(job) {
  $("detail-type").textContent = job.type;
  $("detail-summary").textContent = job.summary || "";
  $("detail-summary").hidden = !job.summary;
  $("detail-status").replaceChildren(badge(job.status));
  $("job-detail").dataset.jobId = job.id;
  $("job-detail").dataset.status = job.status;
  $("detail-id").textContent = job.id;
  $("retry-button").hidden = !["failed", "cancelled"].includes(job.status);
  $("cancel-button").hidden = !["pending", "retrying", "processing"].includes(job.status);
  renderProgress(job.progress || {});
  // No bar for a job that never reported progress and is not running.
  $("detail-progress-line").hidden = job.progress?.percent == null && job.status !== "processing";
  const link = (id) => (id ? el("a", { href: jobHref(id), className: "mono" }, shortId(id)) : "—");
  const fields = [
    ["Priority / queue", `${job.priority} / ${job.queue}`],
    ["Attempts", job.attempts],
    ["Retries", `${job.retry_count} of ${job.max_retries}`],
    ["Worker", job.worker || "—"],
    ["Created", fmtTime(job.created_at)],
    ["Started", fmtTime(job.started_at)],
    ["Completed", fmtTime(job.completed_at)],
    ["Next retry", fmtTime(job.next_retry_at)],
    ["Parent", link(job.parent_id)],
    ["Root", link(job.root_id)],
    ["Dedupe key", job.dedupe_key || "—"],
  ];
  $("detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("detail-error-box").hidden = !job.error;
  $("detail-error").textContent = job.error ? `${job.error.type}: ${job.error.message}` : "";
  $("detail-traceback").textContent = job.error?.traceback || "";
  // Until the job completes, its checkpoint has the groups told and those that failed.
  const kept = job.checkpoint || {};
  renderPlayers(job.result?.groups ?? [...Object.values(kept.notified || {}), ...(kept.failed || [])]);
  showJson("payload", pretty(job.payload));
  showJson("result", job.result === null ? "—" : pretty(job.result));
}

/** A notify-players result, per player group: who took the change and whether it was
 * seen in that player's library (in words, not colour alone), and who gave way. */
function renderPlayers(groups) {
  const items = [];
  for (const group of Array.isArray(groups) ? groups : []) {
    for (const fallback of group.fallbacks || []) {
      items.push(el("li", { className: "player-failed" }, `${group.group} · ${fallback.player}: ✗ ${fallback.error}`));
    }
    if (group.status !== "notified" && group.status !== "already-notified") {
      for (const attempt of group.attempts || []) {
        items.push(el("li", { className: "player-failed" }, `${group.group} · ${attempt.player}: ✗ ${attempt.error}`));
      }
      if (!group.attempts?.length) items.push(el("li", {}, `${group.group}: ${group.status}`));
      continue;
    }
    const mark = group.verified ? "✔ verified" : "not verified";
    const how = group.verification ? ` — ${group.verification}` : "";
    const label = `${group.group} · ${group.player}: ${mark}${how}`;
    items.push(el("li", { className: group.verified ? "player-verified" : "player-unverified" }, label));
  }
  $("detail-players").replaceChildren(...items);
  $("detail-players-box").hidden = items.length === 0;
}

/** Show a payload or result, collapsed when large; a box the user opened stays open. */
function showJson(name, text) {
  const box = $(`detail-${name}-box`);
  const large = text.length > LARGE_CHARS;
  $(`detail-${name}`).textContent = text;
  $(`detail-${name}-size`).textContent = large ? `(${Math.round(text.length / 1024)} KB)` : "";
  if (box.dataset.large !== String(large)) box.open = !large; // only when it becomes large or small
  box.dataset.large = String(large);
}

function renderProgress({ percent, message }) {
  const bar = $("detail-progress");
  if (percent == null) bar.removeAttribute("value");
  else bar.value = percent;
  const text = percent == null ? "" : `${Math.round(percent)}%`;
  $("detail-progress-text").textContent = [text, message].filter(Boolean).join(" — ");
}

/** Follow the chain's events: this job's go to the log, any of them refreshes the tree. */
async function followDetail() {
  const id = detail.id;
  const ctl = new AbortController();
  detail.stream?.abort();
  Object.assign(detail, { stream: ctl, streaming: true });
  // The server ends this stream once every job of the chain is final.
  await followSse(`/api/v1/jobs/${enc(id)}/stream?chain=1`, { lastId: detail.lastId,
    signal: ctl.signal, onEvent: (ev) => onDetailEvent(id, ev) });
  if (detail.stream === ctl) detail.streaming = false;
}

// Many events arrive at once on replay: refresh each view once, shortly after the last.
function later(name, fn, ms) {
  clearTimeout(detail.timers[name]);
  detail.timers[name] = setTimeout(fn, ms);
}

function onDetailEvent(id, { id: eventId, event, data: ev }) {
  if (detail.id !== id) return;
  detail.lastId = eventId;
  later("tree", loadTree, 300);
  if (event === "stream.skipped") later("job", refreshDetail, 200); // older events not sent
  if (ev.job_id !== id) return;
  appendLog(ev);
  if (ev.event === "job.progress") renderProgress(ev.data);
  later("job", refreshDetail, 200);
}

function appendLog(ev) {
  const data = ev.data && Object.keys(ev.data).length ? JSON.stringify(ev.data) : "";
  $("detail-events").append(el("li", { "data-event-id": ev.id, "data-event": ev.event },
    el("time", {}, fmtTime(ev.created_at)), " ", el("strong", {}, ev.event),
    el("span", { className: "muted" }, ` ${ev.status}, attempt ${ev.attempt}`),
    data ? el("code", {}, data) : null));
}

async function loadTree() {
  const id = detail.id;
  const root = detail.job?.root_id;
  if (!root) return;
  try {
    const page = await getJson(`/api/v1/jobs?root_id=${enc(root)}&limit=500`);
    if (detail.id !== id) return;
    const jobs = page.items.slice().reverse(); // oldest first
    const ids = new Set(jobs.map((j) => j.id));
    const children = new Map();
    for (const job of jobs) {
      const parent = ids.has(job.parent_id) ? job.parent_id : null; // top: root or orphan
      children.set(parent, [...(children.get(parent) || []), job]);
    }
    const branch = (nodes) => el("ul", { className: "tree" }, nodes.map((job) =>
      el("li", { "data-tree-job-id": job.id, "data-status": job.status },
        el("a", { href: jobHref(job.id), className: job.id === id ? "current" : "" },
          badge(job.status), " ", job.type, " ",
          job.summary ? el("span", { className: "summary" }, job.summary, " ") : null,
          el("span", { className: "mono muted" }, shortId(job.id))),
        children.has(job.id) ? branch(children.get(job.id)) : null)));
    $("detail-chain").replaceChildren(branch(children.get(null) || []),
      page.next_cursor ? el("p", { className: "muted" }, "Only the newest 500 jobs are shown.") : "");
  } catch (err) {
    $("detail-chain").replaceChildren(el("p", { className: "error" }, err.message));
  }
}

async function jobAction(kind) {
  const id = detail.id;
  const button = $(`${kind}-button`);
  showMessage("action-error", "");
  button.disabled = true;
  try {
    const { data } = await api(`/api/v1/jobs/${enc(id)}/${kind}`, { method: "POST" });
    if (detail.id !== id) return;
    detail.job = data;
    renderDetail(data);
    if (!detail.streaming) followDetail();
  } catch (err) {
    showMessage("action-error", err.message); // the problem's detail, e.g. "job … is completed: …"
  } finally {
    button.disabled = false;
  }
}
