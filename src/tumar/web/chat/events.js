// Rendering a room's timeline: messages (text, images, files), replies, edits, reactions,
// redactions, read receipts, day separators, and state changes written as sentences.

import { h } from "../lib/dom.js";
import { fmtBytes } from "../lib/i18n.js";
import { LABEL_EVENT } from "./client.js";
import { labelName } from "./labels.js";
import { download, mediaUrl } from "./media.js";

export const QUICK_REACTIONS = ["👍", "❤️", "✅", "😄"];
const HIDDEN_STATE = new Set([
  "m.room.power_levels",
  "m.room.join_rules",
  "m.room.history_visibility",
  "m.room.guest_access",
  "m.room.canonical_alias",
  "m.room.avatar",
  "m.room.server_acl",
  "m.room.pinned_events",
]);

function rel(ev) {
  return (ev.content && ev.content["m.relates_to"]) || null;
}

export function isRedacted(ev) {
  return Boolean(ev.unsigned && ev.unsigned.redacted_because);
}

/** Edits, reactions and what to hide, derived from the loaded timeline. */
export function aggregate(room, me) {
  const edits = new Map(); // original id -> latest replacing event
  const reactions = new Map(); // target id -> Map(key -> {count, mine, senders})
  const byId = new Map();
  for (const ev of room.timeline) byId.set(ev.event_id, ev);
  for (const ev of room.timeline) {
    const r = rel(ev);
    if (!r || isRedacted(ev)) continue;
    if (ev.type === "m.room.message" && r.rel_type === "m.replace") {
      const target = byId.get(r.event_id);
      if (target && target.sender === ev.sender) edits.set(r.event_id, ev);
    } else if (ev.type === "m.reaction" && r.rel_type === "m.annotation" && r.key) {
      if (!reactions.has(r.event_id)) reactions.set(r.event_id, new Map());
      const keys = reactions.get(r.event_id);
      const entry = keys.get(r.key) || { count: 0, mine: null, senders: [] };
      if (entry.senders.includes(ev.sender)) continue;
      entry.count += 1;
      entry.senders.push(ev.sender);
      if (ev.sender === me) entry.mine = ev.event_id;
      keys.set(r.key, entry);
    }
  }
  return { edits, reactions, byId };
}

function isHidden(ev) {
  if (ev.type === "m.reaction" || ev.type === "m.room.redaction") return true;
  const r = rel(ev);
  if (ev.type === "m.room.message" && r && r.rel_type === "m.replace") return true;
  if (HIDDEN_STATE.has(ev.type)) return true;
  if (ev.type === "m.room.member" && !memberSentence(ev, null, (k) => k)) return true;
  return false;
}

export function visibleEvents(room) {
  return room.timeline.filter((ev) => !isHidden(ev));
}

function name(room, userId) {
  return room ? room.memberName(userId) : userId;
}

/** A membership change as a sentence key and its values, or null when there is nothing to say. */
function memberSentence(ev, room, t) {
  const c = ev.content || {};
  const prev = (ev.unsigned && ev.unsigned.prev_content) || {};
  const target = ev.state_key;
  const who = c.displayname || name(room, target);
  const by = name(room, ev.sender);
  const was = prev.membership;
  const self = ev.sender === target;
  switch (c.membership) {
    case "join":
      if (was === "join") {
        if (c.displayname !== prev.displayname) {
          return t("ev.renamed", { old: prev.displayname || target, name: c.displayname || target });
        }
        if (c.avatar_url !== prev.avatar_url) return t("ev.avatar", { name: who });
        return null;
      }
      return t("ev.joined", { name: who });
    case "invite":
      return t("ev.invited", { by, name: who });
    case "leave":
      if (was === "ban") return t("ev.unbanned", { by, name: who });
      if (was === "invite") return self ? t("ev.declined", { name: who }) : t("ev.uninvited", { by, name: who });
      return self ? t("ev.left", { name: who }) : t("ev.kicked", { by, name: who });
    case "ban":
      return t("ev.banned", { by, name: who });
    case "knock":
      return t("ev.knocked", { name: who });
    default:
      return null;
  }
}

