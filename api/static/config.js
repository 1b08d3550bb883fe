// Configuration: libraries, manager path mappings, player groups and players.
import { api, el, getJson } from "./lib.js";

// How a field's value becomes text (table cell, form input) and back. A `read` giving
// undefined leaves the field out of the request.
const CODECS = {
  text: { show: (v) => v ?? "", read: (s) => s },
  number: { show: (v) => v ?? "", read: (s) => (s === "" ? undefined : Number(s)) },
  ids: { show: (v) => v.join(", "), read: (s) => s.split(/[\s,]+/).filter(Boolean).map(Number) },
  lines: { show: (v) => v.join("\n"), read: (s) => s.split("\n").map((l) => l.trim()).filter(Boolean) },
  mappings: {
    show: (v) => v.map((m) => `${m.from} => ${m.to}`).join("\n"),
    read: (s) => s.split("\n").filter((l) => l.trim()).map((line) => {
      const [from, to = ""] = line.split("=>").map((part) => part.trim());
      return { from, to };
    }),
  },
};

// Field types: text (default), number, ids ("1, 2"), lines (one item per line),
// mappings ("from => to" per line), checkbox (ticked on a new row unless `checked: false`),
// secret (write-only: the API only says whether it is set; empty keeps it).
const RESOURCES = [
  { name: "libraries", title: "Libraries", noun: "library",
    fields: [{ key: "name" }, { key: "path", hint: "/data/movies" },
      { key: "kind", options: ["movies", "tv"] }, { key: "anchors", type: "lines", hint: ".anchor" },
      { key: "follow_links", type: "checkbox", checked: false }],
    action: { label: "Scan", path: "scan", done: (r) => `scan queued as job ${r.job_id}` } },
  { name: "path-mappings", title: "Manager path mappings", noun: "path mapping",
    fields: [{ key: "source", hint: "radarr" }, { key: "from", hint: "/movies" },
      { key: "to", hint: "/data/movies" }] },
  { name: "player-groups", title: "Player groups", noun: "player group",
    fields: [{ key: "name" }, { key: "library_ids", type: "ids", hint: "1, 2" },
      { key: "path_mappings", type: "mappings", hint: "/data/movies => smb://nas/movies" }] },
  { name: "players", title: "Players", noun: "player",
    fields: [{ key: "name" }, { key: "type", options: ["kodi", "jellyfin", "emby", "plex"] },
      { key: "url", hint: "http://kodi.local:8080" }, { key: "group_id", type: "number" },
      { key: "position", type: "number" }, { key: "enabled", type: "checkbox" },
      { key: "username", optional: true }, { key: "password", type: "secret", isSet: "has_password" },
      { key: "token", type: "secret", isSet: "has_token" }],
    action: { label: "Test", path: "test", done: (r) => (r.ok ? "reachable" : `${r.status}: ${r.error}`) } },
];

const views = new Map(); // resource name -> {spec, section, form, rows, editing}
const codec = (field) => CODECS[field.type] || CODECS.text;
const label = (field) => field.key.replace(/_/g, " ");

function cellText(field, row) {
  if (field.type === "secret") return row[field.isSet] ? "set" : "—";
  if (field.type === "checkbox") return row[field.key] ? "yes" : "no";
  return String(codec(field).show(row[field.key])) || "—";
}

function input(field, id) {
  const common = { name: field.key, id, placeholder: field.hint || "" };
  if (field.options) return el("select", common, field.options.map((o) => el("option", { value: o }, o)));
  if (field.type === "mappings" || field.type === "lines") return el("textarea", { ...common, rows: 2 });
  const type = { number: "number", checkbox: "checkbox", secret: "password" }[field.type] || "text";
  return el("input", { ...common, type, autocomplete: type === "password" ? "new-password" : "off" });
}

function buildSection(spec) {
  const fieldBox = (f) => el("div", { className: "field" },
    el("label", { for: `${spec.name}-${f.key}` }, label(f)), input(f, `${spec.name}-${f.key}`),
    el("span", { className: "field-error", "data-error-for": f.key, hidden: true }));
  const form = el("form", { className: "config-form", noValidate: true },
    el("h3", { "data-form-title": true }),
    el("div", { className: "form-grid" }, spec.fields.map(fieldBox)),
    el("p", { className: "error", "data-form-error": true, hidden: true }),
    el("div", { className: "buttons" }, el("button", { type: "submit", "data-submit": true }),
      el("button", { type: "button", "data-cancel-edit": true, hidden: true }, "Cancel edit")));
  const head = el("tr", {}, el("th", {}, "id"), spec.fields.map((f) => el("th", {}, label(f))), el("th"));
  const rows = el("tbody", { "data-rows": true });
  const section = el("section", { id: `config-${spec.name}`, className: "resource", "data-resource": spec.name },
    el("h2", {}, spec.title),
    el("div", { className: "table-wrap" }, el("table", {}, el("thead", {}, head), rows)),
    el("p", { className: "muted", "data-empty": true }, "None yet."),
    el("p", { className: "notice", "data-notice": true, hidden: true }), form);
  const view = { spec, section, form, rows, editing: null };
  form.addEventListener("submit", (e) => { e.preventDefault(); save(view); });
  form.querySelector("[data-cancel-edit]").addEventListener("click", () => edit(view, null));
  edit(view, null);
  return view;
}

