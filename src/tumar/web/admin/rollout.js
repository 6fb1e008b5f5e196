// The rollout dashboard: figures for the chosen subtree, the share registered per
// organisation (bars), registrations over time (bars and a line), and the overdue list with
// a CSV download. Data: GET /rollout, /rollout/timeseries, /rollout/overdue.

import { barChart, timeChart } from "./charts.js";
import {
  ADMIN, day, download, errorBox, field, loadOrgs, num, orgName, orgSelect, page, pct, query,
  select, table, withQuery,
} from "./common.js";

const OVERDUE_PAGE = 10;

export async function renderRollout(root, params, ctx) {
  const { h, t, api } = ctx;
  const body = page(root, ctx, "/admin", "admin.rollout.title");
  const q = query();
  const org = q.get("org") || "";
  const days = ["7", "30", "90", "365"].includes(q.get("days")) ? q.get("days") : "30";
  const offset = Math.max(0, Number(q.get("offset")) || 0);
  const qs = (extra) => new URLSearchParams({ ...(org ? { org } : {}), ...extra }).toString();
  let orgs;
  let board;
  let series;
  let overdue;
  try {
    [orgs, board, series, overdue] = await Promise.all([
      loadOrgs(ctx),
      api.get(`${ADMIN}/rollout?${qs({})}`, { signal: ctx.signal }),
      api.get(`${ADMIN}/rollout/timeseries?${qs({ days })}`, { signal: ctx.signal }),
      api.get(`${ADMIN}/rollout/overdue?${qs({ limit: OVERDUE_PAGE, offset })}`, { signal: ctx.signal }),
    ]);
  } catch (err) {
    if (err.name === "AbortError") return;
    body.append(errorBox(ctx, err));
    return;
  }

  // ---- the filter -----------------------------------------------------------------------
  const [orgField, orgCtl] = field(t("admin.org"), orgSelect(ctx, orgs, org, "admin.org.scope"));
  const dayOptions = ["7", "30", "90", "365"].map((d) => [d, t("admin.rollout.days", { count: Number(d) })]);
  const [daysField, daysCtl] = field(t("admin.rollout.period"), select(dayOptions, days));
  const filter = h(
    "form",
    {
      class: "adm-filter",
      onSubmit: (ev) => {
        ev.preventDefault();
        ctx.navigate(withQuery("/admin", { org: orgCtl.value, days: daysCtl.value }));
      },
    },
    orgField,
    daysField,
    h("button", { type: "submit" }, t("admin.show")),
  );
  body.append(filter);
  body.append(h("p", { class: "adm-asof" }, t("admin.rollout.asof", { date: day(ctx, board.as_of) })));

  // ---- the figures ------------------------------------------------------------------------
  const f = board.total;
  const card = (key, value, cls) =>
    h("div", { class: ["adm-card", cls] }, h("span", { class: "adm-card-label" }, t(key)), h("span", { class: "adm-card-value" }, value));
  body.append(
    h(
      "section",
      { class: "adm-cards", "aria-label": t("admin.rollout.figures") },
      card("admin.rollout.people", num(ctx, f.people)),
      card("admin.rollout.codes", num(ctx, f.codes_issued)),
      card("admin.rollout.registered", num(ctx, f.registered)),
      card("admin.rollout.percent", pct(ctx, f.percent_registered), "adm-card-main"),
      card("admin.rollout.active", num(ctx, f.active_7d)),
      card("admin.rollout.overdue", num(ctx, f.overdue), f.overdue ? "adm-card-warn" : null),
    ),
  );

  // ---- per organisation -------------------------------------------------------------------
  const entries = board.organisations;
  const base = org || (board.roots.length === 1 ? board.roots[0] : null);
  let shown = entries.filter((e) => e.parent_code === base && base !== null);
  if (!shown.length) shown = entries.filter((e) => (base ? e.code === base : board.roots.includes(e.code)));
  const percentText = (fig) =>
    fig.people ? `${pct(ctx, fig.percent_registered)} (${num(ctx, fig.registered)} / ${num(ctx, fig.people)})` : t("admin.rollout.nobody");
  const section1 = h("section", { class: "adm-section", "aria-labelledby": "adm-by-org" });
  section1.append(h("h2", { id: "adm-by-org" }, t("admin.rollout.byOrg")));
  if (shown.length) {
    const summary = t("admin.rollout.byOrgSummary", {
      list: shown.map((e) => `${orgName(ctx, e)} ${pct(ctx, e.total.percent_registered)}`).join("; "),
    });
    section1.append(
      barChart(
        shown.map((e) => ({
          label: orgName(ctx, e),
          value: e.total.percent_registered,
          text: percentText(e.total),
          warn: e.total.overdue > 0,
        })),
        summary,
      ),
    );
  }
  const drill = (e) =>
    entries.some((x) => x.parent_code === e.code)
      ? h("a", { href: "#" + withQuery("/admin", { org: e.code, days }) }, orgName(ctx, e))
      : orgName(ctx, e);
  section1.append(
    table(
      ctx,
      t("admin.rollout.tableCaption"),
      [
        [t("admin.org"), drill],
        [t("admin.rollout.deadline"), (e) => day(ctx, e.register_by), "nowrap"],
        [t("admin.rollout.people"), (e) => num(ctx, e.total.people), "num"],
        [t("admin.rollout.codes"), (e) => num(ctx, e.total.codes_issued), "num"],
        [t("admin.rollout.registered"), (e) => num(ctx, e.total.registered), "num"],
        [t("admin.rollout.percent"), (e) => pct(ctx, e.total.percent_registered), "num"],
        [t("admin.rollout.active"), (e) => num(ctx, e.total.active_7d), "num"],
        [t("admin.rollout.overdue"), (e) => num(ctx, e.total.overdue), "num"],
      ],
      shown,
      { class: "adm-orgtable", rowClass: (e) => (e.total.overdue ? "adm-row-warn" : null) },
    ),
  );
  body.append(section1);

  // ---- over time ----------------------------------------------------------------------------
  const section2 = h("section", { class: "adm-section", "aria-labelledby": "adm-over-time" });
  section2.append(h("h2", { id: "adm-over-time" }, t("admin.rollout.overTime")));
  const sumDays = series.days.reduce((acc, d) => acc + d.registered, 0);
  const last = series.days.length ? series.days[series.days.length - 1].cumulative : series.registered_before;
  const shortDay = (iso) => {
    const [y, m, d] = iso.split("-").map(Number);
    return ctx.fmtDate(Date.UTC(y, m - 1, d), { day: "numeric", month: "short", timeZone: "UTC" });
  };
  section2.append(
    timeChart(
      series.days,
      t("admin.rollout.overTimeSummary", { count: sumDays, total: last, days: series.days.length }),
      shortDay,
      (n) => num(ctx, n),
      { total: t("admin.rollout.cumulative"), perDay: t("admin.rollout.perDayMax") },
    ),
  );
  section2.append(
    h(
      "details",
      { class: "adm-details" },
      h("summary", {}, t("admin.rollout.showData")),
      table(
        ctx,
        null,
        [
          [t("admin.rollout.date"), (d) => day(ctx, d.date)],
          [t("admin.rollout.perDay"), (d) => num(ctx, d.registered), "num"],
          [t("admin.rollout.cumulative"), (d) => num(ctx, d.cumulative), "num"],
        ],
        series.days.filter((d) => d.registered > 0),
      ),
    ),
  );
  body.append(section2);

  // ---- overdue ------------------------------------------------------------------------------
  const section3 = h("section", { class: "adm-section", "aria-labelledby": "adm-overdue" });
  section3.append(
    h("h2", { id: "adm-overdue" }, t("admin.rollout.overdueTitle")),
    h("p", {}, t("admin.rollout.overdueCount", { count: overdue.total })),
  );
  if (overdue.people.length) {
    section3.append(
      table(
        ctx,
        null,
        [
          [t("admin.person.name"), (p) => h("a", { href: `#/admin/people/${encodeURIComponent(p.person_id)}` }, p.name_cyr)],
          [t("admin.person.number"), (p) => p.personnel_number],
          [t("admin.org"), (p) => (ctx.lang() === "kk" ? p.org_name_kk : p.org_name_ru)],
          [t("admin.person.position"), (p) => p.position || "—"],
          [t("admin.rollout.deadline"), (p) => day(ctx, p.register_by), "nowrap"],
          [t("admin.rollout.daysOverdue"), (p) => num(ctx, p.days_overdue), "num"],
        ],
        overdue.people,
        { class: "adm-overdue" },
      ),
    );
    const pager = h("div", { class: "adm-pager" });
    if (offset > 0) {
      pager.append(h("a", { href: "#" + withQuery("/admin", { org, days, offset: Math.max(0, offset - OVERDUE_PAGE) }) }, t("admin.prev")));
    }
    if (offset + overdue.people.length < overdue.total) {
      pager.append(h("a", { href: "#" + withQuery("/admin", { org, days, offset: offset + OVERDUE_PAGE }) }, t("admin.next")));
    }
    section3.append(pager);
    section3.append(
      h(
        "button",
        {
          type: "button",
          onClick: async (ev) => {
            const btn = ev.currentTarget;
            btn.disabled = true;
            try {
              const resp = await api.request("GET", `${ADMIN}/rollout/overdue.csv?${qs({})}`, undefined, { raw: true });
              download(await resp.blob(), `overdue-${org || "all"}-${overdue.as_of}.csv`);
              ctx.notify(t("admin.downloaded"), "ok");
            } catch (err) {
              ctx.notify(err.message, "error");
            } finally {
              btn.disabled = false;
            }
          },
        },
        t("admin.rollout.downloadCsv"),
      ),
    );
  }
  body.append(section3);
}
