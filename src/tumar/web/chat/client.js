// The chat client: one long-poll /sync loop, the rooms it has seen, and the derived views
// (names, members, unread counts, typing, receipts). Emits "rooms" (the list changed),
// "room" (detail: roomId; its timeline or state changed) and "status" (online/offline).

import { api, ApiError, C, seg } from "../lib/api.js";

export const LABEL_EVENT = "kz.tumar.classification";
const SYNC_TIMEOUT_MS = 25000;
const MAX_BACKOFF_MS = 15000;
const FILTER = {
  room: {
    timeline: { limit: 30 },
    state: { lazy_load_members: false },
  },
  presence: { types: [] },
};

function key(type, stateKey) {
  return `${type}\u0000${stateKey}`;
}

export class Room {
  constructor(id) {
    this.id = id;
    this.membership = "join";
    this.state = new Map();
    this.timeline = [];
    this.ids = new Set();
    this.prevBatch = null;
    this.hasMore = true;
    this.unread = 0;
    this.highlight = 0;
    this.typing = [];
    this.receipts = new Map(); // userId -> eventId
    this.inviter = null;
  }

  stateEvent(type, stateKey = "") {
    return this.state.get(key(type, stateKey)) || null;
  }

  stateContent(type, stateKey = "") {
    const ev = this.stateEvent(type, stateKey);
    return (ev && ev.content) || {};
  }

  members(membership = "join") {
    const out = [];
    for (const ev of this.state.values()) {
      if (ev.type === "m.room.member" && ev.content && ev.content.membership === membership) {
        out.push(ev.state_key);
      }
    }
    return out;
  }

  memberName(userId) {
    const c = this.stateContent("m.room.member", userId);
    return (c && c.displayname) || userId;
  }

  get label() {
    const c = this.stateContent(LABEL_EVENT);
    return typeof c.label === "string" && c.label ? c.label : null;
  }

  get lastTs() {
    for (let i = this.timeline.length - 1; i >= 0; i -= 1) {
      const ts = this.timeline[i].origin_server_ts;
      if (ts) return ts;
    }
    const create = this.stateEvent("m.room.create");
    return (create && create.origin_server_ts) || 0;
  }

  setState(ev) {
    if (ev && typeof ev.state_key === "string") this.state.set(key(ev.type, ev.state_key), ev);
  }

  addEvents(events, { prepend = false } = {}) {
    const fresh = events.filter((ev) => ev.event_id && !this.ids.has(ev.event_id));
    for (const ev of fresh) this.ids.add(ev.event_id);
    if (prepend) {
      this.timeline = [...fresh, ...this.timeline];
    } else {
      for (const ev of fresh) {
        const txn = ev.unsigned && ev.unsigned.transaction_id;
        const echo = txn ? this.timeline.findIndex((e) => e.pending && e.txnId === txn) : -1;
        if (echo >= 0) this.timeline.splice(echo, 1);
        this.timeline.push(ev);
        if (ev.type === "m.room.redaction") this.applyRedaction(ev);
      }
    }
    return fresh.length;
  }

  applyRedaction(redaction) {
    const target = redaction.redacts || (redaction.content && redaction.content.redacts);
    const ev = this.timeline.find((e) => e.event_id === target);
    if (ev) {
      ev.content = {};
      ev.unsigned = { ...(ev.unsigned || {}), redacted_because: redaction };
    }
  }
}

export class ChatClient extends EventTarget {
  constructor(session) {
    super();
    this.userId = session.userId;
    this.deviceId = session.deviceId;
    this.rooms = new Map();
    this.direct = {};
    this.since = null;
    this.running = false;
    this.online = true;
    this.ready = false;
    this.error = null;
    this.abort = null;
    this.uploadLimit = null;
    this.profiles = new Map();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.loop();
    api
      .get("/_matrix/media/v3/config")
      .then((cfg) => {
        this.uploadLimit = cfg["m.upload.size"] || null;
      })
      .catch(() => {});
  }

  stop() {
    this.running = false;
    if (this.abort) this.abort.abort();
  }

  setOnline(value) {
    if (this.online === value) return;
    this.online = value;
    this.emit("status", { online: value });
  }

