// The security officers' pages (issue 6 §6): the audit chain (verify, signed checkpoints,
// public key, export as JSON Lines), legal holds (place, lift, list) and the audit search.
// Same rules as the admin console: one navigation entry, tabs by permission, the server
// checks the scope of every request.

import { h } from "../lib/dom.js";
import { auditSearch } from "../admin/audit.js";
import {
  ADMIN, can, confirmDialog, download, errorBox, field, isAdmin, page, select, table,
} from "../admin/common.js";
import { renderLabels } from "./labels.js";
import { messages } from "./messages.js";

export { messages };

if (!document.querySelector('link[data-area="admin"]')) {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/admin/admin.css", dataset: { area: "admin" } }));
}

const TABS = [
  ["/security", "sec.tab.chain", "audit.export"],
  ["/security/labels", "sec.tab.labels", "labels.manage"],
  ["/security/holds", "sec.tab.holds", "legal_hold"],
  ["/security/audit", "sec.tab.audit", "audit.read"],
];

function frame(root, ctx, path, title) {
  return page(root, ctx, path, title, TABS, "sec.tabs");
}

function dayStart(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d).getTime();
}

// ---- the audit chain ----------------------------------------------------------------------

async function renderChain(root, params, ctx) {
  const { t, api } = ctx;
  if (!can(ctx, "audit.export")) {
    const first = TABS.find(([, , p]) => can(ctx, p));
    if (first) ctx.navigate(first[0]);
    return;
  }
  const body = frame(root, ctx, "/security", "sec.chain.title");
  const result = h("div", { class: "sec-verify", "aria-live": "polite" });
  const verify = h("button", { type: "button", class: "primary" }, t("sec.chain.verify"));
  verify.addEventListener("click", async () => {
    verify.disabled = true;
    result.replaceChildren(h("p", { role: "status" }, t("sec.chain.verifying")));
    try {
      const v = await api.get(`${ADMIN}/audit/verify`);
      result.replaceChildren(verifyView(ctx, v));
    } catch (err) {
      result.replaceChildren(errorBox(ctx, err));
    } finally {
      verify.disabled = false;
    }
  });
  body.append(
    h("section", { class: "adm-section", "aria-labelledby": "sec-verify" },
      h("h2", { id: "sec-verify" }, t("sec.chain.verifyTitle")),
      h("p", { class: "adm-lead" }, t("sec.chain.verifyLead")),
      h("div", { class: "adm-actions" }, verify),
      result),
  );
  body.append(exportSection(ctx));
  try {
    const key = await api.get(`${ADMIN}/audit/public-key`, { signal: ctx.signal });
    body.append(
      h("section", { class: "adm-section", "aria-labelledby": "sec-key" },
        h("h2", { id: "sec-key" }, t("sec.chain.keyTitle")),
        h("p", {}, t("sec.chain.keyLead")),
        h("dl", { class: "adm-facts" },
          h("dt", {}, t("sec.chain.keyId")), h("dd", {}, h("code", {}, key.key_id)),
          h("dt", {}, "Ed25519"), h("dd", {}, h("code", { class: "sec-key" }, key.public_key))),
        h("button", { type: "button", onClick: () => download(new Blob([key.pem], { type: "application/x-pem-file" }), `tumar-audit-${key.key_id}.pem`) }, t("sec.chain.keyDownload"))),
    );
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
  }
}

function verifyView(ctx, v) {
  const { t } = ctx;
  const facts = [
    [t("sec.chain.rows"), ctx.fmtNumber(v.rows)],
    [t("sec.chain.checkpoints"), `${ctx.fmtNumber(v.checkpoints_valid)} / ${ctx.fmtNumber(v.checkpoints)}`],
    [t("sec.chain.lastCheckpoint"), v.last_checkpoint_seq === null ? "—" : `#${v.last_checkpoint_seq}`],
    [t("sec.chain.unsigned"), ctx.fmtNumber(v.unsigned_rows)],
  ];
  const out = h("div", { class: v.ok ? "sec-ok" : "adm-error", role: v.ok ? "status" : "alert" },
    h("p", { class: "sec-verdict" }, v.ok ? t("sec.chain.ok", { count: v.rows }) : t("sec.chain.broken")));
  if (v.first_break) {
    out.append(h("p", {}, t("sec.chain.breakAt", { seq: v.first_break.seq, kind: t(`sec.break.${v.first_break.kind}`) }), " ", v.first_break.detail));
  }
  if (v.bad_checkpoint) {
    out.append(h("p", {}, t("sec.chain.badCheckpoint", { seq: v.bad_checkpoint.seq }), " ", v.bad_checkpoint.reason));
  }
  out.append(h("dl", { class: "adm-facts" }, facts.map(([k, val]) => [h("dt", {}, k), h("dd", {}, val)])));
  return out;
}

