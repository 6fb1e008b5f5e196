// Drafting a letter (new, or editing a draft or a returned letter): sender, recipient
// organisations from the organisation directory, subject, Markdown body, classification label,
// attachments uploaded with progress through the media store (as the chat does), approvers in
// order or in parallel, and the signatory. POST /letters, PUT /letters/{id}, then optionally
// POST /letters/{id}/submit.

import { h } from "../lib/dom.js";
import { C } from "../lib/api.js";
import { fmtBytes } from "../lib/i18n.js";
import { errorBox, query, select } from "../admin/common.js";
import { DEFAULT_LABELS, labelName } from "../chat/labels.js";
import { upload } from "../chat/media.js";
import {
  LETTERS, NS, fail, frame, labelled, loadOrgDirectory, orgCode, orgPicker, peoplePicker,
} from "./common.js";

export async function myOrg(ctx) {
  try {
    const me = await ctx.api.get(`${C}/profile/${encodeURIComponent(ctx.session.userId)}`, { signal: ctx.signal });
    const o = me[`${NS}.organisation`];
    return o && o.code ? o.code : "";
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return "";
  }
}

async function uploadLimit(ctx) {
  try {
    const cfg = await ctx.api.get("/_matrix/media/v3/config", { signal: ctx.signal });
    return cfg["m.upload.size"] || null;
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return null;
  }
}

function asPeople(list) {
  return (list || []).filter(Boolean).map((p) => (typeof p === "string" ? { user_id: p } : { user_id: p.user_id, display_name: p.display_name }));
}

export async function renderNew(root, _params, ctx) {
  const body = frame(root, ctx, "/letters/new", "lt.new");
  const replyTo = query().get("reply_to") || "";
  let seed = { recipients: [], attachments: [], approvers: [], approval: "ordered", label: "", reply_to: replyTo || null };
  if (replyTo) {
    try {
      const earlier = await ctx.api.get(`${LETTERS}/letters/${encodeURIComponent(replyTo)}`, { signal: ctx.signal });
      seed = { ...seed, recipients: [earlier.sender_org], subject: `Re: ${earlier.subject || ""}`, label: earlier.label || "" };
    } catch (err) {
      if (err.name === "AbortError") return;
    }
  }
  await draftForm(body, ctx, seed, null);
}

export async function renderEdit(root, params, ctx) {
  const body = frame(root, ctx, "/letters/drafts", "lt.edit");
  let letter;
  try {
    letter = await ctx.api.get(`${LETTERS}/letters/${encodeURIComponent(params.id)}`, { signal: ctx.signal });
  } catch (err) {
    fail(ctx, body, err);
    return;
  }
  await draftForm(body, ctx, letter, letter.letter_id);
}

