// The organisation tree: nested lists with native <details> (keyboard and screen readers know
// them), a filter that keeps the matches and their ancestors, and per organisation its code,
// kind, deadline, second-factor rule, share registered (when the user may see the rollout)
// and a link to its people.

import { ADMIN, can, day, errorBox, field, loadOrgs, num, orgName, page, pct, withQuery } from "./common.js";

const OPEN_DEPTH = 2; // levels shown open at first

export async function renderOrgs(root, params, ctx) {
  const { h, t, api } = ctx;
  const body = page(root, ctx, "/admin/orgs", "admin.orgs.title");
  let orgs;
  let figures = new Map();
  try {
    const [loaded, board] = await Promise.all([
      loadOrgs(ctx),
      can(ctx, "rollout") ? api.get(`${ADMIN}/rollout`, { signal: ctx.signal }).catch(() => null) : null,
    ]);
    orgs = loaded;
    if (board) figures = new Map(board.organisations.map((e) => [e.code, e.total]));
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  const children = new Map();
  const tops = [];
  for (const o of orgs.list) {
    if (o.parent_code && orgs.byCode.has(o.parent_code)) {
      if (!children.has(o.parent_code)) children.set(o.parent_code, []);
      children.get(o.parent_code).push(o);
    } else {
      tops.push(o);
    }
  }
  const filterInput = h("input", { type: "search", autocomplete: "off", maxlength: "100" });
  const [filterField] = field(t("admin.orgs.filter"), filterInput);
  const count = h("p", { role: "status", class: "adm-found" }, t("admin.orgs.count", { count: orgs.list.length }));
  const tree = h("div", { class: "adm-tree" });
  body.append(h("form", { class: "adm-filter", role: "search", onSubmit: (ev) => ev.preventDefault() }, filterField), count, tree);

  const node = (o, depth, keep) => {
    const kids = (children.get(o.code) || []).filter((k) => !keep || keep.has(k.code));
    const fig = figures.get(o.code);
    const facts = [
      h("span", { class: "adm-org-code" }, o.code),
      h("span", { class: "adm-org-kind" }, t(`admin.orgKind.${o.kind}`)),
      o.register_by ? h("span", {}, t("admin.orgs.registerBy", { date: day(ctx, o.register_by) })) : null,
      o.mfa_required ? h("span", { class: "adm-badge" }, t("admin.orgs.mfa")) : null,
      fig && fig.people ? h("span", { class: fig.overdue ? "adm-badge adm-warn" : "adm-badge" },
        t("admin.orgs.registered", { pct: pct(ctx, fig.percent_registered), people: num(ctx, fig.people) })) : null,
      h("a", { href: "#" + withQuery("/admin/people", { org: o.code }) }, t("admin.orgs.people")),
    ];
    const line = [h("span", { class: "adm-org-name" }, orgName(ctx, o)), h("span", { class: "adm-org-facts" }, facts)];
    if (!kids.length) return h("li", { class: "adm-leaf" }, h("div", { class: "adm-org" }, line));
    return h(
      "li",
      {},
      h(
        "details",
        { open: keep ? true : depth < OPEN_DEPTH },
        h("summary", { class: "adm-org" }, line),
        h("ul", {}, kids.map((k) => node(k, depth + 1, keep))),
      ),
    );
  };

  const draw = () => {
    const needle = filterInput.value.trim().toLowerCase();
    let keep = null;
    if (needle) {
      keep = new Set();
      for (const o of orgs.list) {
        const hay = [o.code, o.name_ru, o.name_kk, o.name_en].join(" ").toLowerCase();
        if (!hay.includes(needle)) continue;
        let at = o;
        while (at && !keep.has(at.code)) {
          keep.add(at.code);
          at = orgs.byCode.get(at.parent_code);
        }
      }
      count.textContent = t("admin.orgs.matches", { count: [...keep].length });
    } else {
      count.textContent = t("admin.orgs.count", { count: orgs.list.length });
    }
    const shown = tops.filter((o) => !keep || keep.has(o.code));
    tree.replaceChildren(shown.length ? h("ul", { class: "adm-tree-root" }, shown.map((o) => node(o, 0, keep))) : h("p", {}, t("admin.orgs.none")));
  };
  filterInput.addEventListener("input", draw);
  draw();
}
