// Configuration: libraries, manager path mappings, player groups and players.
import { api, el, getJson } from "./lib.js";

// How a field's value becomes text (table cell, form input) and back. A `read` giving
// undefined leaves the field out of the request.
const CODECS = {
  text: { show: (v) => v ?? "", read: (s) => s },
  number: { show: (v) => v ?? "", read: (s) => (s === "" ? undefined : Number(s)) },
  lines: { show: (v) => v.join("\n"), read: (s) => s.split("\n").map((l) => l.trim()).filter(Boolean) },
  mappings: {
    show: (v) => v.map((m) => `${m.from} => ${m.to}`).join("\n"),
    read: (s) => s.split("\n").filter((l) => l.trim()).map((line) => {
      const [from, to = ""] = line.split("=>").map((part) => part.trim());
      return { from, to };
    }),
  },
};

// The player types whose fields differ from a media player's (URL and credentials): a
// command runs a file of this host's; a webhook takes a header instead of credentials.
const COMMAND = "command";
const WEBHOOK = "webhook";
const only = (...types) => (type) => types.includes(type);
const except_ = (...types) => (type) => !types.includes(type);

// Field types: text (default), number, lines (one item per line), mappings ("from => to"
// per line), checkbox (ticked on a new row unless `checked: false`), secret (write-only: the
// API only says whether it is set; empty keeps it), ref and refs (the id of one row, or the
// ids of several, of the resource `to`: shown by name, chosen from a list).
// `options` lists a select's choices; `optionsFrom` is the API path listing them instead.
// `label` overrides the name shown (the key, spaced); `warn` is said before a Delete.
// `shownFor(type)` says whether the form shows the field for the chosen `type` (a field
// only some player types use); a hidden field is not sent.
const RESOURCES = [
  { name: "libraries", title: "Libraries", noun: "library",
    fields: [{ key: "name" }, { key: "path", hint: "/data/movies" },
      { key: "kind", options: ["movies", "tv", "music"] }, { key: "anchors", type: "lines", hint: ".anchor" },
      { key: "follow_links", type: "checkbox", checked: false },
      { key: "watch", type: "checkbox", checked: false }],
    warn: "Its movies and series leave the catalog.",
    action: { label: "Scan", path: "scan", done: (r) => `scan queued as job ${r.job_id}` } },
  { name: "path-mappings", title: "Manager path mappings", noun: "path mapping",
    fields: [{ key: "source", options: ["radarr", "sonarr", "lidarr", "manual"] }, { key: "from", hint: "/movies" },
      { key: "to", hint: "/data/movies" }] },
  { name: "player-groups", title: "Player groups", noun: "player group",
    fields: [{ key: "name" }, { key: "library_ids", type: "refs", to: "libraries", label: "libraries" },
      { key: "path_mappings", type: "mappings", hint: "/data/movies => smb://nas/movies" }],
    warn: "Its players are deleted too." },
  { name: "players", title: "Players", noun: "player",
    fields: [{ key: "name" }, { key: "type", optionsFrom: "/api/v1/player-types" },
      { key: "url", hint: "http://kodi.local:8080", optional: true, shownFor: except_(COMMAND) },
      { key: "group_id", type: "ref", to: "player-groups", label: "group" },
      { key: "position", type: "number" }, { key: "enabled", type: "checkbox" },
      { key: "username", optional: true, shownFor: except_(COMMAND, WEBHOOK) },
      { key: "password", type: "secret", isSet: "has_password", shownFor: except_(COMMAND, WEBHOOK) },
      { key: "token", type: "secret", isSet: "has_token", shownFor: except_(COMMAND, WEBHOOK) },
      { key: "command", hint: "/config/scripts/notify.sh", shownFor: only(COMMAND) },
      { key: "time_limit", type: "number", hint: "60 (seconds)", optional: true, shownFor: only(COMMAND) },
      { key: "header_name", hint: "Authorization", optional: true, shownFor: only(WEBHOOK) },
      { key: "header_value", type: "secret", isSet: "has_header_value", shownFor: only(WEBHOOK) }],
    action: { label: "Test", path: "test", done: (r) => (r.ok ? "reachable" : `${r.status}: ${r.error}`) } },
];

