// People: search and filters (text, organisation subtree, status, kind, registered), a page
// of results, and one person's page with their account: activation code, suspension,
// deactivation, and their sessions and devices with revoke.

import {
  ADMIN, can, confirmDialog, errorBox, field, loadOrgs, orgName, orgSelect, page, query, select,
  table, withQuery,
} from "./common.js";

const PAGE = 50;

export async function renderPeople(root, params, ctx) {
  const { h, t, api } = ctx;
  const body = page(root, ctx, "/admin/people", "admin.people.title");
  const q = query();
  const state = {
    q: q.get("q") || "",
    org: q.get("org") || "",
    status: q.get("status") || "",
    kind: q.get("kind") || "",
    registered: q.get("registered") || "",
    offset: Math.max(0, Number(q.get("offset")) || 0),
  };
  let orgs;
  let found;
  try {
    const qs = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset) });
    for (const k of ["q", "org", "status", "kind", "registered"]) if (state[k]) qs.set(k, state[k]);
    [orgs, found] = await Promise.all([loadOrgs(ctx), api.get(`${ADMIN}/people?${qs}`, { signal: ctx.signal })]);
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  const text = h("input", { type: "search", value: state.q, maxlength: "200", autocomplete: "off" });
  const [textField] = field(t("admin.people.search"), text);
  const [orgField, orgCtl] = field(t("admin.org"), orgSelect(ctx, orgs, state.org));
  const [statusField, statusCtl] = field(
    t("admin.person.status"),
    select([["", t("admin.any")], ["active", t("admin.status.active")], ["departed", t("admin.status.departed")]], state.status),
  );
  const [kindField, kindCtl] = field(
    t("admin.person.kind"),
    select([["", t("admin.any")], ["official", t("admin.kind.official")], ["external", t("admin.kind.external")]], state.kind),
  );
  const [regField, regCtl] = field(
    t("admin.person.account"),
    select([["", t("admin.any")], ["true", t("admin.people.registered")], ["false", t("admin.people.notRegistered")]], state.registered),
  );
  const form = h(
    "form",
    {
      class: "adm-filter",
      role: "search",
      onSubmit: (ev) => {
        ev.preventDefault();
        ctx.navigate(withQuery("/admin/people", {
          q: text.value.trim(), org: orgCtl.value, status: statusCtl.value, kind: kindCtl.value,
          registered: regCtl.value,
        }));
      },
    },
    textField, orgField, statusField, kindField, regField,
    h("button", { type: "submit", class: "primary" }, t("admin.find")),
  );
  body.append(form);
  body.append(h("p", { role: "status", class: "adm-found" }, t("admin.people.found", { count: found.total })));
  if (found.people.length) {
    body.append(
      table(
        ctx,
        null,
        [
          [t("admin.person.name"), (p) => h("a", { href: `#/admin/people/${encodeURIComponent(p.person_id)}` }, p.name_cyr), "adm-name"],
          [t("admin.person.number"), (p) => p.personnel_number],
          [t("admin.org"), (p) => orgName(ctx, orgs.byCode.get(p.org_code)) || p.org_code],
          [t("admin.person.position"), (p) => p.position || "—"],
          [t("admin.person.status"), (p) => t(`admin.status.${p.status}`) + (p.kind === "external" ? ` · ${t("admin.kind.external")}` : "")],
          [t("admin.person.account"), (p) => p.user_id || t("admin.people.noAccount")],
        ],
        found.people,
        { class: "adm-people", rowClass: (p) => (p.status === "departed" ? "adm-row-muted" : null) },
      ),
    );
  }
  const pager = h("nav", { class: "adm-pager", "aria-label": t("admin.pages") });
  const at = (offset) => "#" + withQuery("/admin/people", { ...state, offset });
  if (state.offset > 0) pager.append(h("a", { href: at(Math.max(0, state.offset - PAGE)) }, t("admin.prev")));
  if (state.offset + found.people.length < found.total) pager.append(h("a", { href: at(state.offset + PAGE) }, t("admin.next")));
  if (pager.childNodes.length) body.append(pager);
}

