// What the correspondence pages share: the API prefix, the page frame with its tabs, status
// badges, dates, pickers for people (the user directory) and organisations (the organisation
// directory), and a modal form dialog.

import { h, replace, uid } from "../lib/dom.js";
import { C } from "../lib/api.js";
import { ADMIN, can, errorBox, page } from "../admin/common.js";

export const LETTERS = "/_tumar/letters/v1";
export const NS = "kz.tumar";

// [path, i18n key, who sees the tab]
const TABS = [
  ["/letters", "lt.inbox", "all"],
  ["/letters/outbox", "lt.outbox", "all"],
  ["/letters/drafts", "lt.drafts", "all"],
  ["/letters/tasks", "lt.tasks", "all"],
  ["/letters/new", "lt.new", "all"],
  ["/letters/journal", "lt.journal", "registry"],
  ["/letters/control", "lt.control", "registry"],
];

/** Registry pages (journal, control) are for clerks, signatories and heads; the server
 * decides in the end (a refusal is shown with its reason). */
export function registryVisible(ctx) {
  return can(ctx, "letters.register") || can(ctx, "letters.sign") || (ctx.whoami.grants || []).some((g) => g.role === "operator" || g.role === "head");
}

export function frame(root, ctx, path, titleKey) {
  root.classList.add("lt");
  const perms = ["all"];
  if (registryVisible(ctx)) perms.push("registry");
  const shown = { ...ctx, whoami: { ...ctx.whoami, permissions: perms } };
  return page(root, shown, path, titleKey, TABS, "lt.tabs");
}

export function when(ctx, value) {
  if (value === null || value === undefined || value === "") return "—";
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  return ctx.fmtDate(ms, { dateStyle: "medium", timeStyle: "short" });
}

/** A date written YYYY-MM-DD (a due date), in the interface language. */
export function day(ctx, iso) {
  if (!iso) return "—";
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso).slice(0, 10));
  if (!m) return String(iso);
  return ctx.fmtDate(Date.UTC(+m[1], +m[2] - 1, +m[3]), { dateStyle: "medium", timeZone: "UTC" });
}

export function statusText(ctx, status) {
  const key = `lt.status.${status}`;
  const text = ctx.t(key);
  return text === key ? String(status) : text;
}

export function statusBadge(ctx, status) {
  return h("span", { class: ["lt-status", `lt-status-${status}`] }, statusText(ctx, status));
}

/** An action name from `allowed_actions`, whatever shape the server uses for it. */
export function actionName(a) {
  if (typeof a === "string") return a.split(":")[0].toLowerCase();
  return String((a && (a.action || a.name)) || "").toLowerCase();
}

export function actionOrg(a) {
  if (typeof a === "string") return a.includes(":") ? a.slice(a.indexOf(":") + 1) : null;
  return (a && (a.org || a.org_code || a.recipient)) || null;
}

export function actionText(ctx, action) {
  const key = `lt.action.${action}`;
  const text = ctx.t(key);
  return text === key ? action : text;
}

export function fail(ctx, where, err) {
  if (err && err.name === "AbortError") return;
  where.replaceChildren(errorBox(ctx, err));
}

/** The organisation code of a recipient (the server may send a code or an object). */
export function orgCode(o) {
  if (!o) return "";
  if (typeof o === "string") return o;
  return o.org || o.code || o.org_code || "";
}

export function orgLabel(ctx, o) {
  if (!o) return "—";
  if (typeof o === "string") return o;
  const l = ctx.lang();
  const name = o[`name_${l}`] || o.name_ru || o.name || o.org_name;
  const code = orgCode(o);
  return name && name !== code ? `${name} (${code})` : code;
}

export function person(p) {
  if (!p) return "—";
  if (typeof p === "string") return p;
  return p.display_name ? `${p.display_name} (${p.user_id})` : p.user_id || "—";
}

// People appear by display name (from their profile, looked up once per page load of the
// app), with the user id as the tooltip; the id stays when the profile is not visible.
const displayNames = new Map();