function exportSection(ctx) {
  const { t, api } = ctx;
  const input = (attrs = {}) => h("input", { type: "text", autocomplete: "off", maxlength: "255", ...attrs });
  const [actorField, actorCtl] = field(t("admin.audit.actor"), input({ placeholder: "@user:server" }));
  const [actionField, actionCtl] = field(t("admin.audit.action"), input({ placeholder: "label." }));
  const [targetField, targetCtl] = field(t("admin.audit.target"), input());
  const [orgField, orgCtl] = field(t("admin.org"), input({ maxlength: "64", placeholder: "mof" }));
  const [fromField, fromCtl] = field(t("admin.audit.from"), h("input", { type: "date" }));
  const [toField, toCtl] = field(t("admin.audit.to"), h("input", { type: "date" }));
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, t("sec.export.download"));
  const form = h("form", { class: "adm-filter", onSubmit: async (ev) => {
    ev.preventDefault();
    const qs = new URLSearchParams();
    if (actorCtl.value.trim()) qs.set("actor", actorCtl.value.trim());
    if (actionCtl.value.trim()) qs.set("action", actionCtl.value.trim());
    if (targetCtl.value.trim()) qs.set("target", targetCtl.value.trim());
    if (orgCtl.value.trim()) qs.set("org", orgCtl.value.trim());
    if (fromCtl.value) qs.set("since", String(dayStart(fromCtl.value)));
    if (toCtl.value) qs.set("until", String(dayStart(toCtl.value) + 86400000));
    submit.disabled = true;
    status.replaceChildren(h("p", { role: "status" }, t("sec.export.running")));
    try {
      const resp = await api.request("GET", `${ADMIN}/audit/export?${qs}`, undefined, { raw: true });
      const blob = await resp.blob();
      const text = await blob.text();
      const rows = text.split("\n").filter((l) => l.trim()).length;
      download(blob, `tumar-audit-${new Date().toISOString().slice(0, 10)}.jsonl`);
      status.replaceChildren(h("p", { role: "status", class: "adm-ok" }, t("sec.export.done", { count: rows })));
    } catch (err) {
      status.replaceChildren(errorBox(ctx, err));
    } finally {
      submit.disabled = false;
    }
  } }, actorField, actionField, targetField, orgField, fromField, toField, submit);
  return h("section", { class: "adm-section", "aria-labelledby": "sec-export" },
    h("h2", { id: "sec-export" }, t("sec.export.title")),
    h("p", { class: "adm-lead" }, t("sec.export.lead")),
    form, status);
}

// ---- legal holds ----------------------------------------------------------------------------