function renderRows(view, items) {
  const { spec } = view;
  const button = (text, onclick, attrs = {}) => el("button", { type: "button", onclick, ...attrs }, text);
  view.section.querySelector("[data-empty]").hidden = items.length > 0;
  view.rows.replaceChildren(...items.map((row) => el("tr", { "data-resource-id": row.id },
    el("td", { className: "num" }, row.id),
    spec.fields.map((f) => el("td", { className: ["mappings", "lines"].includes(f.type) ? "pre" : "" }, cellText(f, row))),
    el("td", { className: "actions" },
      spec.action && button(spec.action.label, () => runAction(view, row), { "data-action": spec.action.path }),
      button("Edit", () => edit(view, row)),
      button("Delete", () => remove(view, row), { className: "danger" })))));
}

async function load(view) {
  try {
    renderRows(view, (await getJson(`/api/v1/${view.spec.name}?limit=500`)).items);
  } catch (err) {
    notice(view, err.message, true);
  }
}

function notice(view, message, isError = false) {
  const node = view.section.querySelector("[data-notice]");
  node.textContent = message;
  node.classList.toggle("error", isError);
  node.hidden = !message;
}

/** Switch the form to editing `row`, or to adding a new one when row is null. */
function edit(view, row) {
  const { form, spec } = view;
  view.editing = row;
  form.reset();
  clearErrors(form);
  form.dataset.mode = row ? "edit" : "create";
  form.querySelector("[data-form-title]").textContent = row ? `Edit ${spec.noun} ${row.id}` : `Add a ${spec.noun}`;
  form.querySelector("[data-submit]").textContent = row ? "Save changes" : `Add ${spec.noun}`;
  form.querySelector("[data-cancel-edit]").hidden = !row;
  for (const field of spec.fields) {
    const box = form.elements[field.key];
    if (field.type === "checkbox") box.checked = row ? row[field.key] : field.checked ?? true;
    else if (field.type === "secret") box.placeholder = row?.[field.isSet] ? "set: empty keeps it" : "";
    else if (row) box.value = codec(field).show(row[field.key]);
  }
  if (row) form.scrollIntoView({ block: "nearest" });
}

function readField(field, box, editing) {
  if (field.type === "checkbox") return box.checked;
  if (field.type === "secret") return box.value === "" ? undefined : box.value;
  const text = box.value.trim();
  // Emptying an optional field while editing sends null: the API clears it.
  if (text === "" && field.optional) return editing ? null : undefined;
  return codec(field).read(text);
}

function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-error-for], [data-form-error]")) {
    node.textContent = "";
    node.hidden = true;
  }
}

/** Show a problem: its detail under the form, each errors[].field next to its input. */
function showProblem(form, err) {
  const fieldErrors = (err.problem.errors || []).map((e) => [e.field, e.message]);
  if (err.problem.field) fieldErrors.push([err.problem.field, err.message]);
  for (const [path, message] of [["form", err.message], ...fieldErrors]) {
    const key = String(path).split(".")[0]; // "path_mappings.0.from" belongs to path_mappings
    const node = key === "form" ? form.querySelector("[data-form-error]")
      : form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
    if (!node) continue;
    node.textContent = node.textContent ? `${node.textContent}; ${message}` : message;
    node.hidden = false;
  }
}

async function save(view) {
  const { form, spec, editing } = view;
  clearErrors(form);
  const body = {};
  for (const field of spec.fields) {
    const value = readField(field, form.elements[field.key], Boolean(editing));
    if (value !== undefined) body[field.key] = value;
  }
  try {
    await api(`/api/v1/${spec.name}${editing ? `/${editing.id}` : ""}`, { method: editing ? "PATCH" : "POST", body });
    notice(view, editing ? `Saved ${spec.noun} ${editing.id}.` : `Added a ${spec.noun}.`);
    edit(view, null);
    await load(view);
  } catch (err) {
    showProblem(form, err);
  }
}

async function remove(view, row) {
  if (!window.confirm(`Delete ${view.spec.noun} ${row.id} (${row.name || row.source})?`)) return;
  try {
    await api(`/api/v1/${view.spec.name}/${row.id}`, { method: "DELETE" });
    notice(view, `Deleted ${view.spec.noun} ${row.id}.`);
    if (view.editing?.id === row.id) edit(view, null);
    await load(view);
  } catch (err) {
    notice(view, err.message, true);
  }
}

async function runAction(view, row) {
  const { label: name, path, done } = view.spec.action;
  notice(view, `${name} ${row.name}…`);
  try {
    const { data } = await api(`/api/v1/${view.spec.name}/${row.id}/${path}`, { method: "POST" });
    notice(view, `${row.name}: ${done(data)}`, data.ok === false);
  } catch (err) {
    notice(view, `${row.name}: ${err.message}`, true);
  }
}

/** Build the sections once, then (re)load every list. */
export function showConfig() {
  if (!views.size) {
    for (const spec of RESOURCES) views.set(spec.name, buildSection(spec));
    document.getElementById("config-view").replaceChildren(...[...views.values()].map((v) => v.section));
  }
  for (const view of views.values()) load(view);
}

export function resetConfig() {
  views.clear();
  document.getElementById("config-view").replaceChildren();
}
