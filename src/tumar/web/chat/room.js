// One room: header (name, invite, settings, leave), classification banner, the timeline with
// infinite scroll back, typing indicator, and the composer.

import { h, replace } from "../lib/dom.js";
import { api, C, seg } from "../lib/api.js";
import { createComposer, errorMessage } from "./composer.js";
import { currentText, renderTimeline } from "./events.js";
import { labelBanner } from "./labels.js";
import { openInvite, openRoomSettings } from "./dialogs.js";
import { confirmDialog } from "./ui.js";
import { avatar } from "./ui.js";

function lastReadable(room) {
  for (let i = room.timeline.length - 1; i >= 0; i -= 1) {
    const ev = room.timeline[i];
    if (!ev.pending && ev.event_id && !ev.event_id.startsWith("~")) return ev;
  }
  return null;
}

export async function renderRoom(root, params, ctx) {
  const client = ctx.chat;
  const roomId = params.id;
  let room = client.rooms.get(roomId);
  if (!room && !client.ready) {
    replace(root, h("p", { class: "muted pad" }, ctx.t("rooms.loading")));
    await new Promise((resolve) => {
      const done = () => {
        client.removeEventListener("ready", done);
        resolve();
      };
      client.addEventListener("ready", done);
      ctx.signal.addEventListener("abort", done);
    });
    if (ctx.signal.aborted) return;
    room = client.rooms.get(roomId);
  }
  if (!room || room.membership !== "join") {
    replace(
      root,
      h(
        "div",
        { class: "empty-state" },
        h("h1", {}, ctx.t("room.not_found")),
        h("p", {}, ctx.t("room.not_found_hint")),
        h("a", { href: "#/", class: "button" }, ctx.t("room.back")),
      ),
    );
    return;
  }

  const title = h("h1", { class: "room-title", id: "room-title" });
  const topic = h("p", { class: "room-topic muted" });
  const banner = h("div", { class: "banner-slot" });
  const topNote = h("li", { class: "timeline-top muted", "aria-live": "polite" });
  const list = h("ol", { class: "events", "aria-labelledby": "room-title" });
  const scroller = h(
    "div",
    { class: "timeline", tabindex: "0", role: "region", "aria-label": ctx.t("room.timeline") },
    h("ul", { class: "events-top" }, topNote),
    list,
  );
  const typingLine = h("div", { class: "typing muted", "aria-live": "polite" });
  const announcer = h("div", { class: "visually-hidden", "aria-live": "polite" });
  const composer = createComposer(room, ctx);

  const actions = {
    reply: (ev) => composer.reply(ev),
    edit: (ev) => composer.edit(ev, currentText(room, ev, ctx.session.userId)),
    react: async (ev, key, mine) => {
      try {
        if (mine) await client.redact(room, mine);
        else {
          await client.send(room, "m.reaction", {
            "m.relates_to": { rel_type: "m.annotation", event_id: ev.event_id, key },
          });
        }
      } catch (err) {
        ctx.notify(errorMessage(err, ctx), "error");
      }
    },
    remove: async (ev) => {
      const yes = await confirmDialog(ctx, ctx.t("msg.delete_confirm"), ctx.t("msg.delete"));
      if (!yes) return;
      try {
        await client.redact(room, ev.event_id);
      } catch (err) {
        ctx.notify(errorMessage(err, ctx), "error");
      }
    },
    jump: (eventId) => {
      const target = list.querySelector(`[data-event-id="${CSS.escape(eventId)}"]`);
      if (target) {
        target.scrollIntoView({ block: "center" });
        target.classList.add("flash");
        setTimeout(() => target.classList.remove("flash"), 1500);
      } else {
        ctx.notify(ctx.t("msg.reply_not_loaded"), "info");
      }
    },
  };
  composer.onEditLast = (ev) => actions.edit(ev);

  function renderHeader() {
    const name = client.roomName(room, ctx.t);
    replace(title, name);
    const tp = room.stateContent("m.room.topic").topic;
    replace(topic, tp || "");
    topic.hidden = !tp;
    replace(banner, room.label ? labelBanner(room.label, ctx) : null);
    document.title = `${name} · tumar`;
  }

  function renderTyping() {
    const others = room.typing.filter((u) => u !== ctx.session.userId).map((u) => room.memberName(u));
    replace(typingLine, others.length ? ctx.t("room.typing", { names: others.join(", "), count: others.length }) : "");
  }

  function renderTop() {
    if (room.paginating) replace(topNote, ctx.t("room.loading_older"));
    else if (!room.hasMore) replace(topNote, ctx.t("room.start"));
    else replace(topNote, h("button", { type: "button", class: "small ghost", onClick: () => older() }, ctx.t("room.load_older")));
  }

  let seenCount = room.timeline.length;
  function renderEvents({ keepBottom = null, prependFrom = null } = {}) {
    const atBottom = keepBottom ?? scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const oldHeight = scroller.scrollHeight;
    const oldTop = scroller.scrollTop;
    const active = document.activeElement;
    const activeItem = active && list.contains(active) ? active.closest("[data-event-id]") : null;
    const restore = activeItem ? [activeItem.dataset.eventId, active.dataset.action] : null;
    replace(list, renderTimeline(room, ctx, actions));
    renderTop();
    if (restore) {
      const item = list.querySelector(`[data-event-id="${CSS.escape(restore[0])}"]`);
      const again = item && (restore[1] ? item.querySelector(`[data-action="${CSS.escape(restore[1])}"]`) : null);
      if (again) again.focus();
      else if (item) scroller.focus();
    }
    if (prependFrom !== null) {
      scroller.scrollTop = oldTop + (scroller.scrollHeight - oldHeight);
    } else if (atBottom) {
      scroller.scrollTop = scroller.scrollHeight;
    }
  }

  function announceNew() {
    const fresh = room.timeline.slice(seenCount);
    seenCount = room.timeline.length;
    const incoming = fresh.filter((ev) => ev.type === "m.room.message" && ev.sender !== ctx.session.userId && !ev.pending);
    if (incoming.length) {
      const ev = incoming[incoming.length - 1];
      replace(announcer, ctx.t("room.new_message", { name: room.memberName(ev.sender), text: (ev.content && ev.content.body) || "" }));
    }
  }

  function markRead() {
    if (document.visibilityState !== "visible") return;
    const ev = lastReadable(room);
    if (ev) client.readUpTo(room, ev.event_id);
    room.unread = 0;
    room.highlight = 0;
  }

  async function older() {
    if (room.paginating || !room.hasMore) return;
    renderTop();
    try {
      const added = await client.paginate(room);
      if (ctx.signal.aborted) return;
      renderEvents({ prependFrom: added });
    } catch (err) {
      replace(topNote, h("span", { class: "error" }, errorMessage(err, ctx)), " ", h("button", { type: "button", class: "small", onClick: () => older() }, ctx.t("room.retry")));
      return;
    }
    // Keep loading while the timeline does not fill the view yet.
    if (room.hasMore && scroller.scrollHeight <= scroller.clientHeight + 40) older();
  }

  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < 150) older();
  });

  const leaveButton = h(
    "button",
    {
      type: "button",
      class: "small ghost danger",
      id: "leave-room",
      onClick: async () => {
        const yes = await confirmDialog(ctx, ctx.t("room.leave_confirm", { name: client.roomName(room, ctx.t) }), ctx.t("room.leave"));
        if (!yes) return;
        try {
          await api.post(`${C}/rooms/${seg(room.id)}/leave`, {});
          client.rooms.delete(room.id);
          client.emit("rooms", {});
          ctx.navigate("/");
        } catch (err) {
          ctx.notify(errorMessage(err, ctx), "error");
        }
      },
    },
    ctx.t("room.leave"),
  );

  replace(
    root,
    h(
      "section",
      { class: "room-view", "aria-labelledby": "room-title" },
      h(
        "header",
        { class: "room-header" },
        h("a", { href: "#/", class: "back-link", "aria-label": ctx.t("room.back") }, "←"),
        avatar(client.roomName(room, ctx.t), client.isDirect(room.id) ? "round" : ""),
        h("div", { class: "room-heading" }, title, topic),
        h(
          "div",
          { class: "room-actions" },
          h("button", { type: "button", class: "small", id: "invite-button", onClick: () => openInvite(ctx, room) }, ctx.t("room.invite")),
          h("button", { type: "button", class: "small", id: "settings-button", onClick: () => openRoomSettings(ctx, room) }, ctx.t("room.settings")),
          leaveButton,
        ),
      ),
      banner,
      scroller,
      typingLine,
      announcer,
      composer.element,
    ),
  );
  renderHeader();
  renderTyping();
  renderEvents({ keepBottom: true });
  markRead();
  composer.focus();
  if (room.hasMore && scroller.scrollHeight <= scroller.clientHeight + 40) older();

  const onRoom = (e) => {
    if (e.detail.roomId !== room.id) return;
    if (e.detail.left) {
      ctx.navigate("/");
      return;
    }
    renderHeader();
    renderTyping();
    renderEvents();
    announceNew();
    markRead();
  };
  const onVisible = () => markRead();
  client.addEventListener("room", onRoom);
  document.addEventListener("visibilitychange", onVisible);
  ctx.signal.addEventListener("abort", () => {
    client.removeEventListener("room", onRoom);
    document.removeEventListener("visibilitychange", onVisible);
    composer.stop();
  });
}
