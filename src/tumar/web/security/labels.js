// Labels and rules: the configured labels (lowest first), defaults, the end-to-end encryption
// mode of each label and the policy chain; rooms by label with a change of label (raising or
// lowering, always with a reason that goes to the audit log). Data: GET /labels,
// GET /labels/rooms, PUT /labels/rooms/{room_id}.

import { h } from "../lib/dom.js";
import { ADMIN, confirmDialog, errorBox, field, query, select, table, withQuery } from "../admin/common.js";

const PAGE = 100;

export async function renderLabels(body, ctx) {
  const { t, api } = ctx;
  const q = query();
  const filter = { label: q.get("label") || "", at_least: q.get("at_least") || "" };
  let settings;
  let rooms;
  try {
    const qs = new URLSearchParams({ limit: String(PAGE) });
    if (filter.label) qs.set("label", filter.label);
    if (filter.at_least) qs.set("at_least", filter.at_least);
    [settings, rooms] = await Promise.all([
      api.get(`${ADMIN}/labels`, { signal: ctx.signal }),
      api.get(`${ADMIN}/labels/rooms?${qs}`, { signal: ctx.signal }),
    ]);
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  const rank = new Map(settings.labels.map((l, i) => [l, i]));
  body.append(
    h("section", { class: "adm-section", "aria-labelledby": "sec-labels" },
      h("h2", { id: "sec-labels" }, t("sec.labels.configured")),
      h("ol", { class: "sec-label-order", "aria-label": t("sec.labels.order") },
        settings.labels.map((l) => h("li", {}, h("span", { class: `sec-label sec-label-${rank.get(l)}` }, l), " ",
          h("span", { class: "adm-hint" }, t("sec.labels.e2ee", { mode: t(`sec.e2ee.${settings.e2ee[l] || "allowed"}`) }))))),
      h("dl", { class: "adm-facts" },
        h("dt", {}, t("sec.labels.defaultRoom")), h("dd", {}, settings.default_room),
        h("dt", {}, t("sec.labels.defaultDirect")), h("dd", {}, settings.default_direct),
        h("dt", {}, t("sec.labels.externalMax")), h("dd", {}, settings.external_max || "—"),
        h("dt", {}, t("sec.labels.rules")), h("dd", {}, settings.rules.length ? h("ol", { class: "sec-rules" }, settings.rules.map((r) => h("li", {}, h("code", {}, r)))) : "—"))),
  );
  const labelOptions = [["", t("admin.any")], ...settings.labels.map((l) => [l, l])];
  const [labelField, labelCtl] = field(t("sec.labels.only"), select(labelOptions, filter.label));
  const [atLeastField, atLeastCtl] = field(t("sec.labels.atLeast"), select(labelOptions, filter.at_least));
  const section = h("section", { class: "adm-section", "aria-labelledby": "sec-rooms" }, h("h2", { id: "sec-rooms" }, t("sec.labels.rooms")));
  section.append(h("form", { class: "adm-filter", onSubmit: (ev) => {
    ev.preventDefault();
    ctx.navigate(withQuery("/security/labels", { label: labelCtl.value, at_least: atLeastCtl.value }));
  } }, labelField, atLeastField, h("button", { type: "submit", class: "primary" }, t("admin.show"))));
  if (!rooms.rooms.length) {
    section.append(h("p", { role: "status" }, t("sec.labels.noRooms")));
  } else {
    section.append(table(ctx, null, [
      [t("sec.labels.room"), (r) => h("code", {}, r.room_id)],
      [t("sec.labels.label"), (r) => h("span", { class: `sec-label sec-label-${rank.get(r.label) ?? 0}` }, r.label, r.labelled ? "" : ` (${t("sec.labels.byDefault")})`)],
      [t("sec.labels.audience"), (r) => [r.kinds.length ? r.kinds.map((k) => t(`admin.kind.${k}`)).join(", ") : t("sec.labels.anyone"), r.orgs.length ? ` · ${r.orgs.join(", ")}` : ""]],
      [t("sec.labels.e2eeCol"), (r) => t(`sec.e2ee.${r.e2ee}`)],
      [t("sec.labels.creator"), (r) => `${r.creator}${r.creator_org ? ` (${r.creator_org})` : ""}`],
      [t("admin.actions"), (r) => h("button", { type: "button", "aria-label": t("sec.labels.changeOne", { room: r.room_id }), onClick: () => change(ctx, settings, r) }, t("sec.labels.change"))],
    ], rooms.rooms, { class: "sec-rooms" }));
  }
  body.append(section);
}

async function change(ctx, settings, room) {
  const { t, api } = ctx;
  const [labelField, labelCtl] = field(t("sec.labels.newLabel"), select(settings.labels.map((l) => [l, l]), room.label));
  const answer = await confirmDialog(ctx, {
    title: t("sec.labels.changeTitle"),
    text: t("sec.labels.changeText", { room: room.room_id, label: room.label }),
    confirm: t("sec.labels.change"),
    reason: "required",
    extra: labelField,
  });
  if (!answer) return;
  try {
    const done = await api.put(`${ADMIN}/labels/rooms/${encodeURIComponent(room.room_id)}`, {
      label: labelCtl.value, kinds: room.kinds, orgs: room.orgs, reason: answer.reason,
    });
    ctx.notify(done.changed ? t("sec.labels.changed", { label: done.room.label }) : t("sec.labels.unchanged"), "ok");
    ctx.navigate(withQuery("/security/labels", Object.fromEntries(query())));
  } catch (err) {
    ctx.notify(err.message, "error");
  }
}
