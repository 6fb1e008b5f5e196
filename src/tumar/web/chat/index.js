// The chat area of the shell: its routes and the room list in the sidebar.

import { h, replace, uid } from "../lib/dom.js";
import { api, C, seg } from "../lib/api.js";
import { currentPath, match, pathFor } from "../lib/router.js";
import { renderRoom } from "./room.js";
import { renderProfile } from "./profile.js";
import { openCreateRoom, openStartChat } from "./dialogs.js";
import { labelBadge } from "./labels.js";
import { avatar } from "./ui.js";

export const chatRoutes = [
  {
    path: "/",
    title: "chat.title",
    nav: true,
    sidebar: true,
    render: async (root, _params, ctx) => {
      root.append(
        h(
          "div",
          { class: "empty-state" },
          h("h1", {}, ctx.t("chat.title")),
          h("p", { class: "muted" }, ctx.t("chat.pick_room")),
        ),
      );
    },
  },
  {
    path: "/room/:id",
    title: "chat.title",
    nav: false,
    sidebar: true,
    section: "/",
    render: renderRoom,
  },
  {
    path: "/profile",
    title: "profile.title",
    nav: false,
    render: renderProfile,
  },
];

let filterText = "";

function preview(room, ctx) {
  for (let i = room.timeline.length - 1; i >= 0; i -= 1) {
    const ev = room.timeline[i];
    if (ev.type !== "m.room.message" || !ev.content || !ev.content.body) continue;
    const rel = ev.content["m.relates_to"];
    if (rel && rel.rel_type === "m.replace") continue;
    const who = ev.sender === ctx.session.userId ? ctx.t("room.you") : room.memberName(ev.sender);
    const text = ev.content.msgtype === "m.image" ? ctx.t("msg.image") : ev.content.body;
    return `${who}: ${text}`;
  }
  return "";
}

async function answerInvite(ctx, room, accept) {
  try {
    if (accept) {
      const direct = room.inviter && room.stateContent("m.room.member", ctx.session.userId).is_direct;
      await api.post(`${C}/rooms/${seg(room.id)}/join`, {});
      if (direct) await ctx.chat.markDirect(room.inviter, room.id).catch(() => {});
      await ctx.chat.waitForRoom(room.id).catch(() => {});
      ctx.navigate(pathFor("/room/:id", { id: room.id }));
    } else {
      await api.post(`${C}/rooms/${seg(room.id)}/leave`, {});
      ctx.chat.rooms.delete(room.id);
      ctx.chat.emit("rooms", {});
    }
  } catch (err) {
    ctx.notify(err.message, "error");
  }
}

function roomItem(room, ctx, currentId) {
  const client = ctx.chat;
  const name = client.roomName(room, ctx.t);
  const direct = client.isDirect(room.id);
  if (room.membership === "invite") {
    return h(
      "li",
      { class: "room invite" },
      h(
        "div",
        { class: "room-link" },
        avatar(name, direct ? "round" : ""),
        h(
          "span",
          { class: "room-text" },
          h("span", { class: "room-name" }, name),
          h("span", { class: "room-preview" }, ctx.t("rooms.invited")),
        ),
      ),
      h(
        "div",
        { class: "invite-actions" },
        h(
          "button",
          {
            type: "button",
            class: "small primary",
            "aria-label": ctx.t("rooms.accept_named", { name }),
            onClick: () => answerInvite(ctx, room, true),
          },
          ctx.t("rooms.accept"),
        ),
        h(
          "button",
          {
            type: "button",
            class: "small ghost",
            "aria-label": ctx.t("rooms.decline_named", { name }),
            onClick: () => answerInvite(ctx, room, false),
          },
          ctx.t("rooms.decline"),
        ),
      ),
    );
  }
  const unread = room.id === currentId ? 0 : room.unread;
  const label = room.label;
  return h(
    "li",
    { class: ["room", unread && "has-unread"] },
    h(
      "a",
      {
        class: "room-link",
        href: `#${pathFor("/room/:id", { id: room.id })}`,
        "aria-current": room.id === currentId ? "page" : null,
        dataset: { roomId: room.id },
      },
      avatar(name, direct ? "round" : ""),
      h(
        "span",
        { class: "room-text" },
        h("span", { class: "room-name" }, name),
        h(
          "span",
          { class: "room-meta" },
          label ? labelBadge(label, ctx, "small") : null,
          h("span", { class: "room-preview" }, preview(room, ctx)),
        ),
      ),
      unread
        ? h(
            "span",
            {
              class: ["unread", room.highlight && "highlight"],
              "aria-label": ctx.t("rooms.unread", { count: unread }),
            },
            ctx.fmtNumber(unread),
          )
        : null,
    ),
  );
}

export function renderRoomList(sidebar, ctx) {
  let list = sidebar.querySelector("ul.rooms");
  if (!list || sidebar.dataset.lang !== ctx.lang()) {
    const searchId = uid("room-search");
    list = h("ul", { class: "rooms", "aria-label": ctx.t("rooms.title") });
    replace(
      sidebar,
      h(
        "div",
        { class: "roomlist-head" },
        h("h2", {}, ctx.t("rooms.title")),
        h(
          "div",
          { class: "roomlist-actions" },
          h(
            "button",
            { type: "button", class: "small", id: "new-chat", onClick: () => openStartChat(ctx) },
            ctx.t("rooms.new_chat"),
          ),
          h(
            "button",
            { type: "button", class: "small", id: "new-room", onClick: () => openCreateRoom(ctx) },
            ctx.t("rooms.new_room"),
          ),
        ),
      ),
      h(
        "div",
        { class: "field search" },
        h("label", { for: searchId, class: "visually-hidden" }, ctx.t("rooms.search")),
        h("input", {
          id: searchId,
          type: "search",
          placeholder: ctx.t("rooms.search"),
          value: filterText,
          onInput: (e) => {
            filterText = e.target.value;
            renderRoomList(sidebar, ctx);
          },
        }),
      ),
      list,
    );
    sidebar.dataset.lang = ctx.lang();
  }
  const params = match("/room/:id", currentPath());
  const currentId = params ? params.id : null;
  const needle = filterText.trim().toLocaleLowerCase();
  const rooms = ctx.chat
    .roomList()
    .filter((r) => !needle || ctx.chat.roomName(r, ctx.t).toLocaleLowerCase().includes(needle));
  if (!ctx.chat.ready && !rooms.length) {
    replace(list, h("li", { class: "muted rooms-note" }, ctx.t("rooms.loading")));
  } else if (!rooms.length) {
    replace(
      list,
      h("li", { class: "muted rooms-note" }, needle ? ctx.t("rooms.no_match") : ctx.t("rooms.none")),
    );
  } else {
    replace(list, rooms.map((r) => roomItem(r, ctx, currentId)));
  }
}
