// Profile and sessions: display name, avatar, password change, the list of sessions with
// sign-out (user-interactive authentication with the password).

import { h, replace, uid } from "../lib/dom.js";
import { api, ApiError, C, seg } from "../lib/api.js";
import { fmtBytes } from "../lib/i18n.js";
import { errorMessage } from "./composer.js";
import { mediaUrl, upload } from "./media.js";
import { avatar, modal } from "./ui.js";

function field(label, input) {
  input.id = input.id || uid("f");
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input);
}

/** A request behind user-interactive auth: start it, then answer with the password. */
async function withPassword(ctx, method, path, body, password) {
  const auth = { type: "m.login.password", identifier: { type: "m.id.user", user: ctx.session.userId }, password };
  try {
    return await api.request(method, path, { ...body, auth });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && err.body && err.body.session && !err.body.errcode) {
      return api.request(method, path, { ...body, auth: { ...auth, session: err.body.session } });
    }
    if (err instanceof ApiError && err.status === 401 && err.body && err.body.session && err.errcode === "M_FORBIDDEN") {
      throw new ApiError(403, "M_FORBIDDEN", ctx.t("profile.wrong_password"));
    }
    throw err;
  }
}

function askPassword(ctx, title) {
  return modal(ctx, title, (close) => {
    const input = h("input", { type: "password", autocomplete: "current-password", required: true });
    return h(
      "form",
      { class: "stack", onSubmit: (e) => { e.preventDefault(); close(input.value); } },
      h("p", {}, ctx.t("profile.confirm_password")),
      field(ctx.t("signin.password"), input),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", class: "ghost", onClick: () => close(null) }, ctx.t("dialog.cancel")),
        h("button", { type: "submit", class: "primary danger" }, ctx.t("profile.confirm")),
      ),
    );
  });
}

function statusLine() {
  return h("div", { class: "form-status", role: "status", "aria-live": "polite" });
}

function say(el, text, kind) {
  replace(el, text ? h("p", { class: kind }, text) : null);
}

async function profileSection(ctx) {
  const me = ctx.session.userId;
  let profile = {};
  try {
    profile = await api.get(`${C}/profile/${seg(me)}`, { signal: ctx.signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
  }
  const nameInput = h("input", { name: "displayname", value: profile.displayname || "", maxlength: "256", autocomplete: "name" });
  const status = statusLine();
  const avatarBox = h("div", { class: "avatar-preview" });
  function showAvatar(url, name) {
    replace(avatarBox, avatar(name || me, "large round"));
    if (url) {
      mediaUrl(url)
        .then((blob) => replace(avatarBox, h("img", { class: "avatar large round", src: blob, alt: ctx.t("profile.avatar_alt") })))
        .catch(() => {});
    }
  }
  showAvatar(profile.avatar_url, profile.displayname);
  const fileInput = h("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp" });
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (ctx.chat.uploadLimit && file.size > ctx.chat.uploadLimit) {
      say(status, ctx.t("composer.file_too_big", { name: file.name, size: fmtBytes(file.size), limit: fmtBytes(ctx.chat.uploadLimit) }), "error");
      return;
    }
    say(status, ctx.t("composer.uploading", { name: file.name }), "muted");
    try {
      const uri = await upload(file).promise;
      await api.put(`${C}/profile/${seg(me)}/avatar_url`, { avatar_url: uri });
      showAvatar(uri, nameInput.value);
      say(status, ctx.t("profile.avatar_saved"), "ok");
    } catch (err) {
      say(status, errorMessage(err, ctx), "error");
    }
  });
  return h(
    "section",
    { class: "card stack", "aria-labelledby": "profile-h" },
    h("h2", { id: "profile-h" }, ctx.t("profile.about")),
    h("div", { class: "profile-row" }, avatarBox, h("div", { class: "stack" }, h("p", { class: "muted" }, me), field(ctx.t("profile.avatar"), fileInput))),
    h(
      "form",
      {
        class: "stack",
        onSubmit: async (e) => {
          e.preventDefault();
          const value = nameInput.value.trim();
          if (!value) {
            say(status, ctx.t("profile.name_required"), "error");
            return;
          }
          try {
            await api.put(`${C}/profile/${seg(me)}/displayname`, { displayname: value });
            say(status, ctx.t("profile.name_saved"), "ok");
          } catch (err) {
            say(status, errorMessage(err, ctx), "error");
          }
        },
      },
      field(ctx.t("profile.display_name"), nameInput),
      h("div", {}, h("button", { type: "submit", class: "primary", id: "save-name" }, ctx.t("dialog.save"))),
    ),
    status,
  );
}

