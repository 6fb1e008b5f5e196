// Classification labels: the room's `kz.tumar.classification` state event, shown as a badge in
// the room list and a banner at the top of the room.

import { h } from "../lib/dom.js";
import { has } from "../lib/i18n.js";

// The server's default labels, lowest first; a deployment may configure others, which show
// by their own name.
export const DEFAULT_LABELS = ["public", "internal", "official-use"];

export function labelName(label, ctx) {
  return has(`label.${label}`) ? ctx.t(`label.${label}`) : label;
}

function tone(label) {
  const i = DEFAULT_LABELS.indexOf(label);
  return i < 0 ? "label-other" : `label-${i}`;
}

export function labelBadge(label, ctx, size = "") {
  return h(
    "span",
    { class: ["label-badge", tone(label), size], title: `${ctx.t("label.title")}: ${labelName(label, ctx)}` },
    h("span", { class: "visually-hidden" }, `${ctx.t("label.title")}: `),
    labelName(label, ctx),
  );
}

export function labelBanner(label, ctx) {
  return h(
    "div",
    { class: ["label-banner", tone(label)], role: "note", id: "classification-banner" },
    h("strong", {}, labelName(label, ctx)),
    " · ",
    ctx.t(`label.explain.${DEFAULT_LABELS.includes(label) ? label : "other"}`),
  );
}
