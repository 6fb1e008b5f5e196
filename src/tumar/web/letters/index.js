// Registered official correspondence (issue 10 §4): the inbox, outbox, drafts and "my tasks",
// one letter with the actions the server allows the caller, drafting with attachments, the
// registry journal and the control of execution. The pages talk only to /_tumar/letters/v1 and
// the Matrix media and directory APIs; the server decides every permission.

import { h } from "../lib/dom.js";
import { messages } from "./messages.js";
import { registryVisible } from "./common.js";
import { renderBox } from "./list.js";
import { renderEdit, renderNew } from "./draft.js";
import { renderControl, renderJournal } from "./registry.js";
import { renderLetter } from "./view.js";

export { messages };

for (const [area, href] of [["admin", "/static/admin/admin.css"], ["letters", "/static/letters/letters.css"]]) {
  if (!document.querySelector(`link[data-area="${area}"]`)) {
    document.head.append(h("link", { rel: "stylesheet", href, dataset: { area } }));
  }
}

const all = () => true;
const section = "/letters";

// The fixed paths come before "/letters/:id" (the router takes the first match).
export const routes = [
  { path: "/letters", title: "lt.nav", nav: true, visible: all, render: renderBox("inbox") },
  { path: "/letters/outbox", title: "lt.outbox", section, visible: all, render: renderBox("outbox") },
  { path: "/letters/drafts", title: "lt.drafts", section, visible: all, render: renderBox("drafts") },
  { path: "/letters/tasks", title: "lt.tasks", section, visible: all, render: renderBox("tasks") },
  { path: "/letters/new", title: "lt.new", section, visible: all, render: renderNew },
  { path: "/letters/journal", title: "lt.journal", section, visible: registryVisible, render: renderJournal },
  { path: "/letters/control", title: "lt.control", section, visible: registryVisible, render: renderControl },
  { path: "/letters/:id", title: "lt.letter", section, visible: all, render: renderLetter },
  { path: "/letters/:id/edit", title: "lt.edit", section, visible: all, render: renderEdit },
];
