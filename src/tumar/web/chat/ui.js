// Small shared pieces: avatars, modal dialogs (native <dialog>: focus stays inside, Escape
// closes) and a confirmation question.

import { h, replace, uid } from "../lib/dom.js";

function initials(name) {
  const clean = String(name || "").replace(/^[@#!]/, "").trim();
  return (clean[0] || "?").toUpperCase();
}

export function avatar(name, extra = "") {
  return h("span", { class: `avatar ${extra}`, "aria-hidden": "true" }, initials(name));
}

/** Open a modal dialog; `build(close)` returns its content. Resolves when it closes. */
export function modal(ctx, title, build, { wide = false } = {}) {
  const titleId = uid("dlg");
  const dialog = h("dialog", { class: ["dialog", wide && "wide"], "aria-labelledby": titleId });
  let result;
  const close = (value) => {
    result = value;
    dialog.close();
  };
  const closed = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
  });
  replace(
    dialog,
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: titleId }, title),
      h("button", { type: "button", class: "icon close", "aria-label": ctx.t("dialog.close"), onClick: () => close(undefined) }, "×"),
    ),
    build(close),
  );
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector("input, select, textarea, button.primary");
  if (first) first.focus();
  return closed;
}

export function confirmDialog(ctx, question, yesLabel) {
  return modal(ctx, question, (close) =>
    h(
      "div",
      { class: "dialog-actions" },
      h("button", { type: "button", class: "ghost", onClick: () => close(false) }, ctx.t("dialog.cancel")),
      h("button", { type: "button", class: "primary danger", onClick: () => close(true) }, yesLabel),
    ),
  ).then((v) => v === true);
}