function passwordSection(ctx) {
  const current = h("input", { type: "password", name: "current", autocomplete: "current-password" });
  const next = h("input", { type: "password", name: "next", autocomplete: "new-password" });
  const again = h("input", { type: "password", name: "again", autocomplete: "new-password" });
  const status = statusLine();
  return h(
    "section",
    { class: "card stack", "aria-labelledby": "password-h" },
    h("h2", { id: "password-h" }, ctx.t("profile.password")),
    h(
      "form",
      {
        class: "stack",
        onSubmit: async (e) => {
          e.preventDefault();
          if (!current.value || !next.value) {
            say(status, ctx.t("signin.fill_in"), "error");
            return;
          }
          if (next.value !== again.value) {
            say(status, ctx.t("signin.mismatch"), "error");
            return;
          }
          try {
            await withPassword(ctx, "POST", `${C}/account/password`, { new_password: next.value, logout_devices: false }, current.value);
            current.value = next.value = again.value = "";
            say(status, ctx.t("profile.password_changed"), "ok");
          } catch (err) {
            say(status, errorMessage(err, ctx), "error");
          }
        },
      },
      field(ctx.t("profile.current_password"), current),
      field(ctx.t("signin.new_password"), next),
      field(ctx.t("signin.repeat_password"), again),
      h("div", {}, h("button", { type: "submit", class: "primary" }, ctx.t("profile.change_password"))),
    ),
    status,
  );
}

function sessionsSection(ctx) {
  const list = h("ul", { class: "sessions" });
  const status = statusLine();
  async function load() {
    try {
      const res = await api.get(`${C}/devices`, { signal: ctx.signal });
      const devices = (res.devices || []).sort((a, b) => (b.last_seen_ts || 0) - (a.last_seen_ts || 0));
      replace(
        list,
        devices.map((d) => {
          const current = d.device_id === ctx.session.deviceId;
          const label = d.display_name || d.device_id;
          return h(
            "li",
            { class: ["session", current && "current"], dataset: { deviceId: d.device_id } },
            h(
              "div",
              { class: "session-text" },
              h("span", { class: "session-name" }, label, current ? h("span", { class: "tag" }, ctx.t("profile.this_session")) : null),
              h(
                "span",
                { class: "muted" },
                d.device_id,
                d.last_seen_ts ? ` · ${ctx.t("profile.last_seen", { when: ctx.fmtDate(d.last_seen_ts) })}` : "",
                d.last_seen_ip ? ` · ${d.last_seen_ip}` : "",
              ),
            ),
            h(
              "button",
              {
                type: "button",
                class: "small ghost danger",
                "aria-label": ctx.t("profile.sign_out_named", { name: label }),
                onClick: async () => {
                  if (current) {
                    await ctx.signOut();
                    return;
                  }
                  const password = await askPassword(ctx, ctx.t("profile.sign_out_named", { name: label }));
                  if (!password) return;
                  try {
                    await withPassword(ctx, "DELETE", `${C}/devices/${seg(d.device_id)}`, {}, password);
                    say(status, ctx.t("profile.signed_out", { name: label }), "ok");
                    await load();
                  } catch (err) {
                    say(status, errorMessage(err, ctx), "error");
                  }
                },
              },
              ctx.t("profile.sign_out"),
            ),
          );
        }),
      );
    } catch (err) {
      if (err.name !== "AbortError") say(status, errorMessage(err, ctx), "error");
    }
  }
  load();
  return h(
    "section",
    { class: "card stack", "aria-labelledby": "sessions-h" },
    h("h2", { id: "sessions-h" }, ctx.t("profile.sessions")),
    h("p", { class: "muted" }, ctx.t("profile.sessions_hint")),
    list,
    status,
  );
}

export async function renderProfile(root, _params, ctx) {
  const profile = await profileSection(ctx);
  replace(
    root,
    h(
      "div",
      { class: "profile-page" },
      h("h1", {}, ctx.t("profile.title")),
      profile,
      passwordSection(ctx),
      sessionsSection(ctx),
    ),
  );
}