function stateSentence(ev, room, ctx) {
  const t = ctx.t;
  const by = name(room, ev.sender);
  const c = ev.content || {};
  switch (ev.type) {
    case "m.room.member":
      return memberSentence(ev, room, t);
    case "m.room.create":
      return t("ev.created", { by });
    case "m.room.name":
      return c.name ? t("ev.named", { by, name: c.name }) : t("ev.unnamed", { by });
    case "m.room.topic":
      return c.topic ? t("ev.topic", { by, topic: c.topic }) : t("ev.untopic", { by });
    case "m.room.encryption":
      return t("ev.encryption", { by });
    case LABEL_EVENT:
      return t("ev.label", { by, label: labelName(c.label || "", ctx) });
    default:
      return null;
  }
}

function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function dayLabel(ts, ctx) {
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  if (dayKey(ts) === dayKey(today.getTime())) return ctx.t("day.today");
  if (dayKey(ts) === dayKey(yesterday.getTime())) return ctx.t("day.yesterday");
  return ctx.fmtDate(ts, { dateStyle: "full" });
}

/** The body without a reply fallback ("> <@user> ..." lines) that older clients add. */
function stripFallback(body, content) {
  const r = content["m.relates_to"];
  if (!r || !r["m.in_reply_to"] || typeof body !== "string") return body;
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i].startsWith(">")) i += 1;
  if (i > 0 && lines[i] === "") i += 1;
  return i > 0 ? lines.slice(i).join("\n") : body;
}

