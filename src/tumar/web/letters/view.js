// One letter: every field, the classification banner, the text, attachments (authenticated
// downloads), approvals, signatures with "verify" and the verification report, registration and
// execution per recipient organisation, the status history, and the buttons of the actions the
// server allows the caller (`allowed_actions`): submit, approve, return with a comment, sign,
// register, register incoming, write a resolution, report execution, reply with a letter,
// close. Every refusal is shown with the server's own words.

import { h } from "../lib/dom.js";
import { errorBox, download as saveBlob, table } from "../admin/common.js";
import { labelBanner, labelName } from "../chat/labels.js";
import { fmtBytes } from "../lib/i18n.js";
import { download } from "../chat/media.js";
import {
  LETTERS, actionName, actionOrg, actionText, fail, formDialog, frame, labelled, orgCode,
  orgLabel, peoplePicker, statusBadge, statusText, day, when, who, whoList,
} from "./common.js";

// Actions on the whole letter: [action, path of the POST, what the dialog asks for].
const LETTER_ACTIONS = {
  submit: ["submit", "confirm"],
  approve: ["approve", "comment"],
  return: ["return", "commentRequired"],
  sign: ["sign", "key"],
  register_out: ["register", "confirm"],
  withdraw: ["withdraw", "confirm"],
};
// Actions on one recipient organisation: [action, path below recipients/{org}/, dialog, the
// recipient states it applies to when the server does not name the organisation].
const RECIPIENT_ACTIONS = {
  register_in: ["register", "confirm", ["delivered"]],
  resolve: ["resolution", "resolution", ["registered"]],
  reply: ["reply", "reply", ["resolved", "in_execution"]],
  close: ["close", "confirm", ["resolved", "in_execution", "answered"]],
};
const ORDER = ["edit", "submit", "approve", "return", "sign", "register_out", "withdraw"];

export async function renderLetter(root, params, ctx) {
  const { t, api } = ctx;
  const body = frame(root, ctx, null, "lt.letter");
  const id = encodeURIComponent(params.id);
  const base = `${LETTERS}/letters/${id}`;
  let letter;
  try {
    letter = await api.get(base, { signal: ctx.signal });
  } catch (err) {
    fail(ctx, body, err);
    return;
  }
  const allowed = letter.allowed_actions || [];
  const names = allowed.map(actionName);
  const errors = h("div", { class: "lt-errors", "aria-live": "assertive" });
  const reload = () => ctx.navigate(`/letters/${id}`);

  async function run(action, org) {
    errors.replaceChildren();
    if (action === "edit") {
      ctx.navigate(`/letters/${id}/edit`);
      return;
    }
    const spec = org ? RECIPIENT_ACTIONS[action] : LETTER_ACTIONS[action];
    if (!spec) return;
    const [path, kind] = spec;
    const payload = await ask(ctx, kind, action, org);
    if (payload === null) return;
    const url = org ? `${base}/recipients/${encodeURIComponent(org)}/${path}` : `${base}/${path}`;
    try {
      const got = await api.post(url, payload);
      let number = "";
      if (action === "register_out") number = (got && got.outgoing_number) || "";
      if (action === "register_in") {
        const r = ((got && got.recipients) || []).find((x) => orgCode(x) === org);
        number = (r && r.incoming_number) || (got && got.incoming_number) || "";
      }
      ctx.notify(t(`lt.done.${action}`, { number }), "ok");
      reload();
    } catch (err) {
      errors.replaceChildren(errorBox(ctx, err));
    }
  }

  body.append(h("h2", { class: "lt-subject-title" }, letter.subject || "—"));
  if (letter.label) body.append(labelBanner(letter.label, ctx));

  // Actions first, where the keyboard reaches them soonest.
  const buttons = [];
  for (const a of ORDER) {
    const entry = allowed.find((x) => actionName(x) === a && !actionOrg(x));
    if (!entry) continue;
    buttons.push(h("button", { type: "button", class: a === "return" || a === "withdraw" ? "danger" : "primary", dataset: { action: a }, onClick: () => run(a) }, actionText(ctx, a)));
  }
  if (names.includes("reply")) {
    buttons.push(h("button", { type: "button", dataset: { action: "reply_letter" }, onClick: () => ctx.navigate(`/letters/new?reply_to=${id}`) }, t("lt.action.replyLetter")));
  }
  const tools = [];
  let verifyOut = null;
  if ((letter.signatures || []).length) {
    verifyOut = h("div", { class: "lt-verify", "aria-live": "polite" });
    const verify = h("button", { type: "button", dataset: { action: "verify" }, onClick: async () => {
      verify.disabled = true;
      try {
        const report = await api.get(`${base}/verify`);
        verifyOut.replaceChildren(reportView(ctx, report));
      } catch (err) {
        verifyOut.replaceChildren(errorBox(ctx, err));
      } finally {
        verify.disabled = false;
      }
    } }, t("lt.action.verify"));
    tools.push(verify);
  }
  if (letter.outgoing_number) {
    tools.push(h("button", { type: "button", dataset: { action: "bundle" }, onClick: async () => {
      try {
        const resp = await api.get(`${base}/bundle`, { raw: true });
        saveBlob(await resp.blob(), `letter-${params.id}.zip`);
      } catch (err) {
        errors.replaceChildren(errorBox(ctx, err));
      }
    } }, t("lt.action.bundle")));
  }
  body.append(h("section", { class: "adm-section lt-actions", "aria-labelledby": "lt-actions-h" },
    h("h2", { id: "lt-actions-h" }, t("lt.actions")),
    buttons.length || names.some((n) => RECIPIENT_ACTIONS[n]) ? null : h("p", { class: "lt-muted" }, t("lt.noActions")),
    h("div", { class: "adm-actions" }, buttons, tools),
    errors,
    verifyOut));

  body.append(details(ctx, letter));
  body.append(h("section", { class: "adm-section", "aria-labelledby": "lt-body-h" },
    h("h2", { id: "lt-body-h" }, t("lt.body")), letterBody(letter)));
  body.append(attachmentsView(ctx, letter));
  body.append(approvalsView(ctx, letter));
  body.append(signaturesView(ctx, letter));
  body.append(recipientsView(ctx, letter, allowed, run));
  body.append(historyView(ctx, letter));
}