export function who(ctx, p) {
  const userId = typeof p === "string" ? p : p && p.user_id;
  const el = h("span", { class: "lt-person", title: userId || null }, userId || "—");
  if (!userId || !userId.startsWith("@")) return el;
  if (!displayNames.has(userId)) {
    displayNames.set(userId, ctx.api.get(`${C}/profile/${encodeURIComponent(userId)}/displayname`)
      .then((r) => r.displayname || null)
      .catch(() => null));
  }
  displayNames.get(userId).then((name) => {
    if (name) el.textContent = name;
  });
  return el;
}

/** Several people, comma-separated. */
export function whoList(ctx, list) {
  const items = (list || []).filter(Boolean);
  if (!items.length) return "—";
  return items.flatMap((p, i) => (i ? [", ", who(ctx, p)] : [who(ctx, p)]));
}

// ---- the organisation directory -------------------------------------------------------------

/** Organisations for the recipient picker: the letters API's own directory if the server has
 * one, the admin directory for administrators, and organisations found through the people
 * directory as the user types. */
export async function loadOrgDirectory(ctx) {
  for (const path of [`${LETTERS}/orgs`, `${ADMIN}/orgs`]) {
    try {
      const got = await ctx.api.get(path, { signal: ctx.signal });
      const list = got.organisations || got.orgs || [];
      if (Array.isArray(list) && list.length) return list;
    } catch (err) {
      if (err.name === "AbortError") throw err;
    }
  }
  return [];
}

async function orgsFromPeople(ctx, term) {
  const res = await ctx.api.post(`${C}/user_directory/search`, { search_term: term, limit: 50 });
  const found = new Map();
  for (const p of res.results || []) {
    const o = p[`${NS}.organisation`];
    if (o && o.code && !found.has(o.code)) found.set(o.code, o);
  }
  return [...found.values()];
}

function matches(o, term) {
  const q = term.toLowerCase();
  return [o.code, o.name_ru, o.name_kk, o.name_en, o.name].some((v) => v && String(v).toLowerCase().includes(q));
}

// ---- pickers ------------------------------------------------------------------------------

/**
 * A picker: a search box, a list of results (buttons), and the chosen items as a list with
 * remove buttons (and "move up" when `ordered`). `search(term)` returns items; `key(item)`
 * and `label(item)` name them; `free(term)` turns typed text into an item on Enter (or null).
 * Returns {el, values(), set(items)}.
 */
export function picker(ctx, { label, searchLabel, hint, search, key, text, free, single = false, ordered = false, name, emptyKey = "lt.none" }) {
  const chosen = [];
  const inputId = uid("pick");
  const input = h("input", { id: inputId, type: "search", autocomplete: "off", maxlength: "255", name, "aria-describedby": hint ? `${inputId}-hint` : null });
  const results = h("ul", { class: "lt-results", "aria-label": ctx.t("lt.results"), "aria-live": "polite" });
  const list = h("ol", { class: ["lt-chosen", ordered ? "lt-ordered" : null], "aria-label": label });
  const render = () => {
    replace(list, chosen.map((item, i) => h("li", { dataset: { key: key(item) } },
      h("span", { class: "lt-chip-text" }, text(item)),
      ordered && i > 0 ? h("button", { type: "button", class: "lt-small", "aria-label": ctx.t("lt.up", { name: text(item) }), onClick: () => {
        chosen.splice(i - 1, 0, chosen.splice(i, 1)[0]);
        render();
      } }, "↑") : null,
      h("button", { type: "button", class: "lt-small", "aria-label": ctx.t("lt.remove", { name: text(item) }), onClick: () => {
        chosen.splice(i, 1);
        render();
        input.focus();
      } }, "×"))));
  };
  const add = (item) => {
    if (!item) return;
    if (single) chosen.splice(0, chosen.length);
    if (!chosen.some((c) => key(c) === key(item))) chosen.push(item);
    render();
    results.replaceChildren();
    input.value = "";
    input.focus();
  };
  let timer = null;
  let seq = 0;
  const run = async () => {
    const term = input.value.trim();
    const mine = ++seq;
    if (!term) {
      results.replaceChildren();
      return;
    }
    results.replaceChildren(h("li", { class: "lt-muted" }, ctx.t("lt.searching")));
    try {
      const items = (await search(term)).filter((it) => !chosen.some((c) => key(c) === key(it)));
      if (mine !== seq) return;
      if (!items.length) {
        replace(results, h("li", { class: "lt-muted" }, ctx.t(emptyKey)));
        return;
      }
      replace(results, items.slice(0, 10).map((it) => h("li", {}, h("button", { type: "button", class: "lt-result", dataset: { key: key(it) }, onClick: () => add(it) }, text(it)))));
    } catch (err) {
      if (mine === seq) replace(results, h("li", { class: "adm-error" }, err.message));
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 200);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault(); // never submits the surrounding form
    const first = results.querySelector("button.lt-result");
    if (first) first.click();
    else if (free && input.value.trim()) add(free(input.value.trim()));
  });
  ctx.signal.addEventListener("abort", () => clearTimeout(timer));
  const el = h("fieldset", { class: "lt-picker" },
    h("legend", {}, label),
    list,
    h("label", { for: inputId }, searchLabel),
    input,
    hint ? h("p", { class: "adm-hint", id: `${inputId}-hint` }, hint) : null,
    results);
  return {
    el,
    input,
    values: () => chosen.map(key),
    set(items) {
      chosen.splice(0, chosen.length, ...items.filter(Boolean));
      render();
    },
  };
}

