// Device policy for security officers (issue 8 §6): counts of enrolled devices per
// organisation (rolled up the tree), the policies in force with their schedule preview
// ("restricted now? next change at ...") and pilot list, the device list with a verdict filter,
// open violations, and a device's detail with its check-in history and a command form.
// Data: the admin API (device_dashboard.py and devices.py); the server checks every scope.

import { h } from "../lib/dom.js";
import {
  ADMIN, can, errorBox, field, isAdmin, loadOrgs, num, orgName, orgSelect, page, query, select, table, withQuery,
} from "../admin/common.js";
import { messages } from "./messages.js";

export { messages };

if (!document.querySelector('link[data-area="admin"]')) {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/admin/admin.css", dataset: { area: "admin" } }));
}

const PERM = "devices.manage";
const TABS = [
  ["/devices", "dev.tab.overview", PERM],
  ["/devices/policies", "dev.tab.policies", PERM],
  ["/devices/list", "dev.tab.devices", PERM],
  ["/devices/violations", "dev.tab.violations", PERM],
];
const VERDICTS = ["compliant", "non_compliant", "unknown"];
const COMMANDS = ["sync_now", "show_message", "lock_content", "wipe_content"];
const seg = encodeURIComponent;

function frame(root, ctx, path, title) {
  return page(root, ctx, path, title, TABS, "dev.tabs");
}

function when(ctx, ms) {
  return ms ? ctx.fmtDate(ms, { dateStyle: "medium", timeStyle: "short" }) : "—";
}

function verdict(ctx, v) {
  return h("span", { class: `dev-verdict dev-${v}` }, ctx.t(`dev.verdict.${v}`));
}

function person(r) {
  return r.name_cyr ? `${r.name_cyr} (${r.user_id})` : r.user_id;
}

async function fetchOr(body, ctx, ...paths) {
  try {
    return await Promise.all(paths.map((p) => ctx.api.get(p, { signal: ctx.signal })));
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return null;
  }
}

function counts(ctx, c) {
  return [
    [ctx.t("dev.count.enrolled"), (r) => num(ctx, c(r).enrolled)],
    [ctx.t("dev.verdict.compliant"), (r) => num(ctx, c(r).compliant)],
    [ctx.t("dev.verdict.non_compliant"), (r) => num(ctx, c(r).non_compliant)],
    [ctx.t("dev.verdict.unknown"), (r) => num(ctx, c(r).unknown)],
  ];
}

// ---- overview: counts per organisation -------------------------------------------------------

async function renderOverview(root, _params, ctx) {
  const { t } = ctx;
  const body = frame(root, ctx, "/devices", "dev.overview.title");
  const got = await fetchOr(body, ctx, `${ADMIN}/devices/summary`, `${ADMIN}/device-violations?limit=1`);
  if (!got) return;
  const [summary, open] = got;
  const total = summary.total;
  body.append(
    h("dl", { class: "adm-facts dev-totals" },
      h("dt", {}, t("dev.count.enrolled")), h("dd", {}, num(ctx, total.enrolled)),
      VERDICTS.map((v) => [h("dt", {}, t(`dev.verdict.${v}`)), h("dd", {}, num(ctx, total[v]))]),
      h("dt", {}, t("dev.count.violations")),
      h("dd", {}, h("a", { href: "#/devices/violations" }, num(ctx, open.total)))),
  );
  if (!summary.organisations.length) {
    body.append(h("p", { role: "status" }, t("dev.overview.none")));
    return;
  }
  body.append(table(ctx, t("dev.overview.byOrg"), [
    [t("dev.org"), (o) => h("a", { href: "#" + withQuery("/devices/list", { org: o.code }) },
      "\u00a0\u00a0".repeat(o.path.split("/").filter(Boolean).length - 1) + `${orgName(ctx, o)} (${o.code})`)],
    ...counts(ctx, (o) => o.total),
  ], summary.organisations, { class: "dev-summary" }));
  body.append(h("p", { class: "adm-hint" }, t("dev.overview.hint")));
}