// ---- dialogs --------------------------------------------------------------------------------

/** Ask what an action needs; resolves to the request body, or null when cancelled. */
async function ask(ctx, kind, action, org) {
  const { t, api } = ctx;
  const title = actionText(ctx, action);
  if (kind === "confirm") {
    const text = t(`lt.confirm.${action}`, { org: org || "" });
    const ok = await formDialog(ctx, { title, body: h("p", {}, text === `lt.confirm.${action}` ? title : text), confirm: title, danger: action === "withdraw" });
    return ok ? {} : null;
  }
  if (kind === "comment" || kind === "commentRequired") {
    const required = kind === "commentRequired";
    const [wrap, input] = labelled(t(required ? "lt.f.commentRequired" : "lt.f.comment"), h("textarea", { rows: "3", maxlength: "2000", required, name: "comment" }));
    const ok = await formDialog(ctx, { title, body: wrap, confirm: title, danger: required });
    if (!ok) return null;
    const comment = input.value.trim();
    return comment ? { comment } : {};
  }
  if (kind === "key") {
    const keysBox = h("div");
    let chosen = null;
    const load = async () => {
      let keys = [];
      try {
        const got = await api.get(`${LETTERS}/signing-keys`);
        keys = got.keys || got.signing_keys || [];
      } catch (err) {
        keysBox.replaceChildren(errorBox(ctx, err));
        return;
      }
      if (!keys.length) {
        const make = h("button", { type: "button", onClick: async () => {
          try {
            await api.post(`${LETTERS}/signing-keys`, {});
            ctx.notify(t("lt.sign.keyMade"), "ok");
            await load();
          } catch (err) {
            keysBox.append(errorBox(ctx, err));
          }
        } }, t("lt.sign.newKey"));
        keysBox.replaceChildren(h("p", {}, t("lt.sign.noKeys")), make);
        chosen = null;
        return;
      }
      const sel = h("select", { name: "key_id" }, keys.map((k) => h("option", { value: k.key_id }, keyText(k))));
      const [wrap] = labelled(t("lt.f.key"), sel);
      chosen = sel;
      keysBox.replaceChildren(wrap);
    };
    await load();
    const ok = await formDialog(ctx, { title, body: keysBox, confirm: title });
    if (!ok) return null;
    return chosen ? { key_id: chosen.value } : {};
  }
  if (kind === "resolution") {
    const [textWrap, text] = labelled(t("lt.f.resolution"), h("textarea", { rows: "3", maxlength: "4000", required: true, name: "text" }));
    const executors = peoplePicker(ctx, { label: t("lt.f.executors"), searchLabel: t("lt.f.executors.search") });
    const [dueWrap, due] = labelled(t("lt.f.dueDate"), h("input", { type: "date", required: true, name: "due_date" }));
    const controller = peoplePicker(ctx, { label: t("lt.f.controller"), searchLabel: t("lt.f.controller.search"), single: true });
    const ok = await formDialog(ctx, {
      title,
      body: [textWrap, executors.el, dueWrap, controller.el],
      confirm: title,
      check: () => (executors.values().length ? null : t("lt.f.executors")),
    });
    if (!ok) return null;
    const out = { text: text.value.trim(), executors: executors.values(), due_date: due.value };
    if (controller.values()[0]) out.controller = controller.values()[0];
    return out;
  }
  if (kind === "reply") {
    const [wrap, text] = labelled(t("lt.f.text"), h("textarea", { rows: "4", maxlength: "4000", required: true, name: "text" }));
    const ok = await formDialog(ctx, { title, body: [h("p", { class: "adm-hint" }, t("lt.reply.hint")), wrap], confirm: title });
    return ok ? { text: text.value.trim() } : null;
  }
  return {};
}