async function renderHolds(root, params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/security/holds", "sec.holds.title");
  const [typeField, typeCtl] = field(t("sec.holds.targetType"), select([["room", t("sec.holds.room")], ["person", t("sec.holds.person")]], "room"));
  const target = h("input", { type: "text", required: true, maxlength: "255", autocomplete: "off" });
  const [targetField] = field(t("sec.holds.target"), target, t("sec.holds.targetHint"));
  const reason = h("input", { type: "text", required: true, maxlength: "500", autocomplete: "off" });
  const [reasonField] = field(t("sec.holds.reason"), reason);
  const placeStatus = h("div", { "aria-live": "polite" });
  const list = h("div", {});
  const lifted = h("input", { type: "checkbox", id: "sec-holds-lifted" });
  const form = h("form", { class: "adm-filter", onSubmit: async (ev) => {
    ev.preventDefault();
    try {
      await api.post(`${ADMIN}/holds`, { target_type: typeCtl.value, target: target.value.trim(), reason: reason.value.trim() });
      ctx.notify(t("sec.holds.placed"), "ok");
      target.value = "";
      reason.value = "";
      placeStatus.replaceChildren();
      await load();
    } catch (err) {
      placeStatus.replaceChildren(errorBox(ctx, err));
    }
  } }, typeField, targetField, reasonField, h("button", { type: "submit", class: "primary" }, t("sec.holds.place")));
  body.append(
    h("p", { class: "adm-lead" }, t("sec.holds.lead")),
    form, placeStatus,
    h("div", { class: "adm-check" }, lifted, h("label", { for: "sec-holds-lifted" }, t("sec.holds.showLifted"))),
    list,
  );
  lifted.addEventListener("change", () => load());
  async function load() {
    let data;
    try {
      data = await api.get(`${ADMIN}/holds?include_lifted=${lifted.checked}`, { signal: ctx.signal });
    } catch (err) {
      if (err.name !== "AbortError") list.replaceChildren(errorBox(ctx, err));
      return;
    }
    if (!data.holds.length) {
      list.replaceChildren(h("p", { role: "status" }, t("sec.holds.none")));
      return;
    }
    list.replaceChildren(table(ctx, t("sec.holds.caption"), [
      [t("sec.holds.target"), (x) => h("span", {}, t(`sec.holds.${x.target_type}`), ": ", h("code", {}, x.target_id))],
      [t("sec.holds.reason"), (x) => x.reason],
      [t("sec.holds.placedBy"), (x) => `${x.placed_by}, ${ctx.fmtDate(x.placed_ts)}`],
      [t("sec.holds.state"), (x) => (x.active ? t("sec.holds.active") : t("sec.holds.liftedBy", { who: x.lifted_by, date: ctx.fmtDate(x.lifted_ts), reason: x.lift_reason || "" }))],
      [t("admin.actions"), (x) => (x.active ? h("button", { type: "button", class: "danger", "aria-label": t("sec.holds.liftOne", { target: x.target_id }), onClick: async () => {
        const answer = await confirmDialog(ctx, { title: t("sec.holds.liftTitle"), text: t("sec.holds.liftText", { target: x.target_id }), confirm: t("sec.holds.lift"), danger: true, reason: "required" });
        if (!answer) return;
        try {
          await api.post(`${ADMIN}/holds/${encodeURIComponent(x.hold_id)}/lift`, { reason: answer.reason });
          ctx.notify(t("sec.holds.liftedNotice"), "ok");
        } catch (err) {
          ctx.notify(err.message, "error");
        }
        await load();
      } }, t("sec.holds.lift")) : "—")],
    ], data.holds, { class: "sec-holds" }));
  }
  await load();
}

// ---- labels and rules -----------------------------------------------------------------------

async function renderLabelsPage(root, params, ctx) {
  const body = frame(root, ctx, "/security/labels", "sec.labels.title");
  await renderLabels(body, ctx);
}

// ---- audit search ----------------------------------------------------------------------------

async function renderSecAudit(root, params, ctx) {
  const body = frame(root, ctx, "/security/audit", "admin.audit.title");
  await auditSearch(body, ctx, "/security/audit");
}

const needs = (permission) => (ctx) => isAdmin(ctx) && can(ctx, permission);

export const routes = [
  {
    path: "/security",
    title: "sec.nav",
    nav: true,
    section: "/security",
    visible: (ctx) => isAdmin(ctx) && TABS.some(([, , p]) => p !== "audit.read" && can(ctx, p)),
    render: renderChain,
  },
  { path: "/security/labels", title: "sec.labels.title", section: "/security", visible: needs("labels.manage"), render: renderLabelsPage },
  { path: "/security/holds", title: "sec.holds.title", section: "/security", visible: needs("legal_hold"), render: renderHolds },
  { path: "/security/audit", title: "admin.audit.title", section: "/security", visible: needs("audit.read"), render: renderSecAudit },
];