function snippet(ev, ctx, edits) {
  if (!ev) return ctx.t("msg.reply_unknown");
  if (isRedacted(ev)) return ctx.t("msg.deleted");
  const edit = edits && edits.get(ev.event_id);
  const c = edit ? edit.content["m.new_content"] || edit.content : ev.content || {};
  if (c.msgtype === "m.image") return ctx.t("msg.image");
  if (c.msgtype === "m.file") return c.body || ctx.t("msg.file");
  const text = stripFallback(c.body || "", c);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

function imageBody(content, ctx) {
  const info = content.info || {};
  const img = h("img", {
    class: "msg-image",
    alt: content.body || ctx.t("msg.image"),
    width: info.w && info.h ? Math.min(320, info.w) : null,
    height: info.w && info.h ? Math.round((Math.min(320, info.w) / info.w) * info.h) : null,
  });
  const big = (info.size || 0) > 512 * 1024;
  mediaUrl(content.url, big ? { width: 640, height: 480 } : null)
    .then((url) => {
      img.src = url;
    })
    .catch(() => {
      img.alt = ctx.t("msg.media_failed");
      img.classList.add("broken");
    });
  return h(
    "button",
    {
      type: "button",
      class: "image-button",
      "aria-label": ctx.t("msg.open_image", { name: content.body || "" }),
      onClick: () => download(content.url, content.body).catch((e) => ctx.notify(e.message, "error")),
    },
    img,
  );
}

function fileExt(name) {
  const m = /\.([A-Za-z0-9]{1,4})$/.exec(name || "");
  return m ? m[1].toUpperCase() : "FILE";
}

function fileBody(content, ctx) {
  const info = content.info || {};
  return h(
    "div",
    { class: "file-card" },
    h("span", { class: "file-icon", "aria-hidden": "true" }, fileExt(content.body)),
    h(
      "span",
      { class: "file-meta" },
      h("span", { class: "file-name" }, content.body || ctx.t("msg.file")),
      info.size ? h("span", { class: "muted" }, fmtBytes(info.size)) : null,
    ),
    h(
      "button",
      {
        type: "button",
        class: "small",
        "aria-label": ctx.t("msg.download_named", { name: content.body || "" }),
        onClick: () =>
          download(content.url, content.body).catch((e) => ctx.notify(e.message || ctx.t("msg.media_failed"), "error")),
      },
      ctx.t("msg.download"),
    ),
  );
}

function messageBody(ev, shown, ctx) {
  const c = shown;
  if (isRedacted(ev)) return h("p", { class: "msg-text redacted" }, ctx.t("msg.deleted"));
  if (ev.type === "m.room.encrypted") return h("p", { class: "msg-text muted" }, ctx.t("msg.encrypted"));
  switch (c.msgtype) {
    case "m.image":
      return c.url ? imageBody(c, ctx) : h("p", { class: "msg-text" }, c.body || "");
    case "m.file":
    case "m.audio":
    case "m.video":
      return c.url ? fileBody(c, ctx) : h("p", { class: "msg-text" }, c.body || "");
    case "m.emote":
      return h("p", { class: "msg-text emote" }, `* ${c.body || ""}`);
    default:
      return h("p", { class: ["msg-text", c.msgtype === "m.notice" && "notice"] }, stripFallback(c.body || "", ev.content || {}));
  }
}

/**
 * The list items of the timeline. `actions` has reply(ev), edit(ev), react(ev, key, mine),
 * remove(ev), jump(eventId).
 */
export function renderTimeline(room, ctx, actions) {
  const me = ctx.session.userId;
  const { edits, reactions, byId } = aggregate(room, me);
  const readers = new Map(); // event id -> [user ids]
  for (const [userId, eventId] of room.receipts) {
    if (userId === me) continue;
    if (!readers.has(eventId)) readers.set(eventId, []);
    readers.get(eventId).push(userId);
  }
  const items = [];
  let lastDay = null;
  let lastSender = null;
  let lastTs = 0;
  for (const ev of visibleEvents(room)) {
    const ts = ev.origin_server_ts || Date.now();
    const day = dayKey(ts);
    if (day !== lastDay) {
      items.push(h("li", { class: "day", role: "separator" }, h("span", {}, dayLabel(ts, ctx))));
      lastDay = day;
      lastSender = null;
    }
    const isMessage = ev.type === "m.room.message" || ev.type === "m.room.encrypted";
    if (!isMessage) {
      const sentence = stateSentence(ev, room, ctx);
      if (sentence) {
        items.push(
          h(
            "li",
            { class: "event state", dataset: { eventId: ev.event_id } },
            h("span", {}, sentence),
            h("time", { class: "muted", datetime: new Date(ts).toISOString() }, ctx.fmtDate(ts, { timeStyle: "short" })),
          ),
        );
      }
      lastSender = null;
      continue;
    }
    const edit = edits.get(ev.event_id);
    const shown = edit && !isRedacted(ev) ? edit.content["m.new_content"] || edit.content : ev.content || {};
    const grouped = lastSender === ev.sender && ts - lastTs < 5 * 60 * 1000;
    lastSender = ev.sender;
    lastTs = ts;
    const mine = ev.sender === me;
    const reply = ev.content && ev.content["m.relates_to"] && ev.content["m.relates_to"]["m.in_reply_to"];
    const replyTo = reply ? byId.get(reply.event_id) : null;
    const senderName = room.memberName(ev.sender);
    const when = ctx.fmtDate(ts, { timeStyle: "short" });
    const rx = reactions.get(ev.event_id);
    const canAct = !ev.pending && !isRedacted(ev) && ev.type === "m.room.message";
    const seenBy = (readers.get(ev.event_id) || []).filter((u) => u !== ev.sender);
    items.push(
      h(
        "li",
        {
          class: ["event", "message", mine && "mine", grouped && "grouped", ev.pending && "pending"],
          dataset: { eventId: ev.event_id },
        },
        grouped
          ? null
          : h(
              "div",
              { class: "msg-head" },
              h("span", { class: "sender" }, senderName),
              h("time", { datetime: new Date(ts).toISOString() }, when),
            ),
        replyTo || reply
          ? h(
              "button",
              {
                type: "button",
                class: "reply-quote",
                "aria-label": ctx.t("msg.reply_to", {
                  name: replyTo ? room.memberName(replyTo.sender) : "",
                  text: snippet(replyTo, ctx, edits),
                }),
                onClick: () => actions.jump(reply.event_id),
              },
              h("span", { class: "reply-sender" }, replyTo ? room.memberName(replyTo.sender) : ""),
              h("span", { class: "reply-text" }, snippet(replyTo, ctx, edits)),
            )
          : null,
        messageBody(ev, shown, ctx),
        edit && !isRedacted(ev) ? h("span", { class: "edited muted" }, ctx.t("msg.edited")) : null,
        ev.pending ? h("span", { class: "muted sending" }, ctx.t("msg.sending")) : null,
        grouped ? h("span", { class: "visually-hidden" }, `${senderName}, ${when}`) : null,
        rx && rx.size
          ? h(
              "div",
              { class: "reactions", role: "group", "aria-label": ctx.t("msg.reactions") },
              [...rx.entries()].map(([key, entry]) =>
                h(
                  "button",
                  {
                    type: "button",
                    class: "reaction",
                    "aria-pressed": String(Boolean(entry.mine)),
                    "aria-label": ctx.t("msg.reaction_named", {
                      key,
                      count: entry.count,
                      names: entry.senders.map((u) => room.memberName(u)).join(", "),
                    }),
                    title: entry.senders.map((u) => room.memberName(u)).join(", "),
                    dataset: { action: `react-${key}` },
                    onClick: () => actions.react(ev, key, entry.mine),
                  },
                  `${key} ${ctx.fmtNumber(entry.count)}`,
                ),
              ),
            )
          : null,
        seenBy.length
          ? h(
              "div",
              { class: "receipts muted" },
              ctx.t("msg.seen_by", { names: seenBy.map((u) => room.memberName(u)).join(", ") }),
            )
          : null,
        canAct ? messageActions(ev, mine, rx, ctx, actions) : null,
      ),
    );
  }
  return items;
}

function messageActions(ev, mine, rx, ctx, actions) {
  const isText = !ev.content.msgtype || ["m.text", "m.notice", "m.emote"].includes(ev.content.msgtype);
  const mineFor = (key) => (rx && rx.get(key) ? rx.get(key).mine : null);
  return h(
    "div",
    { class: "msg-actions", role: "group", "aria-label": ctx.t("msg.actions") },
    QUICK_REACTIONS.map((key) =>
      h(
        "button",
        {
          type: "button",
          class: "icon",
          "aria-label": ctx.t("msg.react_with", { key }),
          dataset: { action: `quick-${key}` },
          onClick: () => actions.react(ev, key, mineFor(key)),
        },
        key,
      ),
    ),
    h(
      "button",
      { type: "button", class: "icon text", dataset: { action: "reply" }, onClick: () => actions.reply(ev) },
      ctx.t("msg.reply"),
    ),
    mine && isText
      ? h(
          "button",
          { type: "button", class: "icon text", dataset: { action: "edit" }, onClick: () => actions.edit(ev) },
          ctx.t("msg.edit"),
        )
      : null,
    mine
      ? h(
          "button",
          { type: "button", class: "icon text danger", dataset: { action: "delete" }, onClick: () => actions.remove(ev) },
          ctx.t("msg.delete"),
        )
      : null,
  );
}

/** The text the composer starts with when editing `ev` (its latest edit, if any). */
export function currentText(room, ev, me) {
  const { edits } = aggregate(room, me);
  const edit = edits.get(ev.event_id);
  const c = edit ? edit.content["m.new_content"] || edit.content : ev.content;
  return stripFallback(c.body || "", ev.content || {});
}
