// Dialogs of the chat: start a direct chat, create a room, invite from the directory, room
// settings (name, topic, classification label).

import { h, replace, uid } from "../lib/dom.js";
import { api, C, seg } from "../lib/api.js";
import { pathFor } from "../lib/router.js";
import { LABEL_EVENT } from "./client.js";
import { errorMessage } from "./composer.js";
import { DEFAULT_LABELS, labelName } from "./labels.js";
import { avatar, modal } from "./ui.js";

function field(label, input) {
  const id = input.id || uid("f");
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

/** A directory search box with results as buttons; `pick(user)` is called on a choice. */
function directoryPicker(ctx, pick, exclude = new Set()) {
  const input = h("input", { type: "search", autocomplete: "off", id: uid("dir"), "aria-describedby": "" });
  const results = h("ul", { class: "people", "aria-live": "polite" });
  const note = h("p", { class: "muted small-note", id: uid("dirnote") }, ctx.t("directory.hint"));
  input.setAttribute("aria-describedby", note.id);
  let timer = null;
  let seq = 0;
  async function search() {
    const term = input.value.trim();
    const mine = ++seq;
    if (!term) {
      replace(results);
      return;
    }
    try {
      const res = await api.post(`${C}/user_directory/search`, { search_term: term, limit: 10 });
      if (mine !== seq) return;
      const people = (res.results || []).filter((p) => !exclude.has(p.user_id));
      if (!people.length) {
        replace(results, h("li", { class: "muted" }, ctx.t("directory.none")));
        return;
      }
      replace(
        results,
        people.map((p) =>
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "person", dataset: { userId: p.user_id }, onClick: () => pick(p) },
              avatar(p.display_name || p.user_id, "round"),
              h("span", { class: "person-text" }, h("span", { class: "person-name" }, p.display_name || p.user_id), h("span", { class: "muted" }, p.user_id)),
            ),
          ),
        ),
      );
    } catch (err) {
      if (mine === seq) replace(results, h("li", { class: "error" }, errorMessage(err, ctx)));
    }
  }
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
  return h("div", { class: "directory" }, field(ctx.t("directory.search"), input), note, results);
}

export function openStartChat(ctx) {
  const client = ctx.chat;
  const status = h("div", { role: "alert", class: "dialog-status" });
  modal(ctx, ctx.t("rooms.new_chat"), (close) => {
    const pick = async (person) => {
      const existing = (client.direct[person.user_id] || []).find((id) => client.rooms.has(id) && client.rooms.get(id).membership === "join");
      if (existing) {
        close();
        ctx.navigate(pathFor("/room/:id", { id: existing }));
        return;
      }
      replace(status, h("p", { class: "muted" }, ctx.t("dialog.working")));
      try {
        const res = await api.post(`${C}/createRoom`, {
          preset: "trusted_private_chat",
          is_direct: true,
          invite: [person.user_id],
        });
        await client.markDirect(person.user_id, res.room_id);
        await client.waitForRoom(res.room_id).catch(() => {});
        close();
        ctx.navigate(pathFor("/room/:id", { id: res.room_id }));
      } catch (err) {
        replace(status, h("p", { class: "error" }, errorMessage(err, ctx)));
      }
    };
    return h("div", { class: "stack" }, directoryPicker(ctx, pick, new Set([client.userId])), status);
  });
}

function labelSelect(ctx, current, { allowNone }) {
  const labels = [...DEFAULT_LABELS];
  if (current && !labels.includes(current)) labels.push(current);
  return h(
    "select",
    { id: uid("label"), name: "label" },
    allowNone ? h("option", { value: "" }, ctx.t("label.default")) : null,
    labels.map((l) => h("option", { value: l, selected: l === current }, labelName(l, ctx))),
  );
}

export function openCreateRoom(ctx) {
  const client = ctx.chat;
  modal(ctx, ctx.t("rooms.new_room"), (close) => {
    const name = h("input", { name: "name", required: true, maxlength: "255", autocomplete: "off" });
    const topic = h("input", { name: "topic", maxlength: "1000", autocomplete: "off" });
    const label = labelSelect(ctx, "", { allowNone: true });
    const status = h("div", { role: "alert", class: "dialog-status" });
    const submit = h("button", { type: "submit", class: "primary" }, ctx.t("dialog.create"));
    return h(
      "form",
      {
        class: "stack",
        onSubmit: async (e) => {
          e.preventDefault();
          if (!name.value.trim()) {
            replace(status, h("p", { class: "error" }, ctx.t("room.name_required")));
            name.focus();
            return;
          }
          submit.disabled = true;
          replace(status, h("p", { class: "muted" }, ctx.t("dialog.working")));
          const body = { name: name.value.trim(), preset: "private_chat" };
          if (topic.value.trim()) body.topic = topic.value.trim();
          if (label.value) body.initial_state = [{ type: LABEL_EVENT, state_key: "", content: { label: label.value } }];
          try {
            const res = await api.post(`${C}/createRoom`, body);
            await client.waitForRoom(res.room_id).catch(() => {});
            close();
            ctx.navigate(pathFor("/room/:id", { id: res.room_id }));
          } catch (err) {
            submit.disabled = false;
            replace(status, h("p", { class: "error" }, errorMessage(err, ctx)));
          }
        },
      },
      field(ctx.t("room.name"), name),
      field(ctx.t("room.topic"), topic),
      field(ctx.t("label.title"), label),
      status,
      h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "ghost", onClick: () => close() }, ctx.t("dialog.cancel")), submit),
    );
  });
}