// ---- policies and their preview --------------------------------------------------------------

function previewBlock(ctx, p) {
  const { t } = ctx;
  const now = p.working_hours ? t("dev.preview.restricted") : t("dev.preview.notRestricted");
  const restricted = p.restricted_on_premises.length
    ? p.restricted_on_premises.map((r) => t(`dev.r.${r}`)).join(", ") : t("dev.none");
  return h("div", { class: "dev-preview", role: "status" },
    h("p", { class: "dev-now" }, h("strong", {}, now), " ",
      p.next_change_ts ? t("dev.preview.next", { date: when(ctx, p.next_change_ts) }) : t("dev.preview.noChange")),
    h("p", {}, t("dev.preview.onPremises", { list: restricted })),
    h("p", {}, t("dev.preview.gated", { list: p.gated_labels.join(", ") || t("dev.none") })));
}

async function renderPolicies(root, _params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/devices/policies", "dev.policies.title");
  const got = await fetchOr(body, ctx, `${ADMIN}/device-policies`);
  if (!got) return;
  const [{ policies }] = got;
  if (!policies.length) {
    body.append(h("p", { role: "status" }, t("dev.policies.none")));
    return;
  }
  for (const p of policies) {
    const section = h("section", { class: "adm-section dev-policy", "aria-label": p.name },
      h("h2", {}, h("a", { href: `#/devices/policy/${seg(p.policy_id)}` }, p.name), " ",
        h("span", { class: "adm-hint" }, t("dev.policy.version", { version: p.version }))));
    body.append(section);
    try {
      section.append(previewBlock(ctx, await api.get(`${ADMIN}/device-policies/${seg(p.policy_id)}/preview`, { signal: ctx.signal })));
    } catch (err) {
      if (err.name !== "AbortError") section.append(errorBox(ctx, err));
    }
    const a = p.document.audience || {};
    section.append(h("p", {}, t("dev.policy.audience", { orgs: (a.orgs || []).join(", ") || "—", count: (a.people || []).length })));
  }
}

async function renderPolicy(root, params, ctx) {
  const { t } = ctx;
  const body = frame(root, ctx, "/devices/policies", "dev.policy.title");
  const id = params.id;
  const at = query().get("at") || "";
  const atParam = at ? `?at=${seg(new Date(at).toISOString())}` : "";
  const got = await fetchOr(body, ctx, `${ADMIN}/device-policies/${seg(id)}`, `${ADMIN}/device-policies/${seg(id)}/preview${atParam}`);
  if (!got) return;
  const [policy, preview] = got;
  body.append(h("h2", {}, policy.name, " ", h("span", { class: "adm-hint" }, t("dev.policy.version", { version: policy.version }))));
  const atInput = h("input", { type: "datetime-local", value: at });
  const [atField] = field(t("dev.preview.at"), atInput);
  body.append(h("form", { class: "adm-filter", onSubmit: (ev) => {
    ev.preventDefault();
    ctx.navigate(withQuery(`/devices/policy/${seg(id)}`, { at: atInput.value }));
  } }, atField, h("button", { type: "submit", class: "primary" }, t("dev.preview.show"))));
  body.append(previewBlock(ctx, preview));
  if (preview.changes.length) {
    body.append(table(ctx, t("dev.preview.changes"), [
      [t("dev.preview.when"), (c) => when(ctx, c.at_ts)],
      [t("dev.preview.from"), (c) => (c.working_hours ? t("dev.preview.restricted") : t("dev.preview.notRestricted"))],
    ], preview.changes, { class: "dev-changes" }));
  }
  const pilot = h("section", { class: "adm-section", "aria-labelledby": "dev-pilot" }, h("h2", { id: "dev-pilot" }, t("dev.pilot.title")));
  if (preview.people.length) {
    pilot.append(h("ul", { class: "dev-pilot" }, preview.people.map((u) => h("li", {}, h("code", {}, u)))));
  } else {
    pilot.append(h("p", {}, t("dev.pilot.none")));
  }
  pilot.append(h("p", {}, t("dev.policy.orgs", { orgs: preview.org_codes.join(", ") || "—" }),
    preview.starts_ts ? [" ", t("dev.policy.from", { date: when(ctx, preview.starts_ts) })] : null));
  body.append(pilot);
  body.append(h("details", { class: "dev-doc" }, h("summary", {}, t("dev.policy.document")),
    h("pre", {}, JSON.stringify(policy.document, null, 2))));
}