export async function renderPerson(root, params, ctx) {
  const { h, t, api } = ctx;
  const body = page(root, ctx, "/admin/people", "admin.person.title");
  const id = params.id;
  const url = `${ADMIN}/people/${encodeURIComponent(id)}`;
  let person;
  let orgs;
  try {
    [person, orgs] = await Promise.all([api.get(url, { signal: ctx.signal }), loadOrgs(ctx)]);
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  root.querySelector("h1").textContent = person.name_cyr;
  const org = orgs.byCode.get(person.org_code);
  const row = (key, value) => [h("dt", {}, t(key)), h("dd", {}, value || "—")];
  body.append(
    h(
      "dl",
      { class: "adm-facts" },
      row("admin.person.nameLat", person.name_lat),
      row("admin.person.number", person.personnel_number),
      row("admin.org", org ? h("a", { href: "#" + withQuery("/admin/people", { org: org.code }) }, orgName(ctx, org)) : person.org_code),
      row("admin.person.position", person.position),
      row("admin.person.email", person.email),
      row("admin.person.phone", person.phone),
      row("admin.person.clearance", person.clearance),
      row("admin.person.kind", t(`admin.kind.${person.kind}`)),
      row("admin.person.status", t(`admin.status.${person.status}`)),
      row("admin.person.account", person.user_id || t("admin.people.noAccount")),
    ),
  );
  const manage = can(ctx, "accounts.manage");
  if (!person.user_id) {
    if (manage && person.status === "active") body.append(codeSection(ctx, person));
    return;
  }
  body.append(await sessionsSection(ctx, person, manage));
  if (manage) body.append(accountSection(ctx, person));
}

function codeSection(ctx, person) {
  const { h, t, api } = ctx;
  const out = h("section", { class: "adm-section", "aria-labelledby": "adm-code" }, h("h2", { id: "adm-code" }, t("admin.codes.title")));
  const result = h("div", { "aria-live": "polite" });
  const issue = async (reissue) => {
    try {
      const { codes } = await api.post(`${ADMIN}/activation-codes`, { person_ids: [person.person_id], reissue });
      const c = codes[0];
      result.replaceChildren(
        h(
          "div",
          { class: "adm-code-box" },
          h("p", {}, t("admin.codes.onceOnly")),
          h("p", {}, t("admin.codes.login"), " ", h("strong", {}, c.user_id)),
          h("p", {}, t("admin.codes.code"), " ", h("strong", { class: "adm-code" }, c.code)),
          h("p", {}, t("admin.codes.expires", { date: ctx.fmtDate(c.expiry_ts) })),
        ),
      );
    } catch (err) {
      if (err.errcode === "TUMAR_CODE_EXISTS" && !reissue) {
        const yes = await confirmDialog(ctx, {
          title: t("admin.codes.reissueTitle"),
          text: t("admin.codes.reissueText"),
          confirm: t("admin.codes.reissue"),
        });
        if (yes) await issue(true);
        return;
      }
      result.replaceChildren(errorBox(ctx, err));
    }
  };
  out.append(
    h("p", {}, t("admin.codes.personLead")),
    h("div", { class: "adm-actions" },
      h("button", { type: "button", class: "primary", onClick: () => issue(false) }, t("admin.codes.issue")),
      h("button", { type: "button", onClick: () => issue(true) }, t("admin.codes.reissue"))),
    result,
  );
  return out;
}

async function sessionsSection(ctx, person, manage) {
  const { h, t, api } = ctx;
  const out = h("section", { class: "adm-section adm-sessions", "aria-labelledby": "adm-sessions" });
  const url = `${ADMIN}/people/${encodeURIComponent(person.person_id)}/sessions`;
  const list = h("div", {});
  out.append(h("h2", { id: "adm-sessions" }, t("admin.sessions.title")), list);
  const load = async () => {
    let data;
    try {
      data = await api.get(url, { signal: ctx.signal });
    } catch (err) {
      if (err.name !== "AbortError") list.replaceChildren(errorBox(ctx, err));
      return;
    }
    if (!data.sessions.length) {
      list.replaceChildren(h("p", {}, t("admin.sessions.none")));
      return;
    }
    const columns = [
      [t("admin.sessions.device"), (s) => h("span", {}, s.display_name || t("admin.sessions.unnamed"), h("br"), h("code", {}, s.device_id))],
      [t("admin.sessions.lastSeen"), (s) => (s.last_seen_ts ? ctx.fmtDate(s.last_seen_ts) : "—")],
      [t("admin.sessions.ip"), (s) => s.last_seen_ip || "—"],
    ];
    if (manage) {
      columns.push([t("admin.actions"), (s) => h("button", {
        type: "button",
        class: "danger",
        "aria-label": t("admin.sessions.revokeOne", { device: s.display_name || s.device_id }),
        onClick: async () => {
          const yes = await confirmDialog(ctx, {
            title: t("admin.sessions.revokeTitle"),
            text: t("admin.sessions.revokeText", { device: s.display_name || s.device_id, user: data.user_id }),
            confirm: t("admin.sessions.revoke"),
            danger: true,
          });
          if (!yes) return;
          try {
            await api.del(`${url}/${encodeURIComponent(s.device_id)}`);
            ctx.notify(t("admin.sessions.revoked", { device: s.display_name || s.device_id }), "ok");
          } catch (err) {
            ctx.notify(err.message, "error");
          }
          await load();
          out.querySelector("h2").setAttribute("tabindex", "-1");
          out.querySelector("h2").focus();
        },
      }, t("admin.sessions.revoke"))]);
    }
    list.replaceChildren(table(ctx, t("admin.sessions.caption", { user: data.user_id }), columns, data.sessions, { class: "adm-session-table" }));
  };
  await load();
  return out;
}

function accountSection(ctx, person) {
  const { h, t, api } = ctx;
  const base = `${ADMIN}/people/${encodeURIComponent(person.person_id)}`;
  const out = h("section", { class: "adm-section", "aria-labelledby": "adm-account" }, h("h2", { id: "adm-account" }, t("admin.account.title")));
  const act = (action, key, danger) => async () => {
    const answer = await confirmDialog(ctx, {
      title: t(`admin.account.${key}Title`),
      text: t(`admin.account.${key}Text`, { user: person.user_id }),
      confirm: t(`admin.account.${key}`),
      danger,
      reason: true,
    });
    if (!answer) return;
    try {
      const state = await api.post(`${base}/${action}`, answer.reason ? { reason: answer.reason } : {});
      const changed = state.changed === undefined || state.changed;
      ctx.notify(t(changed ? `admin.account.${key}Done` : "admin.account.unchanged"), "ok");
      if (action === "deactivate") ctx.navigate(`/admin/people/${encodeURIComponent(person.person_id)}`);
    } catch (err) {
      ctx.notify(err.message, "error");
    }
  };
  out.append(
    h("div", { class: "adm-actions" },
      h("button", { type: "button", onClick: act("suspend", "suspend", false) }, t("admin.account.suspend")),
      h("button", { type: "button", onClick: act("restore", "restore", false) }, t("admin.account.restore")),
      h("button", { type: "button", class: "danger", onClick: act("deactivate", "deactivate", true) }, t("admin.account.deactivate"))),
  );
  return out;
}