  async loop() {
    let backoff = 1000;
    let filterId = null;
    while (this.running) {
      this.abort = new AbortController();
      try {
        if (filterId === null) {
          const made = await api.post(`${C}/user/${seg(this.userId)}/filter`, FILTER, {
            signal: this.abort.signal,
          });
          filterId = made.filter_id;
        }
        const params = new URLSearchParams({ filter: filterId });
        if (this.since) {
          params.set("since", this.since);
          params.set("timeout", String(SYNC_TIMEOUT_MS));
        }
        const data = await api.get(`${C}/sync?${params}`, { signal: this.abort.signal });
        if (!this.running) break;
        if (data && data.next_batch) {
          this.apply(data);
          this.since = data.next_batch;
        }
        backoff = 1000;
        this.setOnline(true);
        if (!this.ready) {
          this.ready = true;
          this.emit("ready", {});
        }
      } catch (err) {
        if (!this.running || (err && err.name === "AbortError")) break;
        if (err instanceof ApiError && err.errcode === "M_UNKNOWN_TOKEN") {
          this.running = false;
          break;
        }
        if (err instanceof ApiError && err.status === 400 && this.since) {
          this.since = null; // a token the server no longer understands: start afresh
        }
        this.setOnline(false);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  room(roomId) {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = new Room(roomId);
      this.rooms.set(roomId, room);
    }
    return room;
  }

  apply(data) {
    let listChanged = false;
    for (const ev of (data.account_data && data.account_data.events) || []) {
      if (ev.type === "m.direct") {
        this.direct = ev.content || {};
        listChanged = true;
      }
    }
    const rooms = data.rooms || {};
    for (const [roomId, sec] of Object.entries(rooms.join || {})) {
      const room = this.room(roomId);
      room.membership = "join";
      for (const ev of (sec.state && sec.state.events) || []) room.setState(ev);
      const tl = sec.timeline || {};
      const events = tl.events || [];
      if (tl.limited && room.timeline.length) {
        room.timeline = room.timeline.filter((e) => e.pending);
        room.ids = new Set();
        room.hasMore = true;
      }
      if (tl.prev_batch && (tl.limited || room.prevBatch === null)) room.prevBatch = tl.prev_batch;
      if (!tl.limited && room.prevBatch === null && !tl.prev_batch) room.hasMore = false;
      for (const ev of events) room.setState(ev);
      room.addEvents(events);
      for (const ev of (sec.ephemeral && sec.ephemeral.events) || []) {
        if (ev.type === "m.typing") room.typing = (ev.content.user_ids || []).slice();
        if (ev.type === "m.receipt") {
          for (const [eventId, kinds] of Object.entries(ev.content || {})) {
            for (const userId of Object.keys((kinds && kinds["m.read"]) || {})) {
              room.receipts.set(userId, eventId);
            }
          }
        }
      }
      const counts = sec.unread_notifications;
      if (counts) {
        room.unread = counts.notification_count || 0;
        room.highlight = counts.highlight_count || 0;
      }
      listChanged = true;
      this.emit("room", { roomId });
    }
    for (const [roomId, sec] of Object.entries(rooms.invite || {})) {
      const room = this.room(roomId);
      room.membership = "invite";
      for (const ev of (sec.invite_state && sec.invite_state.events) || []) {
        room.setState(ev);
        if (ev.type === "m.room.member" && ev.state_key === this.userId) room.inviter = ev.sender;
      }
      listChanged = true;
    }
    for (const roomId of Object.keys(rooms.leave || {})) {
      if (this.rooms.has(roomId)) {
        this.rooms.delete(roomId);
        listChanged = true;
        this.emit("room", { roomId, left: true });
      }
    }
    if (listChanged) this.emit("rooms", {});
  }

  /** Rooms for the list: invites first, then by latest activity. */
  roomList() {
    return [...this.rooms.values()].sort((a, b) => {
      if ((a.membership === "invite") !== (b.membership === "invite")) {
        return a.membership === "invite" ? -1 : 1;
      }
      return b.lastTs - a.lastTs;
    });
  }

  isDirect(roomId) {
    return Object.values(this.direct).some((ids) => Array.isArray(ids) && ids.includes(roomId));
  }

  directPartner(room) {
    for (const [userId, ids] of Object.entries(this.direct)) {
      if (Array.isArray(ids) && ids.includes(room.id)) return userId;
    }
    return null;
  }

  roomName(room, t) {
    const name = room.stateContent("m.room.name").name;
    if (name) return name;
    const alias = room.stateContent("m.room.canonical_alias").alias;
    if (alias) return alias;
    const partner = this.directPartner(room);
    if (partner) return room.memberName(partner);
    const others = [...room.members("join"), ...room.members("invite")].filter(
      (u) => u !== this.userId,
    );
    if (others.length) return others.slice(0, 3).map((u) => room.memberName(u)).join(", ");
    if (room.membership === "invite" && room.inviter) {
      const own = room.memberName(room.inviter);
      return own !== room.inviter ? own : this.profileName(room.inviter);
    }
    return t("room.empty_name");
  }

  /** A user's display name from their profile (fetched once), or the user id meanwhile. */
  profileName(userId) {
    if (!this.profiles.has(userId)) {
      this.profiles.set(userId, userId);
      api
        .get(`${C}/profile/${seg(userId)}`)
        .then((p) => {
          if (p && p.displayname) {
            this.profiles.set(userId, p.displayname);
            this.emit("rooms", {});
          }
        })
        .catch(() => {});
    }
    return this.profiles.get(userId);
  }

  /** Older events of a room (infinite scroll back). Returns how many were added. */
  async paginate(room, limit = 30) {
    if (!room.hasMore || room.paginating || !room.prevBatch) {
      if (!room.prevBatch) room.hasMore = false;
      return 0;
    }
    room.paginating = true;
    try {
      const params = new URLSearchParams({ dir: "b", from: room.prevBatch, limit: String(limit) });
      const data = await api.get(`${C}/rooms/${seg(room.id)}/messages?${params}`);
      const chunk = (data.chunk || []).slice().reverse();
      for (const ev of data.state || []) if (!room.stateEvent(ev.type, ev.state_key)) room.setState(ev);
      const added = room.addEvents(chunk, { prepend: true });
      room.prevBatch = data.end || null;
      if (!data.end || !(data.chunk || []).length) room.hasMore = false;
      return added;
    } finally {
      room.paginating = false;
    }
  }

  /** Send an event with a local echo; the echo is replaced by the real event from /sync. */
  async send(room, type, content) {
    const txnId = `w${Date.now()}${Math.random().toString(36).slice(2, 8)}`;
    const echo = {
      type,
      content,
      sender: this.userId,
      origin_server_ts: Date.now(),
      event_id: `~${txnId}`,
      pending: true,
      txnId,
    };
    room.timeline.push(echo);
    this.emit("room", { roomId: room.id });
    try {
      const path = `${C}/rooms/${seg(room.id)}/send/${seg(type)}/${seg(txnId)}`;
      const res = await api.put(path, content);
      echo.sentId = res.event_id;
      return res.event_id;
    } catch (err) {
      room.timeline = room.timeline.filter((e) => e !== echo);
      this.emit("room", { roomId: room.id });
      throw err;
    }
  }

  async redact(room, eventId, reason) {
    const txnId = `r${Date.now()}${Math.random().toString(36).slice(2, 8)}`;
    const body = reason ? { reason } : {};
    await api.put(`${C}/rooms/${seg(room.id)}/redact/${seg(eventId)}/${seg(txnId)}`, body);
  }

  async readUpTo(room, eventId) {
    if (!eventId || eventId.startsWith("~") || room.sentReceipt === eventId) return;
    room.sentReceipt = eventId;
    try {
      await api.post(`${C}/rooms/${seg(room.id)}/receipt/m.read/${seg(eventId)}`, {});
    } catch {
      room.sentReceipt = null;
    }
  }

  async setTyping(room, typing) {
    const body = typing ? { typing: true, timeout: 6000 } : { typing: false };
    try {
      await api.put(`${C}/rooms/${seg(room.id)}/typing/${seg(this.userId)}`, body);
    } catch {
      /* typing is best effort */
    }
  }

  /** Resolves when /sync has brought the joined room (after createRoom or join). */
  waitForRoom(roomId, timeoutMs = 15000) {
    const has = () => this.rooms.has(roomId) && this.rooms.get(roomId).membership === "join";
    if (has()) return Promise.resolve(this.rooms.get(roomId));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.removeEventListener("rooms", check);
        reject(new Error("timeout"));
      }, timeoutMs);
      const check = () => {
        if (!has()) return;
        clearTimeout(timer);
        this.removeEventListener("rooms", check);
        resolve(this.rooms.get(roomId));
      };
      this.addEventListener("rooms", check);
    });
  }

  async markDirect(userId, roomId) {
    const direct = { ...this.direct };
    direct[userId] = [...new Set([...(direct[userId] || []), roomId])];
    await api.put(`${C}/user/${seg(this.userId)}/account_data/m.direct`, direct);
    this.direct = direct;
  }
}
