// Staff import: choose the file, check it (a dry run with a progress bar), read the diff and
// the per-row errors, confirm, watch the progress of the real import, read what it did.
// The file goes as the raw request body with `Accept: application/x-ndjson`, so the server
// streams progress lines while it works (see api/admin/import_progress.py).

import {
  ADMIN, confirmDialog, errorBox, field, loadOrgs, num, orgSelect, page, select, table,
} from "./common.js";

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PHASES = ["reading", "importing", "departures"];

/** POST the file and call `onProgress({phase, done, total})`; resolves with the report. */
export async function runImport(ctx, path, file, contentType, onProgress) {
  const resp = await ctx.api.request("POST", path, file, {
    raw: true,
    headers: { "Content-Type": contentType, Accept: "application/x-ndjson" },
  });
  if (!(resp.headers.get("content-type") || "").startsWith("application/x-ndjson")) {
    return resp.json(); // a server without progress streaming answers the report at once
  }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let result = null;
  const handle = (line) => {
    if (!line.trim()) return;
    const item = JSON.parse(line);
    if (item.progress) onProgress(item.progress);
    else if (item.report) result = item.report;
    else if (item.error) {
      const { status, errcode, error } = item.error;
      throw Object.assign(new Error(error), { status, errcode, name: "ApiError" });
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      handle(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  }
  handle(buffer + decoder.decode());
  if (!result) throw Object.assign(new Error(ctx.t("admin.import.cutOff")), { status: 0, errcode: "TUMAR_NETWORK" });
  return result;
}

function contentTypeOf(file, encoding) {
  const name = (file.name || "").toLowerCase();
  if (name.endsWith(".xlsx")) return XLSX;
  if (name.endsWith(".csv") || name.endsWith(".txt") || name.endsWith(".tsv")) return `text/csv; charset=${encoding}`;
  return "application/octet-stream"; // the server tells a workbook from CSV by its bytes
}

/** A progress bar with a text line; `update(progress)` moves it, `finish()` fills it. */
function progressBar(ctx) {
  const { h, t } = ctx;
  const bar = h("progress", { max: "100", value: "0", "aria-labelledby": "adm-import-progress-label" });
  const label = h("span", { id: "adm-import-progress-label" }, t("admin.import.starting"));
  const box = h("div", { class: "adm-progress", role: "status", "aria-live": "polite" }, label, bar);
  let updates = 0;
  return {
    box,
    update({ phase, done, total }) {
      updates += 1;
      box.dataset.updates = String(updates);
      box.dataset.phase = phase;
      const step = Math.max(0, PHASES.indexOf(phase));
      // Reading and importing each take about half; departures are a short last step.
      const spans = [[0, 45], [45, 95], [95, 100]][step];
      const share = total ? Math.min(done / total, 1) : 0;
      bar.value = Math.round(spans[0] + (spans[1] - spans[0]) * share);
      const what = t(`admin.import.phase.${phase}`);
      if (phase === "importing" && total) label.textContent = t("admin.import.rowsOf", { what, done, total });
      else if (phase === "reading" && total) label.textContent = `${what}: ${ctx.fmtNumber(share, { style: "percent" })}`;
      else label.textContent = what;
    },
    finish(text) {
      bar.value = 100;
      label.textContent = text;
      box.dataset.phase = "done";
    },
    fail(text) {
      label.textContent = text;
      box.dataset.phase = "failed";
    },
  };
}

function changesText(ctx, changes) {
  return Object.entries(changes)
    .map(([name, c]) => `${ctx.t(`admin.field.${name}`)}: ${c.before ?? "—"} → ${c.after ?? "—"}`)
    .join("; ");
}

/** The report of a dry run or an import: counts, errors first, then every list. */
export function reportView(ctx, report) {
  const { h, t } = ctx;
  const c = report.counts;
  const out = h("div", { class: "adm-report" });
  const countItem = (key, n, cls) => h("li", { class: cls }, h("span", {}, t(`admin.import.count.${key}`)), h("strong", {}, num(ctx, n)));
  out.append(
    h("h2", {}, report.dry_run ? t("admin.import.diffTitle") : t("admin.import.doneTitle")),
    h("p", {}, t("admin.import.rowsRead", { count: report.rows })),
    h(
      "ul",
      { class: "adm-counts" },
      countItem("new", c.new),
      countItem("changed", c.changed),
      countItem("moved", c.moved),
      countItem("unchanged", c.unchanged),
      countItem("departed", c.departed, c.departed ? "adm-warn" : null),
      countItem("errors", c.errors, c.errors ? "adm-bad" : null),
    ),
  );
  if (report.ignored_columns && report.ignored_columns.length) {
    out.append(h("p", { class: "adm-hint" }, t("admin.import.ignored", { columns: report.ignored_columns.join(", ") })));
  }
  if (report.errors.length) {
    out.append(
      h("div", { class: "adm-error", role: "alert" }, t("admin.import.errorsLead", { count: c.errors })),
      table(
        ctx,
        t("admin.import.errorsTitle"),
        [
          [t("admin.import.row"), (e) => num(ctx, e.row), "num"],
          [t("admin.person.number"), (e) => e.key || "—"],
          [t("admin.import.error"), (e) => e.error],
        ],
        report.errors,
        { class: "adm-import-errors" },
      ),
    );
  }
  const person = (p) => `${p.name_cyr} (${p.name_lat})`;
  if (report.new.length) {
    out.append(table(ctx, t("admin.import.newTitle"), [
      [t("admin.import.row"), (p) => num(ctx, p.row), "num"],
      [t("admin.person.number"), (p) => p.personnel_number],
      [t("admin.person.name"), person],
      [t("admin.org"), (p) => p.org_code],
    ], report.new, { class: "adm-import-new" }));
  }
  for (const kind of ["changed", "moved"]) {
    if (!report[kind].length) continue;
    out.append(table(ctx, t(`admin.import.${kind}Title`), [
      [t("admin.import.row"), (p) => num(ctx, p.row), "num"],
      [t("admin.person.number"), (p) => h("a", { href: `#/admin/people/${encodeURIComponent(p.person_id)}` }, p.personnel_number)],
      [t("admin.org"), (p) => (p.from_org ? `${p.from_org} → ${p.org_code}` : p.org_code)],
      [t("admin.import.changes"), (p) => changesText(ctx, p.changes)],
    ], report[kind]));
  }
  if (report.departed.length) {
    out.append(
      table(ctx, t(report.departures_applied ? "admin.import.departedApplied" : "admin.import.departedTitle"), [
        [t("admin.person.number"), (p) => p.personnel_number],
        [t("admin.person.name"), person],
        [t("admin.org"), (p) => p.org_code],
        [t("admin.person.account"), (p) => p.user_id || "—"],
      ], report.departed),
    );
  }
  if (report.truncated) out.append(h("p", { class: "adm-hint" }, t("admin.import.truncated")));
  return out;
}

export async function renderImport(root, params, ctx) {
  const { h, t } = ctx;
  const body = page(root, ctx, "/admin/import", "admin.import.title");
  let orgs;
  try {
    orgs = await loadOrgs(ctx);
  } catch (err) {
    if (err.name !== "AbortError") body.append(errorBox(ctx, err));
    return;
  }
  const fileInput = h("input", { type: "file", accept: ".csv,.xlsx,.txt,text/csv," + XLSX, required: true });
  const [fileField] = field(t("admin.import.file"), fileInput, t("admin.import.fileHint"));
  const [orgField, orgCtl] = field(t("admin.import.scope"), orgSelect(ctx, orgs, "", "admin.import.scopeAll"));
  const [encField, encCtl] = field(
    t("admin.import.encoding"),
    select([["utf-8", "UTF-8"], ["windows-1251", "Windows-1251"]], "utf-8"),
  );
  const departures = h("input", { type: "checkbox", id: "adm-import-departures" });
  const depField = h(
    "div",
    { class: "adm-check" },
    departures,
    h("label", { for: "adm-import-departures" }, t("admin.import.departures")),
  );
  const check = h("button", { type: "submit", class: "primary" }, t("admin.import.check"));
  const form = h("form", { class: "adm-form adm-import-form" }, fileField, orgField, encField, depField, h("div", { class: "adm-actions" }, check));
  const status = h("div", { class: "adm-import-status" });
  body.append(h("p", { class: "adm-lead" }, t("admin.import.lead")), form, status);

  let busy = false;
  const setBusy = (value) => {
    busy = value;
    for (const el of form.elements) el.disabled = value;
  };

  async function run(file, options, dryRun) {
    const qs = new URLSearchParams({ dry_run: String(dryRun), limit: "1000" });
    if (options.org) qs.set("org", options.org);
    if (options.departures) qs.set("confirm_departures", "true");
    const bar = progressBar(ctx);
    status.replaceChildren(bar.box);
    try {
      const report = await runImport(ctx, `${ADMIN}/people/import?${qs}`, file, contentTypeOf(file, options.encoding), bar.update);
      bar.finish(dryRun ? t("admin.import.checked") : t("admin.import.done"));
      return report;
    } catch (err) {
      bar.fail(t("admin.import.failed"));
      status.append(errorBox(ctx, err));
      return null;
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (busy) return;
    const file = fileInput.files && fileInput.files[0];
    if (!file) {
      status.replaceChildren(errorBox(ctx, new Error(t("admin.import.noFile"))));
      fileInput.focus();
      return;
    }
    const options = { org: orgCtl.value, encoding: encCtl.value, departures: departures.checked };
    setBusy(true);
    const dry = await run(file, options, true);
    setBusy(false);
    if (!dry) return;
    const view = reportView(ctx, dry);
    const c = dry.counts;
    const nothing = c.new + c.changed + c.moved + (options.departures ? c.departed : 0) === 0;
    const apply = h("button", { type: "button", class: "primary", disabled: nothing }, t("admin.import.apply"));
    const cancel = h("button", { type: "button" }, t("admin.cancel"));
    const actions = h("div", { class: "adm-actions" }, apply, cancel);
    status.append(view);
    if (nothing) status.append(h("p", {}, t("admin.import.nothing")));
    status.append(actions);
    view.querySelector("h2").setAttribute("tabindex", "-1");
    view.querySelector("h2").focus();
    cancel.addEventListener("click", () => {
      status.replaceChildren();
      fileInput.focus();
    });
    apply.addEventListener("click", async () => {
      if (options.departures && c.departed) {
        const yes = await confirmDialog(ctx, {
          title: t("admin.import.departConfirmTitle"),
          text: t("admin.import.departConfirm", { count: c.departed }),
          confirm: t("admin.import.apply"),
          danger: true,
        });
        if (!yes) return;
      }
      setBusy(true);
      actions.remove();
      const done = await run(file, options, false);
      setBusy(false);
      if (!done) return;
      const result = reportView(ctx, done);
      status.append(result);
      result.querySelector("h2").setAttribute("tabindex", "-1");
      result.querySelector("h2").focus();
      ctx.notify(t("admin.import.doneNotice", { count: done.counts.new + done.counts.changed + done.counts.moved }), "ok");
    });
  });
}
