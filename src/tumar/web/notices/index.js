// Government notifications (issue 7 §6): the inbox of every official (unread / read /
// acknowledged, with the acknowledge button), the authoring page of communications officers
// (audience picker with a live recipient count) and the report page (figures per
// organisation, rolled up the tree, the pending list and a CSV download).
// Bodies are shown as plain text (the Markdown source): no server HTML goes into the page.

import { h } from "../lib/dom.js";
import { ADMIN, can, download, errorBox, field, loadOrgs, orgName, page, select, table } from "../admin/common.js";
import { messages } from "./messages.js";

export { messages };

const NOTICES = "/_tumar/notices/v1";
const TABS = [
  ["/notices", "nt.inbox.title", null],
  ["/notices/author", "nt.author.nav", "notify"],
];

if (!document.querySelector('link[data-area="notices"]')) {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/notices/notices.css", dataset: { area: "notices" } }));
}
if (!document.querySelector('link[data-area="admin"]')) {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/admin/admin.css", dataset: { area: "admin" } }));
}

function frame(root, ctx, path, title) {
  const tabs = TABS.map(([p, k, perm]) => [p, k, perm || "__all__"]);
  const shown = { ...ctx, whoami: { ...ctx.whoami, permissions: [...(permissions(ctx)), "__all__"] } };
  return page(root, shown, path, title, tabs, "nt.nav");
}

function permissions(ctx) {
  return ["notify", "directory.read"].filter((p) => can(ctx, p));
}

function when(ctx, iso) {
  return iso ? ctx.fmtDate(Date.parse(iso), { dateStyle: "medium", timeStyle: "short" }) : "—";
}

// ---- inbox ------------------------------------------------------------------------------------

async function renderInbox(root, _params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/notices", "nt.inbox.title");
  let data;
  try {
    data = await api.get(`${NOTICES}/inbox`, { signal: ctx.signal });
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  if (!data.notices.length) {
    body.append(h("p", { class: "nt-empty" }, t("nt.inbox.empty")));
    return;
  }
  body.append(h("p", { role: "status" }, t("nt.inbox.unread", { count: data.unread })));
  const list = h("ul", { class: "nt-list" });
  for (const n of data.notices) list.append(item(ctx, n));
  body.append(list);
  // Shown is read: tell the server about the ones that were not (the badges keep what they were).
  for (const n of data.notices) {
    if (!n.read && !n.withdrawn) api.post(`${NOTICES}/notices/${encodeURIComponent(n.notice_id)}/read`, {}).catch(() => {});
  }
}

function stateOf(n) {
  if (n.withdrawn) return "withdrawn";
  if (n.acknowledged) return "acked";
  if (n.overdue) return "overdue";
  return n.read ? "read" : "unread";
}

function item(ctx, n) {
  const { t, api } = ctx;
  const state = h("span", { class: `nt-state nt-${stateOf(n)}` }, t(`nt.state.${stateOf(n)}`));
  const parts = [
    h("h2", { class: "nt-title" },
      h("span", { class: `nt-priority nt-${n.priority}` }, t(`nt.priority.${n.priority}`)), " ", n.title),
    h("p", { class: "nt-meta" }, state, " · ", when(ctx, n.delivered_at),
      n.deadline ? [" · ", t("nt.deadline", { date: when(ctx, n.deadline) })] : null),
    h("div", { class: "nt-body" }, n.body),
  ];
  if (n.ack_required && !n.acknowledged && !n.withdrawn) {
    const button = h("button", { type: "button", class: "primary nt-ack" }, t("nt.ack"));
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api.post(`${NOTICES}/notices/${encodeURIComponent(n.notice_id)}/ack`, {});
        state.className = "nt-state nt-acked";
        state.textContent = t("nt.state.acked");
        button.remove();
        ctx.notify(t("nt.acked"), "ok");
      } catch (err) {
        button.disabled = false;
        li.append(errorBox(ctx, err));
      }
    });
    parts.push(h("div", { class: "adm-actions" }, button));
  }
  const li = h("li", { class: "nt-item adm-section", dataset: { notice: n.notice_id } }, parts);
  return li;
}