/** A picker of people from the user directory (a typed full id "@x:server" is taken as is). */
export function peoplePicker(ctx, opts) {
  return picker(ctx, {
    ...opts,
    key: (p) => p.user_id,
    text: (p) => person(p),
    free: (term) => (/^@[^:\s]+:\S+$/.test(term) ? { user_id: term } : null),
    search: async (term) => {
      const res = await ctx.api.post(`${C}/user_directory/search`, { search_term: term, limit: 10 });
      return (res.results || []).map((p) => ({ user_id: p.user_id, display_name: p.display_name }));
    },
  });
}

/** A picker of organisations: the directory list when there is one, else organisations of
 * people found in the user directory; a typed code is taken as is (the server checks it). */
export function orgPicker(ctx, directory, opts) {
  return picker(ctx, {
    ...opts,
    name: "recipients",
    emptyKey: "lt.noOrg",
    key: (o) => orgCode(o),
    text: (o) => orgLabel(ctx, o),
    free: (term) => ({ code: term }),
    search: async (term) => {
      const local = directory.filter((o) => matches(o, term));
      if (local.length) return local;
      return (await orgsFromPeople(ctx, term)).filter((o) => matches(o, term));
    },
  });
}

// ---- a modal form ---------------------------------------------------------------------------

/** A <dialog> with a form: resolves true when confirmed (the browser checks `required`),
 * false when cancelled. `body` is the form content; `check()` may return an error text. */
export function formDialog(ctx, { title, body, confirm, danger = false, check = null }) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const titleId = uid("dlg");
    const errors = h("div", { "aria-live": "assertive" });
    const ok = h("button", { type: "submit", class: danger ? "danger" : "primary" }, confirm);
    const cancel = h("button", { type: "button" }, ctx.t("lt.cancel"));
    const form = h("form", { method: "dialog" }, h("h2", { id: titleId }, title), body, errors, h("div", { class: "adm-actions" }, ok, cancel));
    const dlg = h("dialog", { class: "adm-dialog lt-dialog", "aria-labelledby": titleId }, form);
    let answer = false;
    form.addEventListener("submit", (ev) => {
      const problem = check ? check() : null;
      if (problem) {
        ev.preventDefault();
        errors.replaceChildren(h("p", { class: "adm-error", role: "alert" }, problem));
        return;
      }
      answer = true;
    });
    cancel.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => {
      dlg.remove();
      if (back && back.focus) back.focus();
      resolve(answer);
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector("input, select, textarea");
    (first || ok).focus();
  });
}

/** A labelled control in a dialog or form: [wrapper, control]. */
export function labelled(text, control) {
  const id = control.id || uid("f");
  control.id = id;
  return [h("div", { class: "adm-field" }, h("label", { for: id }, text), control), control];
}
