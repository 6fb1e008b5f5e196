// The registry pages: the journal of an organisation (incoming and outgoing registers, with
// filters, search and a CSV download: GET /journal) and the control view (letters under
// control and overdue per unit, rolled up the organisation tree: GET /control).

import { h } from "../lib/dom.js";
import { download, errorBox, query, select, table, withQuery } from "../admin/common.js";
import { myOrg } from "./draft.js";
import {
  LETTERS, day, fail, frame, labelled, loadOrgDirectory, orgCode, orgLabel, statusBadge, when,
  who, whoList,
} from "./common.js";

function orgInput(ctx, directory, value) {
  const [wrap, input] = labelled(ctx.t("lt.f.org"), h("input", { name: "org", maxlength: "64", value, list: "lt-journal-orgs", placeholder: ctx.t("lt.orgAll") }));
  wrap.append(h("datalist", { id: "lt-journal-orgs" }, directory.map((o) => h("option", { value: o.code }, orgLabel(ctx, o)))));
  return [wrap, input];
}

function rowsOf(data, ...keys) {
  if (Array.isArray(data)) return data;
  for (const k of keys) if (Array.isArray(data[k])) return data[k];
  return [];
}

export async function renderJournal(root, _params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/letters/journal", "lt.journal");
  const q = query();
  const filter = { org: q.get("org") || "", direction: q.get("direction") || "in", q: q.get("q") || "", from: q.get("from") || "", to: q.get("to") || "" };
  let directory = [];
  try {
    [directory, filter.org] = await Promise.all([loadOrgDirectory(ctx), filter.org || myOrg(ctx)]);
  } catch (err) {
    if (err.name === "AbortError") return;
  }
  const [orgWrap, orgCtl] = orgInput(ctx, directory, filter.org);
  const [dirWrap, dirCtl] = labelled(t("lt.f.direction"), select([["in", t("lt.inbox")], ["out", t("lt.outbox")]], filter.direction));
  const [qWrap, qCtl] = labelled(t("lt.search"), h("input", { type: "search", name: "q", maxlength: "200", value: filter.q }));
  const [fromWrap, fromCtl] = labelled(t("lt.f.from"), h("input", { type: "date", name: "from", value: filter.from }));
  const [toWrap, toCtl] = labelled(t("lt.f.to"), h("input", { type: "date", name: "to", value: filter.to }));
  body.append(h("form", { class: "adm-filter", onSubmit: (ev) => {
    ev.preventDefault();
    ctx.navigate(withQuery("/letters/journal", { org: orgCtl.value.trim(), direction: dirCtl.value, q: qCtl.value.trim(), from: fromCtl.value, to: toCtl.value }));
  } }, orgWrap, dirWrap, qWrap, fromWrap, toWrap, h("button", { type: "submit", class: "primary" }, t("lt.show"))));
  const out = h("div", { class: "lt-journal" });
  body.append(out);
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) qs.set(k, v);
  let data;
  try {
    data = await api.get(`${LETTERS}/journal?${qs}`, { signal: ctx.signal });
  } catch (err) {
    fail(ctx, out, err);
    return;
  }
  const csvButton = h("button", { type: "button", dataset: { action: "csv" }, onClick: async () => {
    const csvQs = new URLSearchParams(qs);
    csvQs.set("format", "csv");
    try {
      const resp = await api.get(`${LETTERS}/journal?${csvQs}`, { raw: true });
      download(await resp.blob(), `journal-${filter.org || "org"}-${filter.direction || "all"}.csv`);
    } catch (err) {
      out.append(errorBox(ctx, err));
    }
  } }, t("lt.journal.csv"));
  out.append(h("div", { class: "adm-actions" }, csvButton));
  const rows = rowsOf(data, "entries", "journal", "rows", "letters");
  if (!rows.length) {
    out.append(h("p", { role: "status", class: "lt-empty" }, t("lt.journal.empty")));
    return;
  }
  out.append(table(ctx, t("lt.journal"), [
    [t("lt.col.number"), (e) => h("strong", {}, e.number || e.registration_number || "—")],
    [t("lt.col.date"), (e) => when(ctx, e.registered_at || e.date || e.at)],
    filter.direction === "in" ? [t("lt.col.senderNumber"), (e) => e.outgoing_number || "—"] : null,
    [t("lt.col.subject"), (e) => (e.letter_id ? h("a", { href: `#/letters/${encodeURIComponent(e.letter_id)}` }, e.subject || e.letter_id) : e.subject || "—")],
    [t("lt.col.correspondent"), (e) => {
      const c = e.correspondent || e.correspondents || (filter.direction === "in" ? e.sender_org : e.recipients);
      return Array.isArray(c) ? c.map((x) => orgLabel(ctx, orgCode(x))).join(", ") : orgLabel(ctx, c);
    }],
    [t("lt.col.status"), (e) => (e.status ? statusBadge(ctx, e.status) : "—")],
    filter.direction === "in" ? [t("lt.col.executors"), (e) => whoList(ctx, e.executors)] : null,
    filter.direction === "in" ? [t("lt.col.dueDate"), (e) => (e.due_date ? day(ctx, e.due_date) : "—")] : null,
  ].filter(Boolean), rows, { class: "lt-journal-table" }));
}