function keyText(k) {
  const parts = [k.kind || k.algorithm || "", k.subject || k.certificate_subject || "", k.key_id];
  return parts.filter(Boolean).join(" · ");
}

// ---- sections -------------------------------------------------------------------------------

function facts(rows) {
  return h("dl", { class: "adm-facts lt-facts" }, rows.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function details(ctx, l) {
  const { t } = ctx;
  return h("section", { class: "adm-section", "aria-labelledby": "lt-fields-h" },
    h("h2", { id: "lt-fields-h" }, t("lt.fields")),
    facts([
      [t("lt.f.status"), statusBadge(ctx, l.status)],
      [t("lt.col.from"), orgLabel(ctx, { code: l.sender_org, name: l.sender_name })],
      [t("lt.col.to"), (l.recipients || []).map((r) => orgLabel(ctx, { code: orgCode(r), name: r.name })).join(", ")],
      [t("lt.f.outgoing"), l.outgoing_number || "—"],
      [t("lt.f.label"), l.label ? labelName(l.label, ctx) : "—"],
      [t("lt.f.author"), l.author ? who(ctx, l.author) : null],
      [t("lt.f.signatory"), l.signatory ? who(ctx, l.signatory) : null],
      [t("lt.f.created"), l.created_at ? when(ctx, l.created_at) : null],
      [t("lt.f.replyTo"), l.reply_to ? h("a", { href: `#/letters/${encodeURIComponent(l.reply_to)}` }, l.reply_to) : null],
    ]));
}

// The server's sanitised HTML is rebuilt element by element from an inert parse (DOMParser
// runs no scripts): only formatting elements and http(s)/mailto links survive; text stays text.
const KEEP = new Set(["P", "BR", "STRONG", "B", "EM", "I", "U", "S", "UL", "OL", "LI", "BLOCKQUOTE", "CODE", "PRE", "H1", "H2", "H3", "H4", "H5", "H6", "HR", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "A"]);

function rebuild(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const kids = [...node.childNodes].map(rebuild).filter(Boolean);
  if (!KEEP.has(node.tagName)) return kids;
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (!/^(https?:|mailto:)/i.test(href)) return kids;
    return h("a", { href, rel: "noopener noreferrer", target: "_blank" }, kids);
  }
  return h(node.tagName.toLowerCase(), {}, kids);
}

function letterBody(l) {
  if (l.body_html) {
    const doc = new DOMParser().parseFromString(l.body_html, "text/html");
    return h("div", { class: "lt-body" }, [...doc.body.childNodes].map(rebuild));
  }
  return h("div", { class: "lt-body lt-plain" }, l.body || "");
}

function attachmentsView(ctx, l) {
  const { t } = ctx;
  const list = l.attachments || [];
  return h("section", { class: "adm-section", "aria-labelledby": "lt-att-h" },
    h("h2", { id: "lt-att-h" }, t("lt.attachments")),
    list.length ? h("ul", { class: "lt-files" }, list.map((a) => h("li", {},
      h("button", { type: "button", class: "lt-file", "aria-label": t("lt.download", { name: a.name }), onClick: () => fetchAttachment(ctx, l, a) }, "⤓ ", a.name),
      a.size ? h("span", { class: "lt-muted" }, ` ${fmtBytes(a.size)}`) : null,
      a.sha256 ? h("code", { class: "lt-hash", title: "SHA-256" }, ` ${String(a.sha256).slice(0, 16)}…`) : null)))
      : h("p", { class: "lt-muted" }, t("lt.noAttachments")));
}

/** An attachment: through the authenticated media API (as the chat does), and, when the media
 * store does not let this reader see it (it was not shared in a room), through the letters
 * API's attachment route, which checks that the reader may see the letter. */
async function fetchAttachment(ctx, l, a) {
  try {
    await download(a.mxc, a.name);
    return;
  } catch (err) {
    if (!(err && (err.status === 403 || err.status === 404))) {
      ctx.notify(err.message || String(err), "error");
      return;
    }
  }
  try {
    const index = a.index ?? (l.attachments || []).indexOf(a);
    const resp = await ctx.api.get(`${LETTERS}/letters/${encodeURIComponent(l.letter_id)}/attachments/${index}`, { raw: true });
    saveBlob(await resp.blob(), a.name);
  } catch (err) {
    ctx.notify(err.message, "error");
  }
}

function approvalsView(ctx, l) {
  const { t } = ctx;
  const rows = (l.approvals || l.approvers || []).map((a, i) => (typeof a === "string" ? { user_id: a, order: i + 1 } : { order: i + 1, ...a }));
  if (!rows.length) return null;
  const mode = l.approval || l.approval_mode;
  return h("section", { class: "adm-section", "aria-labelledby": "lt-appr-h" },
    h("h2", { id: "lt-appr-h" }, t("lt.approvals")),
    mode ? h("p", { class: "lt-muted" }, t("lt.approvals.mode", { mode: t(`lt.f.${mode}`) })) : null,
    table(ctx, null, [
      [t("lt.col.order"), (a) => String(a.order ?? a.position ?? "")],
      [t("lt.col.approver"), (a) => who(ctx, a.user_id || a.approver)],
      [t("lt.col.decision"), (a) => {
        const d = a.decision || a.state || a.status || (a.approved_at ? "approved" : "pending");
        const key = `lt.decision.${d}`;
        return t(key) === key ? d : t(key);
      }],
      [t("lt.col.when"), (a) => when(ctx, a.decided_at || a.approved_at || a.at)],
      [t("lt.col.comment"), (a) => a.comment || ""],
    ], rows, { class: "lt-approvals" }));
}

function signaturesView(ctx, l) {
  const { t } = ctx;
  const sigs = l.signatures || [];
  return h("section", { class: "adm-section", "aria-labelledby": "lt-sig-h" },
    h("h2", { id: "lt-sig-h" }, t("lt.signatures")),
    sigs.length ? h("ul", { class: "lt-sigs" }, sigs.map((s) => h("li", {}, facts([
      [t("lt.verify.signer"), who(ctx, s.signer || s.user_id)],
      [t("lt.verify.when"), when(ctx, s.signed_at || s.at || s.when)],
      [t("lt.verify.key"), s.key_id || null],
      [t("lt.verify.subject"), s.certificate_subject || s.subject || null],
    ]))))
      : h("p", { class: "lt-muted" }, t("lt.noSignatures")));
}

/** The verification report, whatever its nesting (one report, a list, or {signatures: []}). */
function reportView(ctx, report) {
  const { t } = ctx;
  const list = Array.isArray(report) ? report : report.signatures || report.reports || [report];
  const okOf = (r) => {
    if (typeof r.ok === "boolean") return r.ok;
    if (typeof r.valid === "boolean") return r.valid;
    return r.content_unchanged !== false && r.chain_ok !== false && r.signature_ok !== false;
  };
  const allOk = typeof report.ok === "boolean" ? report.ok : list.length > 0 && list.every(okOf);
  const yes = (v) => (v === undefined || v === null ? null : v ? t("lt.verify.yes") : t("lt.verify.no"));
  return h("div", { class: ["lt-report", allOk ? "lt-report-ok" : "lt-report-bad"], role: allOk ? "status" : "alert" },
    h("h3", {}, t("lt.verify.title")),
    h("p", { class: "lt-verdict" }, allOk ? t("lt.verify.ok") : t("lt.verify.bad")),
    list.map((r) => h("div", { class: "lt-report-item" }, facts([
      [t("lt.verify.signer"), r.signer ? who(ctx, r.signer) : null],
      [t("lt.verify.when"), r.when || r.signed_at ? when(ctx, r.when || r.signed_at) : null],
      [t("lt.verify.key"), r.key_id || null],
      [t("lt.verify.subject"), (r.certificate && r.certificate.subject) || r.certificate_subject || null],
      [t("lt.verify.serial"), (r.certificate && r.certificate.serial) || r.serial || null],
      [t("lt.verify.issuer"), (r.certificate && r.certificate.issuer) || r.issuer || null],
      [t("lt.verify.chain"), yes(r.chain_ok)],
      [t("lt.verify.content"), r.content_unchanged === undefined ? null : r.content_unchanged ? t("lt.verify.unchanged") : t("lt.verify.changed")],
      [t("lt.verify.reasons"), (r.reasons || []).length ? h("ul", {}, r.reasons.map((x) => h("li", {}, String(x)))) : null],
    ]))),
    (report.attachments || []).length ? h("ul", { class: "lt-report-files", "aria-label": t("lt.attachments") },
      report.attachments.map((f) => h("li", {}, `${f.name}: `, f.unchanged ? t("lt.verify.unchanged") : t("lt.verify.changed")))) : null,
    !Array.isArray(report) && (report.reasons || []).length && list[0] !== report
      ? h("ul", {}, report.reasons.map((x) => h("li", {}, String(x)))) : null);
}

function recipientActions(allowed, r) {
  const org = orgCode(r);
  if (Array.isArray(r.allowed_actions)) return r.allowed_actions.map(actionName).filter((a) => RECIPIENT_ACTIONS[a]);
  const out = [];
  for (const entry of allowed) {
    const a = actionName(entry);
    const spec = RECIPIENT_ACTIONS[a];
    if (!spec || out.includes(a)) continue;
    const named = actionOrg(entry);
    if (named ? named === org : spec[2].includes(r.status)) out.push(a);
  }
  return out;
}

function resolutionView(ctx, res) {
  const { t } = ctx;
  if (!res) return "—";
  if (typeof res === "string") return res;
  return h("div", { class: "lt-resolution" },
    res.text ? h("p", {}, res.text) : null,
    facts([
      [t("lt.col.executors"), (res.executors || []).length ? whoList(ctx, res.executors) : null],
      [t("lt.col.dueDate"), res.due_date ? day(ctx, res.due_date) : null],
      [t("lt.col.controller"), res.controller ? who(ctx, res.controller) : null],
      [t("lt.f.author"), res.resolved_by || res.by ? who(ctx, res.resolved_by || res.by) : null],
    ]));
}

function recipientsView(ctx, l, allowed, run) {
  const { t } = ctx;
  const rows = l.recipients || [];
  return h("section", { class: "adm-section", "aria-labelledby": "lt-rcp-h" },
    h("h2", { id: "lt-rcp-h" }, t("lt.recipients")),
    table(ctx, null, [
      [t("lt.f.org"), (r) => orgLabel(ctx, { code: orgCode(r), name: r.name })],
      [t("lt.col.status"), (r) => statusBadge(ctx, r.status)],
      [t("lt.col.incoming"), (r) => r.incoming_number || "—"],
      [t("lt.col.resolution"), (r) => [resolutionView(ctx, r.resolution),
        (r.replies || []).map((x) => h("p", { class: "lt-reply" }, who(ctx, x.executor || x.by || x.user_id), `: ${x.text || ""}`, x.reply_letter_id ? [" ", h("a", { href: `#/letters/${encodeURIComponent(x.reply_letter_id)}` }, x.reply_letter_id)] : null))]],
      [t("lt.col.actions"), (r) => recipientActions(allowed, r).map((a) => h("button", {
        type: "button", class: "primary", dataset: { action: a, org: orgCode(r) },
        "aria-label": `${actionText(ctx, a)}: ${orgCode(r)}`, onClick: () => run(a, orgCode(r)),
      }, actionText(ctx, a)))],
    ], rows, { class: "lt-recipients", rowClass: () => null }));
}

function historyView(ctx, l) {
  const { t } = ctx;
  const rows = l.history || [];
  if (!rows.length) return null;
  return h("section", { class: "adm-section", "aria-labelledby": "lt-hist-h" },
    h("h2", { id: "lt-hist-h" }, t("lt.history")),
    table(ctx, null, [
      [t("lt.col.when"), (e) => when(ctx, e.at || e.ts || e.created_at)],
      [t("lt.col.who"), (e) => who(ctx, e.actor || e.user_id || e.by)],
      [t("lt.col.what"), (e) => {
        const a = e.action || e.event || e.kind || "";
        const text = t(`lt.event.${a}`) === `lt.event.${a}` ? actionText(ctx, a) : t(`lt.event.${a}`);
        const st = e.status ? statusText(ctx, e.status) : "";
        return [text, e.org ? ` (${e.org})` : "", st && st !== text ? [" → ", st] : null];
      }],
      [t("lt.col.comment"), (e) => e.comment || e.detail || ""],
    ], rows, { class: "lt-history" }));
}
