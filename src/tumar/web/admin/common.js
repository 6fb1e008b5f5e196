// What the admin console's pages share: permissions from whoami, the console's tab bar,
// tables, form fields, error boxes, a confirmation dialog, downloads and organisation names.

import { h, uid } from "../lib/dom.js";

export const ADMIN = "/_tumar/admin/v1";

// The permissions of each role, as policy/roles.py has them; used only when the server's
// whoami does not list `permissions` itself (older servers).
const ROLE_PERMISSIONS = {
  operator: ["*"],
  org_admin: [
    "directory.read", "org.write", "people.write", "accounts.manage", "roles.grant",
    "rollout", "audit.read",
  ],
  security_officer: [
    "directory.read", "audit.read", "audit.export", "labels.manage", "legal_hold",
    "devices.manage",
  ],
  comms_officer: ["directory.read", "notify"],
  registry_clerk: ["directory.read", "letters.register"],
  signatory: ["directory.read", "letters.sign"],
};

/** Whether the signed-in user holds `permission` somewhere in their scope. */
export function can(ctx, permission) {
  const who = ctx.whoami || {};
  if (Array.isArray(who.permissions)) return who.permissions.includes(permission);
  return (who.grants || []).some((g) => {
    const perms = ROLE_PERMISSIONS[g.role] || [];
    return perms.includes("*") || perms.includes(permission);
  });
}

export function isAdmin(ctx) {
  return Boolean(ctx.whoami && (ctx.whoami.grants || []).length);
}

// The console's own tabs: [path, i18n key, permission].
export const TABS = [
  ["/admin", "admin.tab.rollout", "rollout"],
  ["/admin/orgs", "admin.tab.orgs", "directory.read"],
  ["/admin/people", "admin.tab.people", "directory.read"],
  ["/admin/import", "admin.tab.import", "people.write"],
  ["/admin/codes", "admin.tab.codes", "accounts.manage"],
  ["/admin/audit", "admin.tab.audit", "audit.read"],
];

/** The first console page this user may open. */
export function landing(ctx) {
  const tab = TABS.find(([, , perm]) => can(ctx, perm));
  return tab ? tab[0] : null;
}

/** The page frame: the tab bar, a heading that takes focus, and the page body. */
export function page(root, ctx, current, titleKey, tabs = TABS, label = "admin.tabs") {
  const nav = h(
    "nav",
    { class: "adm-tabs", "aria-label": ctx.t(label) },
    h(
      "ul",
      {},
      tabs
        .filter(([, , perm]) => can(ctx, perm))
        .map(([path, key]) =>
          h(
            "li",
            {},
            h(
              "a",
              { href: "#" + path, "aria-current": path === current ? "page" : null },
              ctx.t(key),
            ),
          ),
        ),
    ),
  );
  const heading = h("h1", { tabindex: "-1", class: "adm-title" }, ctx.t(titleKey));
  const body = h("div", { class: "adm-body" });
  root.classList.add("adm");
  root.append(nav, heading, body);
  // On a narrow screen the tab bar scrolls sideways: bring the current tab into sight.
  requestAnimationFrame(() => {
    const list = nav.firstElementChild;
    const here = nav.querySelector("[aria-current]");
    if (list && here && list.scrollWidth > list.clientWidth) {
      list.scrollLeft = here.parentElement.offsetLeft - list.offsetLeft - 16;
    }
  });
  return body;
}

/** The name of an organisation in the interface language (Russian for English if missing). */
export function orgName(ctx, org) {
  if (!org) return "";
  const l = ctx.lang();
  return org[`name_${l}`] || org.name_ru || org.code;
}

/** A labelled form field: returns [wrapper, control]. */
export function field(labelText, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const parts = [h("label", { for: id }, labelText), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "adm-hint", id: hintId }, hint));
  }
  return [h("div", { class: "adm-field" }, parts), control];
}

export function select(options, value) {
  return h(
    "select",
    {},
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
}

/** An error box (role=alert) with the server's own words. */
export function errorBox(ctx, err) {
  let text = err && err.message ? err.message : String(err);
  if (err && err.status === 0) text = ctx.t("admin.error.network");
  else if (err && err.errcode === "TUMAR_OUT_OF_SCOPE") text = `${ctx.t("admin.error.scope")} ${text}`;
  return h("div", { class: "adm-error", role: "alert" }, text);
}

/** A table with a caption; columns: [[header key or text, (row) => cell, class?]]. */
export function table(ctx, caption, columns, rows, opts = {}) {
  const tbl = h(
    "table",
    { class: ["adm-table", opts.class] },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([head, , cls]) => h("th", { scope: "col", class: cls }, head)))),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h("tr", { class: opts.rowClass ? opts.rowClass(row) : null }, columns.map(([head, cell, cls]) =>
          h("td", { class: cls, "data-label": head }, cell(row)),
        )),
      ),
    ),
  );
  return h("div", { class: "adm-table-wrap" }, tbl);
}

