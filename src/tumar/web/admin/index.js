// The admin console: an area of the web app (see docs/admin-console.md) for users whose
// whoami shows an administrative role. One entry in the main navigation; the console's pages
// have their own tab bar, each tab shown only to holders of the permission it needs (the
// server checks the scope of every request anyway).

import { h } from "../lib/dom.js";
import { renderAudit } from "./audit.js";
import { renderCodes } from "./codes.js";
import { can, isAdmin, landing } from "./common.js";
import { renderImport } from "./import.js";
import { messages } from "./messages.js";
import { renderOrgs } from "./orgs.js";
import { renderPeople, renderPerson } from "./people.js";
import { renderRollout } from "./rollout.js";

export { messages };

// The console's stylesheet (a file: the CSP allows no inline styles).
if (!document.querySelector('link[data-area="admin"]')) {
  document.head.append(h("link", { rel: "stylesheet", href: "/static/admin/admin.css", dataset: { area: "admin" } }));
}

const needs = (permission) => (ctx) => isAdmin(ctx) && can(ctx, permission);

async function renderHome(root, params, ctx) {
  if (can(ctx, "rollout")) return renderRollout(root, params, ctx);
  const first = landing(ctx);
  if (first && first !== "/admin") ctx.navigate(first);
  return undefined;
}

export const routes = [
  {
    path: "/admin",
    title: "admin.nav",
    nav: true,
    section: "/admin",
    visible: (ctx) => isAdmin(ctx) && Boolean(landing(ctx)),
    render: renderHome,
  },
  { path: "/admin/orgs", title: "admin.orgs.title", section: "/admin", visible: needs("directory.read"), render: renderOrgs },
  { path: "/admin/people", title: "admin.people.title", section: "/admin", visible: needs("directory.read"), render: renderPeople },
  { path: "/admin/people/:id", title: "admin.person.title", section: "/admin", visible: needs("directory.read"), render: renderPerson },
  { path: "/admin/import", title: "admin.import.title", section: "/admin", visible: needs("people.write"), render: renderImport },
  { path: "/admin/codes", title: "admin.codes.title", section: "/admin", visible: needs("accounts.manage"), render: renderCodes },
  { path: "/admin/audit", title: "admin.audit.title", section: "/admin", visible: needs("audit.read"), render: renderAudit },
];