export function openInvite(ctx, room) {
  const status = h("div", { role: "alert", class: "dialog-status" });
  const present = new Set([...room.members("join"), ...room.members("invite")]);
  modal(ctx, ctx.t("room.invite_title", { name: ctx.chat.roomName(room, ctx.t) }), () => {
    const pick = async (person) => {
      replace(status, h("p", { class: "muted" }, ctx.t("dialog.working")));
      try {
        await api.post(`${C}/rooms/${seg(room.id)}/invite`, { user_id: person.user_id });
        present.add(person.user_id);
        replace(status, h("p", { class: "ok" }, ctx.t("room.invited", { name: person.display_name || person.user_id })));
      } catch (err) {
        replace(status, h("p", { class: "error" }, errorMessage(err, ctx)));
      }
    };
    return h("div", { class: "stack" }, directoryPicker(ctx, pick, present), status);
  });
}

export function openRoomSettings(ctx, room) {
  modal(
    ctx,
    ctx.t("room.settings"),
    (close) => {
      const name = h("input", { name: "name", value: room.stateContent("m.room.name").name || "", maxlength: "255", autocomplete: "off" });
      const topic = h("input", { name: "topic", value: room.stateContent("m.room.topic").topic || "", maxlength: "1000", autocomplete: "off" });
      const label = labelSelect(ctx, room.label || "", { allowNone: !room.label });
      label.id = "label-picker";
      const status = h("div", { role: "alert", class: "dialog-status" });
      const put = (type, content) => api.put(`${C}/rooms/${seg(room.id)}/state/${seg(type)}/`, content);
      const saveNames = h("button", { type: "submit", class: "primary" }, ctx.t("dialog.save"));
      const saveLabel = h(
        "button",
        {
          type: "button",
          class: "primary",
          id: "save-label",
          onClick: async () => {
            if (!label.value || label.value === room.label) return;
            replace(status, h("p", { class: "muted" }, ctx.t("dialog.working")));
            try {
              await put(LABEL_EVENT, { label: label.value });
              replace(status, h("p", { class: "ok" }, ctx.t("label.saved", { label: labelName(label.value, ctx) })));
            } catch (err) {
              replace(status, h("p", { class: "error" }, errorMessage(err, ctx)));
            }
          },
        },
        ctx.t("label.save"),
      );
      const members = room.members("join").map((u) => h("li", {}, room.memberName(u), " ", h("span", { class: "muted" }, u)));
      const invited = room.members("invite").map((u) => h("li", {}, room.memberName(u), " ", h("span", { class: "muted" }, `${u} · ${ctx.t("room.member_invited")}`)));
      return h(
        "div",
        { class: "stack" },
        h(
          "form",
          {
            class: "stack",
            onSubmit: async (e) => {
              e.preventDefault();
              replace(status, h("p", { class: "muted" }, ctx.t("dialog.working")));
              try {
                if (name.value.trim() !== (room.stateContent("m.room.name").name || "")) await put("m.room.name", { name: name.value.trim() });
                if (topic.value.trim() !== (room.stateContent("m.room.topic").topic || "")) await put("m.room.topic", { topic: topic.value.trim() });
                close();
              } catch (err) {
                replace(status, h("p", { class: "error" }, errorMessage(err, ctx)));
              }
            },
          },
          field(ctx.t("room.name"), name),
          field(ctx.t("room.topic"), topic),
          h("div", { class: "dialog-actions" }, saveNames),
        ),
        h(
          "fieldset",
          { class: "stack" },
          h("legend", {}, ctx.t("label.title")),
          h("p", { class: "muted small-note" }, ctx.t("label.who_may")),
          field(ctx.t("label.pick"), label),
          h("div", { class: "dialog-actions" }, saveLabel),
        ),
        status,
        h("h3", {}, ctx.t("room.members", { count: members.length })),
        h("ul", { class: "member-list" }, members, invited),
      );
    },
    { wide: true },
  );
}
