// The shell: sign-in, the frame (header, navigation, room list, main region, offline banner,
// live region), hash routing for the chat and for the areas listed in areas.js.

import { h, replace } from "./lib/dom.js";
import { api, ApiError, C } from "./lib/api.js";
import * as i18n from "./lib/i18n.js";
import { getSession, clearSession } from "./lib/session.js";
import { currentPath, navigate, resolve } from "./lib/router.js";
import { AREAS } from "./areas.js";
import { messages } from "./chat/messages.js";
import { ChatClient } from "./chat/client.js";
import { chatRoutes, renderRoomList } from "./chat/index.js";
import { renderSignIn, finishSsoReturn } from "./chat/signin.js";
import { drafts } from "./chat/drafts.js";

const { t } = i18n;
i18n.registerMessages(messages);
for (const area of AREAS) i18n.registerMessages(area.messages || {});

const root = document.getElementById("app");
const shell = {
  client: null,
  ctx: null,
  pageAbort: null,
  frame: null,
  signInNotice: null,
};

function allRoutes() {
  return [...chatRoutes, ...AREAS.flatMap((a) => a.routes || [])];
}

function visible(route, ctx) {
  try {
    return typeof route.visible === "function" ? Boolean(route.visible(ctx)) : true;
  } catch {
    return false;
  }
}

// ---- notifications (polite live region) ------------------------------------------------

let notifyTimer = null;
function notify(text, kind = "info") {
  const region = document.getElementById("live");
  if (!region) return;
  region.className = `toast toast-${kind}`;
  replace(region, text);
  region.hidden = false;
  clearTimeout(notifyTimer);
  notifyTimer = setTimeout(() => {
    region.hidden = true;
    replace(region);
  }, 7000);
}

// ---- signing in and out -----------------------------------------------------------------

async function boot() {
  try {
    await finishSsoReturn();
  } catch (err) {
    shell.signInNotice = err.message;
  }
  if (getSession()) {
    await startSession();
  } else {
    showSignIn();
  }
}

function showSignIn() {
  document.title = `${t("signin.title")} · tumar`;
  renderSignIn(root, {
    notice: shell.signInNotice,
    onSignedIn: async () => {
      shell.signInNotice = null;
      await startSession();
    },
  });
}

async function startSession() {
  const session = getSession();
  try {
    const me = await api.get(`${C}/account/whoami`);
    if (me.user_id !== session.userId) throw new ApiError(401, "M_UNKNOWN_TOKEN", "");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      clearSession();
      shell.signInNotice = t("session.expired");
      showSignIn();
      return;
    }
    // The server is unreachable: keep the session and show the app; sync retries.
  }
  let whoami = { user_id: session.userId, grants: [] };
  try {
    const got = await api.get("/_tumar/admin/v1/whoami");
    whoami = { user_id: got.user_id, grants: got.grants || [] };
  } catch {
    /* not an administrator (403), or offline: no admin pages */
  }
  drafts.bind(session.userId);
  const client = new ChatClient(session);
  shell.client = client;
  shell.ctx = {
    api,
    h,
    t,
    lang: i18n.lang,
    fmtDate: i18n.fmtDate,
    fmtNumber: i18n.fmtNumber,
    navigate,
    session: { userId: session.userId, deviceId: session.deviceId },
    whoami,
    notify,
    signal: null,
    chat: client,
    signOut,
  };
  client.addEventListener("status", (e) => showOffline(!e.detail.online));
  client.addEventListener("rooms", () => refreshRoomList());
  client.addEventListener("ready", () => refreshRoomList());
  renderFrame();
  client.start();
  await renderRoute();
}

function endSession(noticeText) {
  if (shell.client) shell.client.stop();
  shell.client = null;
  shell.ctx = null;
  if (shell.pageAbort) shell.pageAbort.abort();
  clearSession();
  shell.signInNotice = noticeText;
  showSignIn();
}

async function signOut() {
  try {
    await api.post(`${C}/logout`, {});
  } catch {
    /* the session is dropped locally either way */
  }
  drafts.clearAll();
  endSession(t("signin.signed_out"));
}

api.onUnauthorized(() => {
  if (!shell.ctx) return;
  // Drafts stay in sessionStorage: signing in again as the same person brings them back.
  endSession(t("session.expired"));
});

// ---- the frame --------------------------------------------------------------------------