// ---- authoring --------------------------------------------------------------------------------

function multiSelect(ctx, orgs) {
  return h("select", { multiple: true, size: String(Math.min(8, Math.max(3, orgs.list.length))) },
    orgs.list.map((o) => h("option", { value: o.code }, "\u00a0\u00a0".repeat(o.depth) + `${orgName(ctx, o)} (${o.code})`)));
}

function chosen(sel) {
  return [...sel.selectedOptions].map((o) => o.value);
}

async function renderAuthor(root, _params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/notices/author", "nt.author.title");
  if (!can(ctx, "notify")) return;
  let orgs;
  try {
    orgs = await loadOrgs(ctx);
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  const [titleField, title] = field(t("nt.f.title"), h("input", { name: "title", maxlength: "200", required: true }));
  const [bodyField, text] = field(t("nt.f.body"), h("textarea", { name: "body", rows: "6", required: true }));
  const [prioField, prio] = field(t("nt.f.priority"), select(
    ["information", "important", "urgent"].map((p) => [p, t(`nt.priority.${p}`)]), "information"));
  const [orgField, orgSel] = field(t("nt.f.orgs"), multiSelect(ctx, orgs));
  const [exField, exSel] = field(t("nt.f.exclude"), multiSelect(ctx, orgs));
  const [peopleField, people] = field(t("nt.f.people"), h("input", { name: "people" }));
  const everyone = h("input", { type: "checkbox", name: "everyone" });
  const ack = h("input", { type: "checkbox", name: "ack" });
  const [deadlineField, deadline] = field(t("nt.f.deadline"), h("input", { type: "datetime-local", name: "deadline" }));
  const count = h("p", { class: "nt-count", role: "status", "aria-live": "polite" }, t("nt.count.none"));
  const errors = h("div");
  const audience = () => ({
    everyone: everyone.checked,
    orgs: chosen(orgSel),
    exclude_orgs: chosen(exSel),
    people: people.value.split(",").map((s) => s.trim()).filter(Boolean),
  });
  let timer = null;
  let seq = 0;
  const recount = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const a = audience();
      if (!a.everyone && !a.orgs.length && !a.people.length) {
        count.textContent = t("nt.count.none");
        return;
      }
      const mine = ++seq;
      try {
        const r = await api.post(`${ADMIN}/notices/preview`, { audience: a });
        if (mine === seq) count.textContent = t("nt.count", { count: r.recipients });
      } catch (err) {
        if (mine === seq) count.textContent = err.message;
      }
    }, 250);
  };
  for (const el of [orgSel, exSel, people, everyone]) {
    el.addEventListener("change", recount);
    el.addEventListener("input", recount);
  }
  ctx.signal.addEventListener("abort", () => clearTimeout(timer));
  const send = h("button", { type: "submit", class: "primary" }, t("nt.send"));
  const form = h("form", { class: "nt-form", novalidate: true },
    titleField, bodyField, prioField, orgField, exField, peopleField,
    h("div", { class: "adm-field" }, h("label", {}, everyone, " ", t("nt.f.everyone"))),
    h("div", { class: "adm-field" }, h("label", {}, ack, " ", t("nt.f.ack"))),
    deadlineField, count, errors, h("div", { class: "adm-actions" }, send));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    send.disabled = true;
    const payload = {
      title: title.value, body: text.value, priority: prio.value, audience: audience(),
      ack_required: ack.checked, send: true,
    };
    if (ack.checked && deadline.value) payload.deadline = new Date(deadline.value).toISOString();
    try {
      const n = await api.post(`${ADMIN}/notices`, payload);
      ctx.notify(t("nt.sent"), "ok");
      ctx.navigate(`/notices/report/${n.notice_id}`);
    } catch (err) {
      errors.replaceChildren(errorBox(ctx, err));
      send.disabled = false;
    }
  });
  body.append(h("section", { class: "adm-section" }, form));
  try {
    const { notices } = await api.get(`${ADMIN}/notices?limit=20`, { signal: ctx.signal });
    if (notices.length) {
      body.append(h("section", { class: "adm-section" }, table(ctx, t("nt.recent"), [
        [t("nt.col.title"), (n) => h("a", { href: `#/notices/report/${n.notice_id}` }, n.title)],
        [t("nt.col.status"), (n) => n.status],
        [t("nt.col.sent"), (n) => when(ctx, n.sent_at)],
      ], notices)));
    }
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
  }
}