/** A modal confirmation with a <dialog>; resolves true or false. Focus returns afterwards. */
export function confirmDialog(ctx, { title, text, confirm, danger = false, reason = false, extra = null }) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const titleId = uid("dlg");
    let reasonInput = null;
    const parts = [h("h2", { id: titleId }, title), text ? h("p", {}, text) : null, extra];
    if (reason) {
      reasonInput = h("textarea", { maxlength: "500", rows: "2", required: reason === "required" });
      parts.push(field(ctx.t("admin.reason"), reasonInput)[0]);
    }
    const ok = h("button", { type: "submit", class: danger ? "danger" : "primary", value: "ok" }, confirm);
    const cancel = h("button", { type: "button", value: "cancel" }, ctx.t("admin.cancel"));
    const form = h("form", { method: "dialog" }, parts, h("div", { class: "adm-actions" }, ok, cancel));
    const dlg = h("dialog", { class: "adm-dialog", "aria-labelledby": titleId }, form);
    let answer = false;
    form.addEventListener("submit", () => {
      answer = true;
    });
    cancel.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => {
      dlg.remove();
      if (back && back.focus) back.focus();
      resolve(answer ? { reason: reasonInput ? reasonInput.value.trim() || null : null } : false);
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = extra && extra.querySelector ? extra.querySelector("select, input, textarea") : null;
    (first || reasonInput || cancel).focus();
  });
}

/** Offer `blob` as a downloaded file. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "adm-hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** A cell that spreadsheet programs will not run as a formula (as the server's CSVs do). */
function csvCell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV text (with a byte-order mark, for spreadsheet programs) from rows of cells. */
export function csv(header, rows) {
  const lines = [header, ...rows].map((r) => r.map(csvCell).join(","));
  return "\ufeff" + lines.join("\r\n") + "\r\n";
}

/** The console keeps its form state in the hash query: "#/admin/people?q=x&org=mof". */
export function query() {
  const hash = window.location.hash;
  const at = hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
}

export function withQuery(path, params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/** Every organisation in scope, sorted by path, with its depth; cached per page render. */
export async function loadOrgs(ctx) {
  const { organisations } = await ctx.api.get(`${ADMIN}/orgs`, { signal: ctx.signal });
  const byPath = organisations.slice().sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const codes = new Set(byPath.map((o) => o.code));
  for (const o of byPath) o.depth = o.path.split("/").filter(Boolean).length - 1;
  const top = Math.min(...byPath.map((o) => o.depth), 0);
  for (const o of byPath) o.depth -= top;
  return { list: byPath, byCode: new Map(byPath.map((o) => [o.code, o])), codes };
}

/** A <select> of organisations (indented by depth), with an "all" entry first. */
export function orgSelect(ctx, orgs, value, allKey = "admin.org.all") {
  return h(
    "select",
    {},
    h("option", { value: "" }, ctx.t(allKey)),
    orgs.list.map((o) =>
      h("option", { value: o.code, selected: o.code === value }, "\u00a0\u00a0".repeat(o.depth) + `${orgName(ctx, o)} (${o.code})`),
    ),
  );
}

export function loading(ctx) {
  return h("p", { class: "adm-loading", role: "status" }, ctx.t("admin.loading"));
}

/** Shorthand for a numeric figure formatted in the interface language. */
export function num(ctx, n) {
  return n === null || n === undefined ? "—" : ctx.fmtNumber(n);
}

export function pct(ctx, p) {
  return p === null || p === undefined ? "—" : ctx.fmtNumber(p / 100, { style: "percent", maximumFractionDigits: 1 });
}

/** A date written YYYY-MM-DD, shown in the interface language. */
export function day(ctx, iso) {
  if (!iso) return "—";
  const [y, m, d] = iso.split("-").map(Number);
  return ctx.fmtDate(Date.UTC(y, m - 1, d), { dateStyle: "medium", timeZone: "UTC" });
}