export async function renderControl(root, _params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/letters/control", "lt.control");
  const q = query();
  let org = q.get("org") || "";
  let directory = [];
  try {
    [directory, org] = await Promise.all([loadOrgDirectory(ctx), org || myOrg(ctx)]);
  } catch (err) {
    if (err.name === "AbortError") return;
  }
  const [orgWrap, orgCtl] = orgInput(ctx, directory, org);
  body.append(h("p", { class: "adm-lead" }, t("lt.control.lead")));
  body.append(h("form", { class: "adm-filter", onSubmit: (ev) => {
    ev.preventDefault();
    ctx.navigate(withQuery("/letters/control", { org: orgCtl.value.trim() }));
  } }, orgWrap, h("button", { type: "submit", class: "primary" }, t("lt.show"))));
  const out = h("div", { class: "lt-control" });
  body.append(out);
  let data;
  try {
    data = await api.get(`${LETTERS}/control${org ? `?org=${encodeURIComponent(org)}` : ""}`, { signal: ctx.signal });
  } catch (err) {
    fail(ctx, out, err);
    return;
  }
  const units = rowsOf(data, "units", "organisations", "orgs");
  const items = rowsOf(data, "overdue_letters", "letters", "items", "overdue");
  if (!units.length && !items.length) {
    out.append(h("p", { role: "status", class: "lt-empty" }, t("lt.control.empty")));
    return;
  }
  if (units.length) {
    // Depth from the path when given, else from the parent links within the report.
    const parent = new Map(units.map((u) => [orgCode(u), u.parent_code || null]));
    const depthOf = (u) => {
      if (u.path) return u.path.split("/").filter(Boolean).length;
      let d = 0;
      for (let p = parent.get(orgCode(u)); p && parent.has(p) && d < 50; p = parent.get(p)) d += 1;
      return d;
    };
    const top = Math.min(...units.map(depthOf));
    const fig = (u, ...keys) => {
      for (const k of keys) {
        const v = u[k];
        if (typeof v === "number") return ctx.fmtNumber(v);
        if (v && typeof v === "object" && typeof v.total === "number") return ctx.fmtNumber(v.total);
      }
      return "0";
    };
    out.append(table(ctx, t("lt.control"), [
      [t("lt.col.org"), (u) => "\u00a0\u00a0".repeat(Math.max(0, depthOf(u) - top)) + orgLabel(ctx, u.org && typeof u.org === "object" ? u.org : { code: orgCode(u), name: u.name || u.org_name, name_ru: u.name_ru, name_kk: u.name_kk, name_en: u.name_en })],
      [t("lt.col.due"), (u) => fig(u.total || u, "open", "due"), "num"],
      [t("lt.col.dueSoon"), (u) => fig(u.total || u, "due_soon"), "num"],
      [t("lt.col.overdue"), (u) => fig(u.total || u, "overdue"), "num"],
    ], units, { class: "lt-control-table", rowClass: (u) => (Number((u.total || u).overdue || 0) > 0 ? "lt-has-overdue" : null) }));
  }
  if (items.length && typeof items[0] === "object") {
    out.append(table(ctx, t("lt.control.items"), [
      [t("lt.col.overdue"), (e) => (e.overdue ? h("strong", { class: "lt-overdue-mark" }, t("lt.control.overdue")) : "—")],
      [t("lt.col.subject"), (e) => (e.letter_id ? h("a", { href: `#/letters/${encodeURIComponent(e.letter_id)}` }, e.subject || e.letter_id) : e.subject || "—")],
      [t("lt.col.number"), (e) => e.incoming_number || e.number || "—"],
      [t("lt.col.org"), (e) => orgLabel(ctx, orgCode(e))],
      [t("lt.col.executors"), (e) => whoList(ctx, e.executors)],
      [t("lt.col.dueDate"), (e) => day(ctx, e.due_date)],
      [t("lt.col.controller"), (e) => (e.controller ? who(ctx, e.controller) : "—")],
    ], items, { class: "lt-overdue", rowClass: (e) => (e.overdue ? "lt-has-overdue" : null) }));
  }
}
