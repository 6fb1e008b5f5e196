// The boxes: inbox, outbox, drafts and "my tasks" (approvals, signatures, registrations,
// resolutions and executions awaiting me, grouped by kind). Data: GET /letters?box=&q=.

import { h } from "../lib/dom.js";
import { query, table, withQuery } from "../admin/common.js";
import { labelBadge } from "../chat/labels.js";
import { LETTERS, actionName, fail, frame, orgCode, orgLabel, statusBadge, when } from "./common.js";

const BOXES = {
  inbox: ["/letters", "lt.inbox"],
  outbox: ["/letters/outbox", "lt.outbox"],
  drafts: ["/letters/drafts", "lt.drafts"],
  tasks: ["/letters/tasks", "lt.tasks"],
};

// The order of the task groups on the page.
const TASK_ORDER = ["approve", "sign", "register_out", "register_in", "resolve", "reply", "close", "edit", "submit"];

function recipientsText(ctx, letter) {
  return (letter.recipients || []).map((r) => orgLabel(ctx, { code: orgCode(r), name: r.name })).join(", ");
}

function numbers(letter) {
  const parts = [];
  if (letter.outgoing_number) parts.push(letter.outgoing_number);
  for (const r of letter.recipients || []) if (r.incoming_number) parts.push(r.incoming_number);
  return parts.join(" · ") || "—";
}

function lastChange(letter) {
  return letter.updated_at || letter.registered_at || letter.created_at || letter.ts || null;
}

/** What awaits the caller: the server's `task` when given, else the first allowed action. */
export function taskOf(letter) {
  if (letter.task) return actionName(letter.task);
  const acts = (letter.allowed_actions || []).map(actionName).filter((a) => TASK_ORDER.includes(a));
  acts.sort((a, b) => TASK_ORDER.indexOf(a) - TASK_ORDER.indexOf(b));
  return acts[0] || "other";
}

function columns(ctx, box) {
  const { t } = ctx;
  const cols = [
    [t("lt.col.subject"), (l) => [
      h("a", { href: `#/letters/${encodeURIComponent(l.letter_id)}`, class: "lt-subject" }, l.subject || "—"),
      l.label ? [" ", labelBadge(l.label, ctx, "small")] : null,
    ]],
    [t("lt.col.status"), (l) => statusBadge(ctx, l.status)],
  ];
  if (box !== "outbox" && box !== "drafts") cols.push([t("lt.col.from"), (l) => orgLabel(ctx, { code: l.sender_org, name: l.sender_name })]);
  if (box !== "inbox") cols.push([t("lt.col.to"), (l) => recipientsText(ctx, l)]);
  cols.push([t("lt.col.number"), (l) => numbers(l)]);
  cols.push([t("lt.col.date"), (l) => when(ctx, lastChange(l))]);
  return cols;
}

export function renderBox(box) {
  return async (root, _params, ctx) => {
    const { t, api } = ctx;
    const [path, titleKey] = BOXES[box];
    const body = frame(root, ctx, path, titleKey);
    const q = query().get("q") || "";
    const input = h("input", { type: "search", name: "q", value: q, maxlength: "200", id: `lt-q-${box}` });
    body.append(h("form", { class: "adm-filter lt-search", role: "search", onSubmit: (ev) => {
      ev.preventDefault();
      ctx.navigate(withQuery(path, { q: input.value.trim() }));
    } }, h("div", { class: "adm-field" }, h("label", { for: input.id }, t("lt.search")), input),
    h("button", { type: "submit", class: "primary" }, t("lt.find"))));
    const out = h("div", { class: "lt-box" });
    body.append(out);
    let data;
    try {
      const qs = new URLSearchParams({ box });
      if (q) qs.set("q", q);
      data = await api.get(`${LETTERS}/letters?${qs}`, { signal: ctx.signal });
    } catch (err) {
      fail(ctx, out, err);
      return;
    }
    const letters = data.letters || [];
    if (!letters.length) {
      out.append(h("p", { class: "lt-empty", role: "status" }, t(box === "tasks" ? "lt.tasks.empty" : "lt.empty")));
      return;
    }
    out.append(h("p", { role: "status", class: "lt-muted" }, t("lt.count", { count: letters.length })));
    if (box !== "tasks") {
      out.append(table(ctx, t(titleKey), columns(ctx, box), letters, { class: "lt-list" }));
      return;
    }
    const groups = new Map();
    for (const l of letters) {
      const kind = taskOf(l);
      if (!groups.has(kind)) groups.set(kind, []);
      groups.get(kind).push(l);
    }
    const rank = (k) => (TASK_ORDER.includes(k) ? TASK_ORDER.indexOf(k) : 99);
    const kinds = [...groups.keys()].sort((a, b) => rank(a) - rank(b));
    for (const kind of kinds) {
      const key = `lt.task.${kind}`;
      const caption = t(key) === key ? t("lt.task.other") : t(key);
      out.append(h("section", { class: "lt-task-group", dataset: { task: kind } },
        table(ctx, `${caption} (${ctx.fmtNumber(groups.get(kind).length)})`, columns(ctx, "tasks"), groups.get(kind), { class: "lt-list" })));
    }
  };
}
