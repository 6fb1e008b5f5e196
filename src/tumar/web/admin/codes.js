// Activation codes for an organisation subtree: issue them for everyone without an account
// (and, with re-issue, replace live codes), see them once, and export them as CSV for the
// printed letters. The CSV has the columns of the server's own letters CSV
// (core/letters.py), written here from the same answer, because a code is shown only once:
// asking the server again would issue new ones.

import {
  ADMIN, confirmDialog, csv, download, errorBox, field, loadOrgs, orgName, orgSelect, page, query, table,
} from "./common.js";

const LETTER_COLUMNS = [
  "personnel_number", "name_cyr", "name_lat", "org_code", "organisation_kk", "organisation_ru",
  "user_id", "localpart", "code", "expires_utc",
];

export function lettersCsv(codes) {
  return csv(LETTER_COLUMNS, codes.map((c) => [
    c.personnel_number, c.name_cyr, c.name_lat, c.org_code, c.org_name_kk, c.org_name_ru,
    c.user_id, c.localpart, c.code, c.expires_utc,
  ]));
}

export async function renderCodes(root, params, ctx) {
  const { h, t, api } = ctx;
  const body = page(root, ctx, "/admin/codes", "admin.codes.title");
  let orgs;
  try {
    orgs = await loadOrgs(ctx);
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  const [orgField, orgCtl] = field(t("admin.org"), orgSelect(ctx, orgs, query().get("org") || "", "admin.org.choose"));
  orgCtl.required = true;
  const reissue = h("input", { type: "checkbox", id: "adm-codes-reissue" });
  const result = h("div", { class: "adm-codes-result" });
  const submit = h("button", { type: "submit", class: "primary" }, t("admin.codes.issueAll"));
  const form = h(
    "form",
    { class: "adm-form" },
    orgField,
    h("div", { class: "adm-check" }, reissue, h("label", { for: "adm-codes-reissue" }, t("admin.codes.reissueAll"))),
    h("div", { class: "adm-actions" }, submit),
  );
  body.append(h("p", { class: "adm-lead" }, t("admin.codes.lead")), form, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = orgCtl.value;
    if (!code) {
      orgCtl.focus();
      return;
    }
    const org = orgs.byCode.get(code);
    const yes = await confirmDialog(ctx, {
      title: t("admin.codes.confirmTitle"),
      text: t(reissue.checked ? "admin.codes.confirmReissue" : "admin.codes.confirm", { org: org ? orgName(ctx, org) : code }),
      confirm: t("admin.codes.issueAll"),
      danger: reissue.checked,
    });
    if (!yes) return;
    submit.disabled = true;
    try {
      const { codes, count } = await api.post(`${ADMIN}/activation-codes`, { org_code: code, reissue: reissue.checked });
      result.replaceChildren();
      if (!count) {
        result.append(h("p", { role: "status" }, t("admin.codes.noneToIssue")));
        return;
      }
      const save = () => download(new Blob([lettersCsv(codes)], { type: "text/csv;charset=utf-8" }), `activation-codes-${code}.csv`);
      result.append(
        h("p", { role: "status", class: "adm-ok" }, t("admin.codes.issued", { count })),
        h("p", { class: "adm-warn-text" }, t("admin.codes.onceOnlyAll")),
        h("div", { class: "adm-actions" }, h("button", { type: "button", class: "primary", onClick: save }, t("admin.codes.exportCsv"))),
        table(ctx, t("admin.codes.caption"), [
          [t("admin.person.name"), (c) => c.name_cyr],
          [t("admin.person.number"), (c) => c.personnel_number],
          [t("admin.codes.login"), (c) => c.user_id],
          [t("admin.codes.code"), (c) => h("code", { class: "adm-code" }, c.code)],
          [t("admin.codes.expiresCol"), (c) => ctx.fmtDate(c.expiry_ts, { dateStyle: "medium" })],
        ], codes, { class: "adm-codes" }),
      );
    } catch (err) {
      result.replaceChildren(errorBox(ctx, err));
    } finally {
      submit.disabled = false;
    }
  });
}