// ---- devices ---------------------------------------------------------------------------------

async function renderDevices(root, _params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/devices/list", "dev.list.title");
  const q = query();
  const filter = { org: q.get("org") || "", verdict: q.get("verdict") || "" };
  let orgs = { list: [] };
  try {
    orgs = await loadOrgs(ctx);
  } catch (err) {
    if (err.name === "AbortError") return;
  }
  const [orgField, orgCtl] = field(t("dev.org"), orgSelect(ctx, orgs, filter.org));
  const [verdictField, verdictCtl] = field(t("dev.verdict"),
    select([["", t("dev.any")], ...VERDICTS.map((v) => [v, t(`dev.verdict.${v}`)])], filter.verdict));
  body.append(h("form", { class: "adm-filter", onSubmit: (ev) => {
    ev.preventDefault();
    ctx.navigate(withQuery("/devices/list", { org: orgCtl.value, verdict: verdictCtl.value }));
  } }, orgField, verdictField, h("button", { type: "submit", class: "primary" }, t("dev.show"))));
  const qs = new URLSearchParams({ limit: "200" });
  if (filter.org) qs.set("org", filter.org);
  if (filter.verdict) qs.set("verdict", filter.verdict);
  let data;
  try {
    data = await api.get(`${ADMIN}/devices?${qs}`, { signal: ctx.signal });
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  body.append(h("p", { role: "status" }, t("dev.list.count", { count: data.total })));
  if (!data.devices.length) return;
  body.append(table(ctx, null, [
    [t("dev.person"), (d) => h("a", { href: `#/devices/device/${seg(d.device_id)}` }, person(d))],
    [t("dev.org"), (d) => d.org_code || "—"],
    [t("dev.device"), (d) => `${d.model} · ${d.platform} ${d.os_version}`],
    [t("dev.verdict"), (d) => verdict(ctx, d.verdict)],
    [t("dev.lastCheckin"), (d) => when(ctx, d.last_checkin_ts)],
    [t("dev.findings"), (d) => d.findings.map((f) => f.reason).join(" ") || "—"],
  ], data.devices, { class: "dev-devices" }));
}

async function renderViolations(root, _params, ctx) {
  const { t } = ctx;
  const body = frame(root, ctx, "/devices/violations", "dev.violations.title");
  const got = await fetchOr(body, ctx, `${ADMIN}/device-violations?limit=200`);
  if (!got) return;
  const [data] = got;
  if (!data.violations.length) {
    body.append(h("p", { role: "status" }, t("dev.violations.none")));
    return;
  }
  body.append(table(ctx, t("dev.violations.open", { count: data.total }), [
    [t("dev.person"), (v) => person(v)],
    [t("dev.org"), (v) => v.org_code || "—"],
    [t("dev.device"), (v) => h("a", { href: `#/devices/device/${seg(v.device_id)}` }, v.model ? `${v.model} · ${v.platform}` : v.device_id)],
    [t("dev.violations.since"), (v) => when(ctx, v.opened_ts)],
    [t("dev.findings"), (v) => v.findings.map((f) => f.reason).join(" ") || "—"],
  ], data.violations, { class: "dev-violations" }));
}

async function renderDevice(root, params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/devices/list", "dev.device.title");
  const id = params.id;
  const path = `${ADMIN}/devices/${seg(id)}`;
  const got = await fetchOr(body, ctx, path);
  if (!got) return;
  const [d] = got;
  body.append(
    h("dl", { class: "adm-facts dev-facts" },
      h("dt", {}, t("dev.person")), h("dd", {}, d.user_id),
      h("dt", {}, t("dev.org")), h("dd", {}, d.org_code || "—"),
      h("dt", {}, t("dev.device")), h("dd", {}, `${d.model} · ${d.platform} ${d.os_version}`),
      h("dt", {}, t("dev.mode")), h("dd", {}, `${d.management_mode} · ${d.ownership}`),
      h("dt", {}, t("dev.verdict")), h("dd", {}, verdict(ctx, d.verdict)),
      h("dt", {}, t("dev.validUntil")), h("dd", {}, when(ctx, d.valid_until_ts)),
      h("dt", {}, t("dev.lastCheckin")), h("dd", {}, when(ctx, d.last_checkin_ts)),
      h("dt", {}, t("dev.findings")), h("dd", {}, d.findings.map((f) => f.reason).join(" ") || "—")),
  );
  // The command form.
  const kind = select(COMMANDS.map((k) => [k, t(`dev.cmd.${k}`)]), "sync_now");
  const message = h("input", { type: "text", maxlength: "1000" });
  const [kindField] = field(t("dev.cmd.kind"), kind);
  const [messageField] = field(t("dev.cmd.message"), message, t("dev.cmd.messageHint"));
  const send = h("button", { type: "submit", class: "primary" }, t("dev.cmd.send"));
  body.append(h("section", { class: "adm-section", "aria-labelledby": "dev-cmd" },
    h("h2", { id: "dev-cmd" }, t("dev.cmd.title")),
    h("form", { class: "adm-filter", onSubmit: async (ev) => {
      ev.preventDefault();
      send.disabled = true;
      try {
        const payload = { kind: kind.value };
        if (kind.value === "show_message") payload.message = message.value;
        await api.post(`${path}/commands`, payload);
        ctx.notify(t("dev.cmd.sent"), "ok");
        ctx.navigate(`/devices/device/${seg(id)}`);
      } catch (err) {
        ctx.notify(err.message, "error");
        send.disabled = false;
      }
    } }, kindField, messageField, send)));
  if (d.commands.length) {
    body.append(table(ctx, t("dev.cmd.history"), [
      [t("dev.cmd.kind"), (c) => t(`dev.cmd.${c.kind}`)],
      [t("dev.cmd.issued"), (c) => when(ctx, c.issued_ts)],
      [t("dev.cmd.acked"), (c) => (c.acked_ts ? `${when(ctx, c.acked_ts)} · ${c.result || ""}` : t("dev.cmd.pending"))],
    ], d.commands, { class: "dev-commands" }));
  }
  body.append(table(ctx, t("dev.history"), [
    [t("dev.seq"), (c) => String(c.seq)],
    [t("dev.received"), (c) => when(ctx, c.received_ts)],
    [t("dev.verdict"), (c) => verdict(ctx, c.verdict)],
    [t("dev.restricted"), (c) => ((c.report.state || c.report).restricted || []).map((r) => t(`dev.r.${r}`)).join(", ") || "—"],
  ], d.checkins, { class: "dev-history" }));
}

const needs = (ctx) => isAdmin(ctx) && can(ctx, PERM);

export const routes = [
  { path: "/devices", title: "dev.nav", nav: true, section: "/devices", visible: needs, render: renderOverview },
  { path: "/devices/policies", title: "dev.policies.title", section: "/devices", visible: needs, render: renderPolicies },
  { path: "/devices/policy/:id", title: "dev.policy.title", section: "/devices", visible: needs, render: renderPolicy },
  { path: "/devices/list", title: "dev.list.title", section: "/devices", visible: needs, render: renderDevices },
  { path: "/devices/violations", title: "dev.violations.title", section: "/devices", visible: needs, render: renderViolations },
  { path: "/devices/device/:id", title: "dev.device.title", section: "/devices", visible: needs, render: renderDevice },
];