function langPicker() {
  const select = h(
    "select",
    {
      id: "lang-select",
      class: "lang-select",
      "aria-label": t("shell.language"),
      onChange: (e) => i18n.setLang(e.target.value),
    },
    i18n.LANGS.map((l) => h("option", { value: l, selected: l === i18n.lang() }, t(`lang.${l}`))),
  );
  return select;
}

function renderFrame() {
  const ctx = shell.ctx;
  const navItems = allRoutes().filter((r) => r.nav && visible(r, ctx));
  const nav = h(
    "nav",
    { id: "main-nav", class: "main-nav", "aria-label": t("shell.nav") },
    h(
      "ul",
      {},
      navItems.map((r) =>
        h(
          "li",
          {},
          h("a", { href: `#${r.navPath || r.path}`, dataset: { route: r.path } }, t(r.title)),
        ),
      ),
    ),
  );
  const menuButton = h(
    "button",
    {
      type: "button",
      class: "menu-toggle",
      "aria-controls": "main-nav",
      "aria-expanded": "false",
      onClick: (e) => {
        const open = e.currentTarget.getAttribute("aria-expanded") !== "true";
        e.currentTarget.setAttribute("aria-expanded", String(open));
        nav.classList.toggle("open", open);
      },
    },
    t("shell.menu"),
  );
  const header = h(
    "header",
    { class: "topbar" },
    h("a", { class: "brand", href: "#/", "aria-label": "tumar" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "T"), "tumar"),
    menuButton,
    nav,
    h(
      "div",
      { class: "topbar-end" },
      langPicker(),
      h("a", { class: "me-link", href: "#/profile", id: "me-link" }, t("shell.profile")),
      h("button", { type: "button", class: "ghost", id: "sign-out", onClick: signOut }, t("shell.sign_out")),
    ),
  );
  const offline = h(
    "div",
    { id: "offline-banner", class: "banner banner-offline", role: "alert", hidden: true },
    t("shell.offline"),
  );
  const sidebar = h("aside", { id: "sidebar", class: "sidebar", "aria-label": t("rooms.title") });
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  const layout = h("div", { id: "layout", class: "layout" }, sidebar, main);
  replace(
    root,
    h("a", { class: "skip-link", href: "#main", onClick: skipToMain }, t("shell.skip")),
    header,
    offline,
    layout,
    h("div", { id: "live", class: "toast", role: "status", "aria-live": "polite", hidden: true }),
  );
  root.className = "app";
  shell.frame = { sidebar, main, layout, nav };
  showOffline(shell.client && !shell.client.online);
  refreshRoomList();
}

function skipToMain(e) {
  e.preventDefault();
  const main = document.getElementById("main");
  if (main) main.focus();
}

function showOffline(off) {
  const banner = document.getElementById("offline-banner");
  if (banner) banner.hidden = !off;
  document.body.classList.toggle("is-offline", Boolean(off));
}

function refreshRoomList() {
  if (!shell.frame || !shell.client) return;
  renderRoomList(shell.frame.sidebar, shell.ctx);
}

// ---- routing ----------------------------------------------------------------------------

async function renderRoute() {
  if (!shell.frame || !shell.ctx) return;
  if (shell.pageAbort) shell.pageAbort.abort();
  const abort = new AbortController();
  shell.pageAbort = abort;
  const ctx = { ...shell.ctx, signal: abort.signal };
  const path = currentPath();
  let found = resolve(allRoutes(), path);
  if (!found || !visible(found.route, ctx)) found = resolve(allRoutes(), "/");
  const { route, params } = found;
  const { layout, main, nav } = shell.frame;
  layout.dataset.view = route.sidebar ? (params.id ? "room" : "list") : "page";
  for (const link of nav.querySelectorAll("a")) {
    const current = link.dataset.route === route.path || (route.section && link.dataset.route === route.section);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  nav.classList.remove("open");
  const toggle = document.querySelector(".menu-toggle");
  if (toggle) toggle.setAttribute("aria-expanded", "false");
  document.title = `${t(route.title)} · tumar`;
  const page = h("div", { class: "page" });
  replace(main, page);
  try {
    await route.render(page, params, ctx);
  } catch (err) {
    if (abort.signal.aborted || (err && err.name === "AbortError")) return;
    replace(
      page,
      h("h1", {}, t(route.title)),
      h("p", { class: "error", role: "alert" }, err && err.message ? err.message : t("error.generic")),
    );
  }
  refreshRoomList();
}

window.addEventListener("hashchange", () => renderRoute());
window.addEventListener("tumar:langchange", () => {
  if (shell.ctx) {
    renderFrame();
    renderRoute();
  } else {
    showSignIn();
  }
});

boot();
