// Sign-in: password; single sign-on (the server's page, which asks for the second factor)
// when the server offers it or the organisation requires it; first registration with a
// personal activation code.

import { h, replace, uid } from "../lib/dom.js";
import { api, ApiError, C } from "../lib/api.js";
import * as i18n from "../lib/i18n.js";
import { setSession } from "../lib/session.js";

const { t } = i18n;
const DEVICE_NAME = "tumar web";

function ssoUrl() {
  const back = `${window.location.origin}${window.location.pathname}`;
  return `${C}/login/sso/redirect?redirectUrl=${encodeURIComponent(back)}`;
}

/** Back from the SSO page with ?loginToken=...: exchange it for a session. */
export async function finishSsoReturn() {
  const params = new URLSearchParams(window.location.search);
  const token = params.get("loginToken");
  if (!token) return;
  params.delete("loginToken");
  const rest = params.toString();
  const clean = `${window.location.pathname}${rest ? `?${rest}` : ""}${window.location.hash}`;
  window.history.replaceState(null, "", clean);
  const res = await api.post(
    `${C}/login`,
    { type: "m.login.token", token, initial_device_display_name: DEVICE_NAME },
    { auth: false },
  );
  setSession({ userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token });
}

function field(label, attrs) {
  const id = uid("f");
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, ...attrs }),
  );
}

function errorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return t("error.network");
    if (err.errcode === "M_FORBIDDEN" && err.status === 403) return t("signin.bad_password");
    if (err.errcode === "M_LIMIT_EXCEEDED") return err.message || t("error.rate_limited");
    return err.message || t("error.generic");
  }
  return t("error.generic");
}