const views = new Map(); // resource name -> {spec, section, form, rows, editing, items}
const codec = (field) => CODECS[field.type] || CODECS.text;
const label = (field) => field.label || field.key.replace(/_/g, " ");

/** The name of row `id` of `resource` (its id until that list is loaded). */
function nameOf(resource, id) {
  const row = views.get(resource).items?.find((r) => r.id === id);
  return row ? row.name : `#${id}`;
}

/** The views whose fields name rows of `view`'s resource. */
const dependents = (view) => [...views.values()].filter((v) => v.spec.fields.some((f) => f.to === view.spec.name));

/** How a row is named to a person: its name, or a mapping's source and paths. */
const rowName = (row) => (row.name ? `"${row.name}"` : `${row.source} ${row.from} => ${row.to}`);

const chosenIds = (box) => [...box.querySelectorAll("input:checked")].map((c) => Number(c.value));

function cellText(field, row) {
  if (field.type === "ref") return nameOf(field.to, row[field.key]);
  if (field.type === "refs") return row[field.key].map((id) => nameOf(field.to, id)).join(", ") || "—";
  if (field.type === "secret") return row[field.isSet] ? "set" : "—";
  if (field.type === "checkbox") return row[field.key] ? "yes" : "no";
  return String(codec(field).show(row[field.key])) || "—";
}

function input(field, id) {
  const common = { name: field.key, id, placeholder: field.hint || "" };
  if (field.options) return el("select", common, field.options.map((o) => el("option", { value: o }, o)));
  if (field.optionsFrom) return el("select", common); // options: loadOptions
  if (field.type === "ref") return el("select", { name: field.key, id }); // options: fillChoosers
  if (field.type === "mappings" || field.type === "lines") return el("textarea", { ...common, rows: 2 });
  const type = { number: "number", checkbox: "checkbox", secret: "password" }[field.type] || "text";
  return el("input", { ...common, type, autocomplete: type === "password" ? "new-password" : "off" });
}

function buildSection(spec) {
  const error = (f) => el("span", { className: "field-error", "data-error-for": f.key, hidden: true });
  // Several choices are a fieldset of checkboxes (filled by fillChoosers), named by a legend.
  const fieldBox = (f) => (f.type === "refs"
    ? el("fieldset", { className: "field", name: f.key }, el("legend", {}, label(f)),
      el("div", { className: "choices" }), error(f))
    : el("div", { className: "field", "data-field": f.key },
      el("label", { for: `${spec.name}-${f.key}` }, label(f)), input(f, `${spec.name}-${f.key}`), error(f)));
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
  form.elements.type?.addEventListener("change", () => showFieldsOfType(view));
  form.querySelector("[data-cancel-edit]").addEventListener("click", () => edit(view, null));
  edit(view, null);
  return view;
}