async function draftForm(body, ctx, seed, letterId) {
  const { t, api } = ctx;
  let directory, ownOrg, limit;
  try {
    [directory, ownOrg, limit] = await Promise.all([loadOrgDirectory(ctx), myOrg(ctx), uploadLimit(ctx)]);
  } catch (err) {
    fail(ctx, body, err);
    return;
  }
  const sender = labelled(t("lt.f.sender"), h("input", { name: "sender_org", maxlength: "64", required: true, value: seed.sender_org || ownOrg, list: "lt-orgs" }));
  const datalist = h("datalist", { id: "lt-orgs" }, directory.map((o) => h("option", { value: o.code })));
  const recipients = orgPicker(ctx, directory, { label: t("lt.f.recipients"), searchLabel: t("lt.f.recipients.search"), hint: t("lt.f.recipients.hint") });
  recipients.set((seed.recipients || []).map((r) => {
    const code = orgCode(r);
    return directory.find((o) => o.code === code) || { code };
  }));
  const subject = labelled(t("lt.f.subject"), h("input", { name: "subject", maxlength: "500", required: true, value: seed.subject || "" }));
  const text = labelled(t("lt.f.body"), h("textarea", { name: "body", rows: "10" }));
  text[1].value = seed.body || "";
  const labels = [...DEFAULT_LABELS];
  if (seed.label && !labels.includes(seed.label)) labels.push(seed.label);
  const label = labelled(t("lt.f.label"), select([["", t("label.default")], ...labels.map((l) => [l, labelName(l, ctx)])], seed.label || ""));
  label[1].name = "label";

  // Attachments: each entry {mxc, name, size} once uploaded; uploads in flight are counted.
  const files = (seed.attachments || []).map((a) => ({ mxc: a.mxc, name: a.name, size: a.size }));
  let inFlight = 0;
  const fileList = h("ul", { class: "lt-files", "aria-label": t("lt.f.attachments") });
  const fileErrors = h("div", { "aria-live": "polite" });
  const renderFiles = () => {
    for (const li of [...fileList.querySelectorAll("li[data-done]")]) li.remove();
    for (const [i, f] of files.entries()) {
      fileList.append(h("li", { dataset: { done: "1" } },
        h("span", {}, f.name), f.size ? h("span", { class: "lt-muted" }, ` (${fmtBytes(f.size)})`) : null, " ",
        h("button", { type: "button", class: "lt-small", "aria-label": t("lt.remove", { name: f.name }), onClick: () => {
          files.splice(i, 1);
          renderFiles();
        } }, "×")));
    }
  };
  renderFiles();
  const picker = h("input", { type: "file", multiple: true, id: "lt-attach", name: "attachments" });
  picker.addEventListener("change", () => {
    const chosen = [...picker.files];
    picker.value = "";
    for (const file of chosen) {
      if (limit && file.size > limit) {
        fileErrors.append(h("p", { class: "adm-error", role: "alert" }, t("lt.tooLarge", { name: file.name, size: fmtBytes(file.size), limit: fmtBytes(limit) })));
        continue;
      }
      const bar = h("progress", { max: "100", value: "0", "aria-label": t("lt.uploading", { name: file.name }) });
      const job = upload(file, (loaded, total) => {
        bar.value = Math.round((loaded / total) * 100);
      });
      const cancel = h("button", { type: "button", class: "lt-small", "aria-label": t("lt.uploadCancel", { name: file.name }), onClick: () => job.abort() }, "×");
      const row = h("li", { class: "lt-uploading" }, h("span", {}, file.name), " ", bar, " ", cancel);
      fileList.append(row);
      inFlight += 1;
      job.promise.then((mxc) => {
        files.push({ mxc, name: file.name, size: file.size });
      }).catch((err) => {
        if (err.name !== "AbortError") fileErrors.append(h("p", { class: "adm-error", role: "alert" }, t("lt.uploadFailed", { name: file.name, error: err.message })));
      }).finally(() => {
        inFlight -= 1;
        row.remove();
        renderFiles();
      });
      ctx.signal.addEventListener("abort", () => job.abort());
    }
  });
  const attachments = h("fieldset", { class: "lt-attachments" }, h("legend", {}, t("lt.f.attachments")),
    fileList, h("label", { for: "lt-attach", class: "lt-attach-label" }, t("lt.f.attach")), picker, fileErrors);

  const approvers = peoplePicker(ctx, { label: t("lt.f.approvers"), searchLabel: t("lt.f.approvers.search"), ordered: true });
  approvers.set(asPeople(seed.approvers));
  const mode = seed.approval || seed.approval_mode || "ordered";
  const radios = ["ordered", "parallel"].map((m) => h("label", { class: "lt-radio" },
    h("input", { type: "radio", name: "approval", value: m, checked: m === mode }), " ", t(`lt.f.${m}`)));
  const approval = h("fieldset", { class: "lt-approval" }, h("legend", {}, t("lt.f.approval")), radios);
  const signatory = peoplePicker(ctx, { label: t("lt.f.signatory"), searchLabel: t("lt.f.signatory.search"), single: true });
  signatory.set(asPeople([seed.signatory]));

  const errors = h("div", { "aria-live": "assertive" });
  const save = h("button", { type: "submit", class: "primary", value: "save" }, t("lt.save"));
  const saveSubmit = h("button", { type: "submit", value: "submit" }, t("lt.saveSubmit"));
  const form = h("form", { class: "lt-form", novalidate: true },
    seed.reply_to ? h("p", { class: "lt-muted" }, t("lt.replyTo", { id: seed.reply_to })) : null,
    sender[0], datalist, recipients.el, subject[0], text[0], label[0], attachments,
    approvers.el, approval, signatory.el, errors, h("div", { class: "adm-actions" }, save, saveSubmit));
  let saved = letterId;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    const problem = inFlight ? t("lt.uploadsPending")
      : !recipients.values().length ? t("lt.needRecipient")
      : !subject[1].value.trim() ? t("lt.needSubject") : null;
    if (problem) {
      errors.append(h("p", { class: "adm-error", role: "alert" }, problem));
      return;
    }
    const andSubmit = ev.submitter === saveSubmit;
    const payload = {
      sender_org: sender[1].value.trim(),
      recipients: recipients.values(),
      subject: subject[1].value.trim(),
      body: text[1].value,
      attachments: files.map((f) => ({ mxc: f.mxc, name: f.name })),
      label: label[1].value || null,
      approvers: approvers.values(),
      approval: form.querySelector("input[name=approval]:checked").value,
      signatory: signatory.values()[0] || null,
    };
    if (seed.reply_to) payload.reply_to = seed.reply_to;
    save.disabled = saveSubmit.disabled = true;
    try {
      const letter = saved
        ? await api.put(`${LETTERS}/letters/${encodeURIComponent(saved)}`, payload)
        : await api.post(`${LETTERS}/letters`, payload);
      const id = letter.letter_id || saved;
      saved = id; // a failed submit after a saved draft must not create a second draft
      if (andSubmit) {
        await api.post(`${LETTERS}/letters/${encodeURIComponent(id)}/submit`, {});
        ctx.notify(t("lt.done.submit"), "ok");
      } else {
        ctx.notify(t(letterId ? "lt.done.edit" : "lt.done.created"), "ok");
      }
      ctx.navigate(`/letters/${encodeURIComponent(id)}`);
    } catch (err) {
      errors.replaceChildren(errorBox(ctx, err));
      save.disabled = saveSubmit.disabled = false;
    }
  });
  body.append(h("section", { class: "adm-section" }, form));
}
