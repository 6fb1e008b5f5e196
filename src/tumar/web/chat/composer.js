// The composer: Enter sends, Shift+Enter adds a line; replies and edits; file upload with
// progress; typing notifications; drafts kept per room so nothing typed is lost.

import { h, replace, uid } from "../lib/dom.js";
import { ApiError } from "../lib/api.js";
import { fmtBytes } from "../lib/i18n.js";
import { drafts } from "./drafts.js";
import { imageSize, upload } from "./media.js";

export const MAX_MESSAGE_BYTES = 60000; // the server refuses events over 65536 bytes
const TYPING_EVERY_MS = 4000;

function clipIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.8");
  path.setAttribute("stroke-linecap", "round");
  svg.append(path);
  return svg;
}

function byteLength(text) {
  return new TextEncoder().encode(text).length;
}

export function errorMessage(err, ctx) {
  if (err instanceof ApiError) {
    if (err.status === 0) return ctx.t("error.network");
    if (err.errcode === "M_TOO_LARGE") return ctx.t("composer.too_large_server", { detail: err.message });
    return err.message || ctx.t("error.generic");
  }
  return (err && err.message) || ctx.t("error.generic");
}

export function createComposer(room, ctx) {
  const client = ctx.chat;
  const state = { mode: null, target: null, typingAt: 0, uploading: null };
  const inputId = uid("composer");
  const fileId = uid("file");
  const context = h("div", { class: "composer-context", hidden: true });
  const problem = h("div", { class: "composer-error", role: "alert" });
  const progress = h("div", { class: "upload", hidden: true });
  const textarea = h("textarea", {
    id: inputId,
    class: "composer-input",
    rows: "1",
    placeholder: ctx.t("composer.placeholder"),
    "aria-describedby": `${inputId}-hint`,
  });
  textarea.value = drafts.get(room.id);
  const hint = h("span", { id: `${inputId}-hint`, class: "visually-hidden" }, ctx.t("composer.hint"));
  const fileInput = h("input", {
    id: fileId,
    type: "file",
    class: "visually-hidden",
    tabindex: "-1",
    "aria-hidden": "true",
  });
  const attach = h(
    "button",
    { type: "button", class: "icon attach", "aria-label": ctx.t("composer.attach"), title: ctx.t("composer.attach") },
    clipIcon(),
  );
  const send = h("button", { type: "submit", class: "primary send" }, ctx.t("composer.send"));

  function autosize() {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight, 200)}px`;
  }

  function setProblem(text) {
    replace(problem, text ? h("p", { class: "error" }, text) : null);
  }

  function saveDraft() {
    if (state.mode !== "edit") drafts.set(room.id, textarea.value);
  }

  function setContext(mode, target) {
    state.mode = mode;
    state.target = target;
    if (!mode) {
      context.hidden = true;
      replace(context);
      return;
    }
    const who = room.memberName(target.sender);
    const label = mode === "reply" ? ctx.t("composer.replying", { name: who }) : ctx.t("composer.editing");
    const body = (target.content && target.content.body) || "";
    replace(
      context,
      h("span", { class: "context-label" }, label),
      h("span", { class: "context-text" }, body.length > 80 ? `${body.slice(0, 80)}…` : body),
      h(
        "button",
        { type: "button", class: "small ghost", onClick: () => cancelContext(), "aria-label": ctx.t("composer.cancel_named", { what: label }) },
        ctx.t("composer.cancel"),
      ),
    );
    context.hidden = false;
  }

  function cancelContext() {
    const wasEdit = state.mode === "edit";
    setContext(null, null);
    if (wasEdit) textarea.value = drafts.get(room.id);
    autosize();
    textarea.focus();
  }

  function typing(active) {
    const now = Date.now();
    if (active && now - state.typingAt > TYPING_EVERY_MS) {
      state.typingAt = now;
      client.setTyping(room, true);
    } else if (!active && state.typingAt) {
      state.typingAt = 0;
      client.setTyping(room, false);
    }
  }

  async function submit() {
    const text = textarea.value;
    if (!text.trim()) {
      setProblem(ctx.t("composer.empty"));
      return;
    }
    const size = byteLength(text);
    if (size > MAX_MESSAGE_BYTES) {
      setProblem(ctx.t("composer.too_long", { size: fmtBytes(size), limit: fmtBytes(MAX_MESSAGE_BYTES) }));
      return;
    }
    setProblem(null);
    let content = { msgtype: "m.text", body: text };
    const { mode, target } = state;
    if (mode === "reply") {
      content["m.relates_to"] = { "m.in_reply_to": { event_id: target.event_id } };
    } else if (mode === "edit") {
      content = {
        msgtype: "m.text",
        body: `* ${text}`,
        "m.new_content": { msgtype: "m.text", body: text },
        "m.relates_to": { rel_type: "m.replace", event_id: target.event_id },
      };
    }
    textarea.value = "";
    setContext(null, null);
    if (mode !== "edit") drafts.set(room.id, "");
    autosize();
    typing(false);
    try {
      await client.send(room, "m.room.message", content);
    } catch (err) {
      // Nothing typed is lost: the text goes back into the composer, and into the draft.
      if (!textarea.value) textarea.value = text;
      else textarea.value = `${text}\n${textarea.value}`;
      if (mode) setContext(mode, target);
      saveDraft();
      autosize();
      setProblem(`${ctx.t("composer.not_sent")} ${errorMessage(err, ctx)}`);
    }
  }

  async function sendFile(file) {
    setProblem(null);
    const limit = client.uploadLimit;
    if (limit && file.size > limit) {
      setProblem(ctx.t("composer.file_too_big", { name: file.name, size: fmtBytes(file.size), limit: fmtBytes(limit) }));
      return;
    }
    if (state.uploading) {
      setProblem(ctx.t("composer.upload_busy"));
      return;
    }
    const bar = h("progress", { max: "100", value: "0", "aria-label": ctx.t("composer.uploading", { name: file.name }) });
    const pct = h("span", { class: "upload-pct" }, "0%");
    const task = upload(file, (loaded, total) => {
      const value = Math.round((loaded / total) * 100);
      bar.value = value;
      pct.textContent = ctx.fmtNumber(value / 100, { style: "percent" });
    });
    state.uploading = task;
    replace(
      progress,
      h("span", { class: "upload-name" }, ctx.t("composer.uploading", { name: file.name })),
      bar,
      pct,
      h("button", { type: "button", class: "small ghost", onClick: () => task.abort() }, ctx.t("composer.cancel")),
    );
    progress.hidden = false;
    try {
      const uri = await task.promise;
      const isImage = /^image\/(png|jpeg|gif|webp)$/.test(file.type);
      const info = { mimetype: file.type || "application/octet-stream", size: file.size };
      if (isImage) {
        const dims = await imageSize(file);
        if (dims) Object.assign(info, dims);
      }
      await client.send(room, "m.room.message", {
        msgtype: isImage ? "m.image" : "m.file",
        body: file.name,
        url: uri,
        info,
      });
    } catch (err) {
      if (!(err && err.name === "AbortError")) {
        setProblem(`${ctx.t("composer.upload_failed", { name: file.name })} ${errorMessage(err, ctx)}`);
      }
    } finally {
      state.uploading = null;
      progress.hidden = true;
      replace(progress);
    }
  }

  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === "Escape" && state.mode) {
      e.preventDefault();
      cancelContext();
    } else if (e.key === "ArrowUp" && !textarea.value && !state.mode) {
      const own = [...room.timeline]
        .reverse()
        .find((ev) => ev.sender === client.userId && ev.type === "m.room.message" && !ev.pending && !(ev.unsigned && ev.unsigned.redacted_because) && !(ev.content["m.relates_to"] && ev.content["m.relates_to"].rel_type === "m.replace") && (!ev.content.msgtype || ev.content.msgtype === "m.text"));
      if (own && handle.onEditLast) {
        e.preventDefault();
        handle.onEditLast(own);
      }
    }
  });
  textarea.addEventListener("input", () => {
    saveDraft();
    autosize();
    if (problem.firstChild) setProblem(null);
    typing(Boolean(textarea.value.trim()));
  });
  textarea.addEventListener("blur", () => typing(false));
  attach.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (file) sendFile(file);
  });

  const form = h(
    "form",
    {
      class: "composer",
      "aria-label": ctx.t("composer.label"),
      onSubmit: (e) => {
        e.preventDefault();
        submit();
      },
    },
    context,
    progress,
    problem,
    h(
      "div",
      { class: "composer-row" },
      attach,
      fileInput,
      h("label", { for: inputId, class: "visually-hidden" }, ctx.t("composer.label")),
      textarea,
      hint,
      send,
    ),
  );
  form.addEventListener("dragover", (e) => e.preventDefault());
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) sendFile(file);
  });

  const handle = {
    element: form,
    textarea,
    focus: () => textarea.focus(),
    reply(ev) {
      if (state.mode === "edit") textarea.value = drafts.get(room.id);
      setContext("reply", ev);
      textarea.focus();
    },
    edit(ev, text) {
      saveDraft();
      setContext("edit", ev);
      textarea.value = text;
      autosize();
      textarea.focus();
      textarea.setSelectionRange(text.length, text.length);
    },
    sendFile,
    onEditLast: null,
    stop() {
      typing(false);
    },
  };
  setTimeout(autosize, 0);
  return handle;
}