function renderRows(view) {
  const { spec, items } = view;
  if (!items) return; // not loaded yet
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

/** Read a resource's rows, then show them and every name and chooser that depends on them. */
async function load(view) {
  try {
    view.items = (await getJson(`/api/v1/${view.spec.name}?limit=500`)).items;
  } catch (err) {
    notice(view, err.message, true);
    return;
  }
  for (const v of [view, ...dependents(view)]) {
    renderRows(v);
    fillChoosers(v);
  }
}

/** Reload a resource and those naming its rows: a change may change them (a deleted
 * library leaves its groups, a deleted group takes its players). */
const reload = (view) => Promise.all([view, ...dependents(view)].map(load));

/** Offer the choices the API lists for each optionsFrom field (the player types, shown by
 * name, in their order: the first is preselected), keeping what is chosen. */
async function loadOptions(view) {
  for (const field of view.spec.fields.filter((f) => f.optionsFrom)) {
    try {
      const { items } = await getJson(field.optionsFrom);
      const box = view.form.elements[field.key];
      const chosen = box.value;
      box.replaceChildren(...items.map((o) => el("option", { value: o.type }, o.label)));
      if (chosen) box.value = chosen;
      showFieldsOfType(view);
    } catch (err) {
      notice(view, err.message, true);
    }
  }
}

/** Offer the rows each ref and refs field may name, keeping what is chosen. */
function fillChoosers(view) {
  for (const field of view.spec.fields.filter((f) => f.to)) {
    const box = view.form.elements[field.key];
    const rows = views.get(field.to).items || [];
    if (field.type === "ref") {
      const chosen = box.value;
      const prompt = `choose a ${views.get(field.to).spec.noun}`;
      box.replaceChildren(el("option", { value: "" }, prompt),
        ...rows.map((r) => el("option", { value: r.id }, r.name)));
      box.value = chosen;
      if (box.selectedIndex < 0) box.value = ""; // the chosen row is gone
    } else {
      const chosen = new Set(chosenIds(box));
      box.querySelector(".choices").replaceChildren(...(rows.length ? rows.map((r) => el("label", {},
        el("input", { type: "checkbox", value: r.id, checked: chosen.has(r.id) }), r.name))
        : [el("span", { className: "muted" }, "none yet")]));
    }
  }
}

/** Show only the fields the chosen type uses (`shownFor`): the others are hidden, unsent. */
function showFieldsOfType(view) {
  const type = view.form.elements.type?.value ?? "";
  for (const field of view.spec.fields.filter((f) => f.shownFor)) {
    view.form.querySelector(`[data-field="${field.key}"]`).hidden = !field.shownFor(type);
  }
}

/** Whether the form shows `field` now. */
const isShown = (view, field) => !field.shownFor || field.shownFor(view.form.elements.type?.value ?? "");

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
  form.querySelector("[data-form-title]").textContent = row ? `Edit ${spec.noun} ${rowName(row)}` : `Add a ${spec.noun}`;
  form.querySelector("[data-submit]").textContent = row ? "Save changes" : `Add ${spec.noun}`;
  form.querySelector("[data-cancel-edit]").hidden = !row;
  for (const field of spec.fields) {
    const box = form.elements[field.key];
    if (field.type === "checkbox") box.checked = row ? row[field.key] : field.checked ?? true;
    else if (field.type === "secret") box.placeholder = row?.[field.isSet] ? "set: empty keeps it" : "";
    else if (field.type === "refs") {
      for (const c of box.querySelectorAll("input")) c.checked = Boolean(row?.[field.key].includes(Number(c.value)));
    } else if (field.type === "ref") box.value = row ? String(row[field.key]) : "";
    else if (row) box.value = codec(field).show(row[field.key]);
  }
  showFieldsOfType(view);
  if (row) form.scrollIntoView({ block: "nearest" });
}

function readField(field, box, editing) {
  if (field.type === "checkbox") return box.checked;
  // Choices not loaded yet would read as none: a change leaves the field as it is.
  if (field.type === "refs") return views.get(field.to).items ? chosenIds(box) : undefined;
  if (field.type === "ref") return box.value === "" ? undefined : Number(box.value);
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
  for (const field of spec.fields.filter((f) => isShown(view, f))) {
    const value = readField(field, form.elements[field.key], Boolean(editing));
    if (value !== undefined) body[field.key] = value;
  }
  try {
    const path = `/api/v1/${spec.name}${editing ? `/${editing.id}` : ""}`;
    const { data } = await api(path, { method: editing ? "PATCH" : "POST", body });
    notice(view, `${editing ? "Saved" : "Added"} ${spec.noun} ${rowName(data)}.`);
    edit(view, null);
    await reload(view);
  } catch (err) {
    showProblem(form, err);
  }
}

async function remove(view, row) {
  const { noun, warn } = view.spec;
  const what = rowName(row);
  if (!window.confirm([`Delete ${noun} ${what}?`, warn].filter(Boolean).join(" "))) return;
  try {
    await api(`/api/v1/${view.spec.name}/${row.id}`, { method: "DELETE" });
    notice(view, `Deleted ${noun} ${what}.`);
    if (view.editing?.id === row.id) edit(view, null);
    await reload(view);
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
    for (const view of views.values()) loadOptions(view);
    document.getElementById("config-view").replaceChildren(...[...views.values()].map((v) => v.section));
  }
  for (const view of views.values()) load(view);
}

export function resetConfig() {
  views.clear();
  document.getElementById("config-view").replaceChildren();
}