export function renderSignIn(root, { notice, onSignedIn }) {
  root.className = "signin-root";
  let mode = "password";
  let flows = null;
  let ssoSuggested = false;

  const status = h("div", { class: "signin-status", role: "alert", "aria-live": "assertive" });
  const body = h("div", { class: "signin-body" });
  const ssoBox = h("div", { class: "sso-box" });
  const tabs = h("div", { class: "tabs", role: "group", "aria-label": t("signin.how") });

  function setStatus(text, kind = "error") {
    replace(status, text ? h("p", { class: kind }, text) : null);
  }

  function renderTabs() {
    replace(
      tabs,
      ["password", "activate"].map((m) =>
        h(
          "button",
          {
            type: "button",
            class: "tab",
            "aria-pressed": String(mode === m),
            onClick: () => {
              mode = m;
              setStatus(null);
              renderTabs();
              renderBody();
            },
          },
          t(`signin.tab_${m}`),
        ),
      ),
    );
  }

  function ssoButton() {
    const offered = flows !== null && flows.some((f) => f.type === "m.login.sso");
    if (!offered && !ssoSuggested) return null;
    return h(
      "div",
      { class: ["sso", ssoSuggested && "sso-suggested"] },
      h("p", { class: "muted" }, t("signin.sso_hint")),
      h(
        "a",
        { class: "button secondary", id: "sso-button", href: ssoUrl() },
        t("signin.sso"),
      ),
    );
  }

  function renderPassword() {
    const user = field(t("signin.user"), {
      name: "username",
      autocomplete: "username",
      required: true,
      autocapitalize: "off",
      spellcheck: "false",
    });
    const pass = field(t("signin.password"), {
      name: "password",
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const submit = h("button", { type: "submit", class: "primary" }, t("signin.submit"));
    const form = h(
      "form",
      {
        class: "stack",
        "aria-label": t("signin.tab_password"),
        onSubmit: async (e) => {
          e.preventDefault();
          const username = form.elements.username.value.trim();
          const password = form.elements.password.value;
          if (!username || !password) {
            setStatus(t("signin.fill_in"));
            return;
          }
          submit.disabled = true;
          setStatus(t("signin.working"), "muted");
          try {
            const res = await api.post(
              `${C}/login`,
              {
                type: "m.login.password",
                identifier: { type: "m.id.user", user: username },
                password,
                initial_device_display_name: DEVICE_NAME,
              },
              { auth: false },
            );
            setSession({
              userId: res.user_id,
              deviceId: res.device_id,
              accessToken: res.access_token,
            });
            await onSignedIn();
          } catch (err) {
            submit.disabled = false;
            if (err instanceof ApiError && err.errcode === "TUMAR_MFA_REQUIRED") {
              ssoSuggested = true;
              replace(ssoBox, ssoButton());
              setStatus(`${err.message} ${t("signin.mfa_next")}`);
              const sso = document.getElementById("sso-button");
              if (sso) sso.focus();
              return;
            }
            setStatus(errorText(err));
          }
        },
      },
      user,
      pass,
      submit,
    );
    replace(ssoBox, ssoButton());
    return [form, ssoBox];
  }

  function renderActivate() {
    const code = field(t("signin.code"), {
      name: "code",
      required: true,
      autocomplete: "one-time-code",
      autocapitalize: "characters",
      spellcheck: "false",
    });
    const pass = field(t("signin.new_password"), {
      name: "password",
      type: "password",
      autocomplete: "new-password",
      required: true,
    });
    const again = field(t("signin.repeat_password"), {
      name: "again",
      type: "password",
      autocomplete: "new-password",
      required: true,
    });
    const submit = h("button", { type: "submit", class: "primary" }, t("signin.activate"));
    const form = h(
      "form",
      {
        class: "stack",
        "aria-label": t("signin.tab_activate"),
        onSubmit: async (e) => {
          e.preventDefault();
          const value = form.elements.code.value.trim();
          const password = form.elements.password.value;
          if (!value || !password) {
            setStatus(t("signin.fill_in"));
            return;
          }
          if (password !== form.elements.again.value) {
            setStatus(t("signin.mismatch"));
            return;
          }
          submit.disabled = true;
          setStatus(t("signin.working"), "muted");
          try {
            const res = await api.post(
              `${C}/register`,
              {
                password,
                auth: { type: "m.login.registration_token", token: value },
                initial_device_display_name: DEVICE_NAME,
              },
              { auth: false },
            );
            setSession({
              userId: res.user_id,
              deviceId: res.device_id,
              accessToken: res.access_token,
            });
            await onSignedIn();
          } catch (err) {
            submit.disabled = false;
            // A refused code comes back as a failed registration stage (401) with the reason.
            if (err instanceof ApiError && err.status === 401) {
              setStatus(`${t("signin.code_refused")} ${err.message || ""}`.trim());
            } else {
              setStatus(errorText(err));
            }
          }
        },
      },
      h("p", { class: "muted" }, t("signin.activate_hint")),
      code,
      pass,
      again,
      submit,
    );
    return [form];
  }

  function renderBody() {
    replace(body, mode === "password" ? renderPassword() : renderActivate());
  }

  const langSelect = h(
    "select",
    {
      class: "lang-select",
      "aria-label": t("shell.language"),
      onChange: (e) => i18n.setLang(e.target.value),
    },
    i18n.LANGS.map((l) => h("option", { value: l, selected: l === i18n.lang() }, t(`lang.${l}`))),
  );

  replace(
    root,
    h(
      "main",
      { class: "signin", id: "main" },
      h(
        "div",
        { class: "signin-card" },
        h(
          "div",
          { class: "signin-head" },
          h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "T"), "tumar"),
          langSelect,
        ),
        h("h1", {}, t("signin.title")),
        h("p", { class: "muted" }, t("signin.subtitle")),
        tabs,
        status,
        body,
      ),
    ),
  );
  renderTabs();
  renderBody();
  if (notice) setStatus(notice, "notice");
  api
    .get(`${C}/login`, { auth: false })
    .then((res) => {
      flows = res.flows || [];
      replace(ssoBox, ssoButton());
    })
    .catch(() => {});
  const first = body.querySelector("input");
  if (first) first.focus();
}
