// The audit log with search: words, who, action (exact or a prefix ending "."), target and a
// date range; newest first, "older" pages by sequence number; each entry's before and after
// values on demand. The security officers' pages reuse `auditSearch`.

import { ADMIN, errorBox, field, page, query, table, withQuery } from "./common.js";

const PAGE = 50;

function dayStart(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d).getTime(); // local midnight: what the person meant by the day
}

function pretty(value) {
  return value === null || value === undefined ? "" : JSON.stringify(value, null, 2);
}

/** The search form and results on `body`, with its state in the hash query of `path`. */
export async function auditSearch(body, ctx, path) {
  const { h, t, api } = ctx;
  const q = query();
  const state = {
    q: q.get("q") || "",
    actor: q.get("actor") || "",
    action: q.get("action") || "",
    target: q.get("target") || "",
    from: q.get("from") || "",
    to: q.get("to") || "",
  };
  const input = (value, attrs = {}) => h("input", { type: "text", value, autocomplete: "off", maxlength: "200", ...attrs });
  const [qField, qCtl] = field(t("admin.audit.q"), input(state.q, { type: "search" }));
  const [actorField, actorCtl] = field(t("admin.audit.actor"), input(state.actor, { placeholder: "@user:server" }));
  const [actionField, actionCtl] = field(t("admin.audit.action"), input(state.action, { placeholder: "person." }), t("admin.audit.actionHint"));
  const [targetField, targetCtl] = field(t("admin.audit.target"), input(state.target));
  const [fromField, fromCtl] = field(t("admin.audit.from"), h("input", { type: "date", value: state.from }));
  const [toField, toCtl] = field(t("admin.audit.to"), h("input", { type: "date", value: state.to }));
  body.append(
    h(
      "form",
      {
        class: "adm-filter",
        role: "search",
        onSubmit: (ev) => {
          ev.preventDefault();
          ctx.navigate(withQuery(path, {
            q: qCtl.value.trim(), actor: actorCtl.value.trim(), action: actionCtl.value.trim(),
            target: targetCtl.value.trim(), from: fromCtl.value, to: toCtl.value,
          }));
        },
      },
      qField, actorField, actionField, targetField, fromField, toField,
      h("button", { type: "submit", class: "primary" }, t("admin.find")),
    ),
  );
  const params = new URLSearchParams({ limit: String(PAGE) });
  for (const k of ["q", "actor", "action", "target"]) if (state[k]) params.set(k, state[k]);
  if (state.from) params.set("since", String(dayStart(state.from)));
  if (state.to) params.set("until", String(dayStart(state.to) + 86400000 - 1));
  const results = h("div", { class: "adm-audit-results" });
  const status = h("p", { role: "status", class: "adm-found" });
  body.append(status, results);
  let shown = 0;
  const more = h("button", { type: "button", class: "adm-more" }, t("admin.audit.older"));
  const columns = [
    [t("admin.audit.when"), (e) => ctx.fmtDate(e.ts, { dateStyle: "short", timeStyle: "medium" })],
    [t("admin.audit.actor"), (e) => e.actor],
    [t("admin.audit.action"), (e) => h("code", {}, e.action)],
    [t("admin.audit.target"), (e) => `${e.target_type}: ${e.target_id}`],
    [t("admin.org"), (e) => e.org_code || "—"],
    [t("admin.audit.details"), (e) =>
      e.before || e.after
        ? h("details", {}, h("summary", {}, t("admin.audit.show")),
            e.before ? [h("p", {}, t("admin.audit.before")), h("pre", {}, pretty(e.before))] : null,
            e.after ? [h("p", {}, t("admin.audit.after")), h("pre", {}, pretty(e.after))] : null,
            e.ip ? h("p", {}, `IP: ${e.ip}`) : null)
        : e.ip ? `IP: ${e.ip}` : "—"],
  ];
  const load = async (before) => {
    if (before) params.set("before", String(before));
    let data;
    try {
      data = await api.get(`${ADMIN}/audit?${params}`, { signal: ctx.signal });
    } catch (err) {
      if (err.name !== "AbortError") results.append(errorBox(ctx, err));
      return;
    }
    shown += data.entries.length;
    status.textContent = data.next_before ? t("admin.audit.shownMore", { count: shown }) : t("admin.audit.shown", { count: shown });
    if (data.entries.length) {
      results.append(table(ctx, before ? null : t("admin.audit.caption"), columns, data.entries, { class: "adm-audit" }));
    }
    more.remove();
    if (data.next_before) {
      more.onclick = () => load(data.next_before);
      results.append(more);
    }
  };
  await load(null);
}

export async function renderAudit(root, params, ctx) {
  const body = page(root, ctx, "/admin/audit", "admin.audit.title");
  await auditSearch(body, ctx, "/admin/audit");
}