// ---- report -----------------------------------------------------------------------------------

async function renderReport(root, params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, "/notices/author", "nt.report.title");
  const id = encodeURIComponent(params.id);
  let report, pending, notice;
  try {
    [notice, report, pending] = await Promise.all([
      api.get(`${ADMIN}/notices/${id}`, { signal: ctx.signal }),
      api.get(`${ADMIN}/notices/${id}/report`, { signal: ctx.signal }),
      api.get(`${ADMIN}/notices/${id}/recipients?pending=true&limit=100`, { signal: ctx.signal }),
    ]);
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  body.append(h("h2", { class: "nt-report-title" }, notice.title),
    h("p", {}, `${notice.status} · ${when(ctx, notice.sent_at)}`,
      report.deadline ? [" · ", t("nt.deadline", { date: when(ctx, report.deadline) })] : null));
  const depth0 = Math.min(...report.organisations.map((o) => o.path.split("/").length), 99);
  const figure = (key) => (o) => ctx.fmtNumber(o.total[key]);
  const rows = [...report.organisations, { code: "", path: "", total: report.total, totalRow: true }];
  body.append(table(ctx, t("nt.report.title"), [
    [t("nt.col.org"), (o) => (o.totalRow ? "Σ" : "\u00a0\u00a0".repeat(o.path.split("/").length - depth0) + `${orgName(ctx, o)} (${o.code})`)],
    [t("nt.col.audience"), figure("audience"), "num"],
    [t("nt.col.delivered"), figure("delivered"), "num"],
    [t("nt.col.read"), figure("read"), "num"],
    [t("nt.col.acked"), figure("acknowledged"), "num"],
    [t("nt.col.pending"), figure("pending"), "num"],
    [t("nt.col.overdue"), figure("overdue"), "num"],
  ], rows, { class: "nt-report", rowClass: (o) => (o.totalRow ? "nt-total" : null) }));
  const csvButton = h("button", { type: "button" }, t("nt.csv"));
  csvButton.addEventListener("click", async () => {
    try {
      const resp = await api.get(`${ADMIN}/notices/${id}/recipients.csv?pending=true`, { raw: true });
      download(await resp.blob(), `notice-${params.id}-pending.csv`);
    } catch (err) {
      body.append(errorBox(ctx, err));
    }
  });
  const actions = [csvButton];
  if (notice.status === "sent") {
    const withdraw = h("button", { type: "button", class: "danger" }, t("nt.withdraw"));
    withdraw.addEventListener("click", async () => {
      try {
        await api.post(`${ADMIN}/notices/${id}/withdraw`, {});
        ctx.notify(t("nt.withdrawn"), "ok");
        ctx.navigate(`/notices/report/${params.id}`);
      } catch (err) {
        body.append(errorBox(ctx, err));
      }
    });
    actions.push(withdraw);
  }
  body.append(h("div", { class: "adm-actions" }, actions));
  body.append(table(ctx, `${t("nt.pending.title")} (${ctx.fmtNumber(pending.total)})`, [
    [t("nt.col.person"), (p) => `${p.name_cyr} (${p.personnel_number})`],
    [t("nt.col.org"), (p) => p.org_code],
    [t("nt.col.delivered"), (p) => when(ctx, p.delivered_at)],
    [t("nt.col.read"), (p) => (p.read ? "✓" : "—")],
  ], pending.people, { class: "nt-pending" }));
}

export const routes = [
  { path: "/notices", title: "nt.nav", nav: true, visible: () => true, render: renderInbox },
  {
    path: "/notices/author",
    title: "nt.author.nav",
    nav: false,
    visible: (ctx) => can(ctx, "notify"),
    render: renderAuthor,
  },
  { path: "/notices/report/:id", title: "nt.report.title", nav: false, visible: (ctx) => can(ctx, "notify"), render: renderReport },
];
