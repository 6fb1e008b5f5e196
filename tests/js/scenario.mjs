// matrix-js-sdk end-to-end scenario against a live tumar; driven by tests/clients/test_js_sdk.py.
//
// Environment:
//   TUMAR_HS_URL                               homeserver base URL (http://127.0.0.1:PORT)
//   TUMAR_USER1_ID / _TOKEN / _DEVICE          the room creator and sender
//   TUMAR_USER2_ID / _TOKEN / _DEVICE          the invitee who joins and scrolls back
//   TUMAR_JS_TIMEOUT_MS                        hard timeout for the whole run (default 90000)
//   TUMAR_JS_MESSAGES                          messages sent after the first one (default 30)
//   TUMAR_JS_DEBUG=1                           echo js-sdk's own logging to stderr as it happens
//
// Plumbing (the JSON result line, log tail, request log, hard timeout) in common.mjs.

import { check, envUser, run, sdk, startClient, step } from "./common.mjs";

/** Resolve when predicate() holds, re-checking on each `event` of `emitter` (and every 100 ms). */
function waitFor(emitter, event, predicate, what, ms = 20000) {
    return new Promise((resolve, reject) => {
        let timer;
        let poll;
        const done = (fn, value) => {
            clearTimeout(timer);
            clearInterval(poll);
            emitter.off(event, listener);
            fn(value);
        };
        const test = () => {
            try {
                const value = predicate();
                if (value) done(resolve, value);
            } catch (err) {
                done(reject, err);
            }
        };
        const listener = () => test();
        emitter.on(event, listener);
        poll = setInterval(test, 100);
        timer = setTimeout(() => done(reject, new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
        test();
    });
}

const { ClientEvent, RoomEvent, RoomMemberEvent } = sdk;
const extraMessages = Number(process.env.TUMAR_JS_MESSAGES ?? 30);

// The transaction ids seen on /sync timeline events, so that the remote echo can be shown to
// come back with `unsigned.transaction_id` (not the id fallback).
const syncTxnIds = new Map(); // transaction_id -> event_id, as served by /sync

async function recordSyncTxnIds(url, response) {
    if (!url.pathname.endsWith("/sync") || !response.ok) return;
    try {
        const body = await response.clone().json();
        for (const room of Object.values(body?.rooms?.join ?? {})) {
            for (const ev of room?.timeline?.events ?? []) {
                const txn = ev?.unsigned?.transaction_id;
                if (txn) syncTxnIds.set(txn, ev.event_id);
            }
        }
    } catch {
        // the client reports unparsable bodies itself
    }
}

/** A started client with lazy-loaded members and a 10-event initial timeline. */
function start(label, user) {
    return startClient(label, user, { lazyLoadMembers: true, initialSyncLimit: 10 }, { inspect: recordSyncTxnIds, preparedMs: 20000 });
}

function liveEvents(room) {
    return room.getLiveTimeline().getEvents();
}

function messageBodies(room) {
    return liveEvents(room)
        .filter((e) => e.getType() === "m.room.message")
        .map((e) => e.getContent().body);
}

async function main() {
    const user1 = envUser("TUMAR_USER1");
    const user2 = envUser("TUMAR_USER2");
    // 1. First client: initial sync with lazy-loading members.
    const a = await start("alice", user1);
    step("alice prepared");

    // 2. Create a room inviting the second user; wait until the client sees it joined.
    const { room_id: roomId } = await a.client.createRoom({
        name: "js-sdk scenario",
        preset: "private_chat",
        invite: [user2.userId],
    });
    check(typeof roomId === "string" && roomId.startsWith("!"), `room id ${roomId}`);
    const roomA = await waitFor(
        a.client,
        ClientEvent.Room,
        () => {
            const room = a.client.getRoom(roomId);
            return room && room.getMyMembership() === "join" ? room : null;
        },
        "alice's room to come down /sync",
    );
    await waitFor(
        roomA,
        RoomMemberEvent.Membership,
        () => roomA.currentState.getMember(user2.userId)?.membership === "invite",
        "the invite of the second user to show in room state",
    ).catch(() => roomA.loadMembersIfNeeded()); // lazy loading may hide the invite until /members
    step("room created");

    // 3. One message: the local echo must be replaced by the remote echo, matched by txn id.
    const firstBody = "first message 0";
    const statuses = [];
    const onEcho = (event, room, oldEventId, oldStatus) => {
        if (room.roomId === roomId && event.getContent().body === firstBody) {
            statuses.push({ old_status: oldStatus ?? null, status: event.status ?? null, old_id: oldEventId ?? null, id: event.getId() });
        }
    };
    roomA.on(RoomEvent.LocalEchoUpdated, onEcho);
    const sendPromise = a.client.sendMessage(roomId, { msgtype: "m.text", body: firstBody });
    // The local echo is in the live timeline synchronously, with a local id and a txn id.
    const localEcho = liveEvents(roomA).find((e) => e.getContent().body === firstBody);
    check(localEcho, "local echo in the live timeline right after sendMessage");
    const localId = localEcho.getId();
    const txnId = localEcho.getTxnId();
    const localStatus = localEcho.status;
    check(localId.startsWith("~"), `local echo id ${localId} is a local id`);
    check(typeof txnId === "string" && txnId.length > 0, "local echo has a transaction id");
    check(localStatus === "sending" || localStatus === "encrypting" || localStatus === "queued", `local status ${localStatus}`);
    const { event_id: sentEventId } = await sendPromise;
    check(sentEventId.startsWith("$"), `send response event id ${sentEventId}`);
    await waitFor(roomA, RoomEvent.LocalEchoUpdated, () => localEcho.status === null, "the remote echo of the first message");
    roomA.off(RoomEvent.LocalEchoUpdated, onEcho);
    check(localEcho.getId() === sentEventId, `echo id ${localEcho.getId()} == ${sentEventId}`);
    check(syncTxnIds.get(txnId) === sentEventId, `/sync served ${sentEventId} with unsigned.transaction_id ${txnId} (got ${syncTxnIds.get(txnId)})`);
    const copies = liveEvents(roomA).filter((e) => e.getContent().body === firstBody);
    check(copies.length === 1, `exactly one copy of the first message in the live timeline (got ${copies.length})`);
    check(!liveEvents(roomA).some((e) => e.getId()?.startsWith("~")), "no local ids left in the live timeline");
    step("local echo replaced");

    // 4. ~30 more messages, each waited for until the remote echo lands.
    const bodies = [firstBody];
    for (let i = 1; i <= extraMessages; i++) {
        const body = `message ${i}`;
        bodies.push(body);
        const { event_id } = await a.client.sendMessage(roomId, { msgtype: "m.text", body });
        check(event_id.startsWith("$"), `event id ${event_id}`);
    }
    await waitFor(
        roomA,
        RoomEvent.LocalEchoUpdated,
        () => liveEvents(roomA).filter((e) => e.getType() === "m.room.message" && e.status === null).length === bodies.length,
        "all remote echoes",
    );
    const aliceBodies = messageBodies(roomA);
    check(JSON.stringify(aliceBodies) === JSON.stringify(bodies), `alice's timeline order ${JSON.stringify(aliceBodies)}`);
    const aliceIds = liveEvents(roomA).filter((e) => e.getType() === "m.room.message").map((e) => e.getId());
    check(new Set(aliceIds).size === aliceIds.length, "no duplicate event ids in alice's live timeline");
    step("messages sent");

    // 5. The invitee accepts the invite through js-sdk.
    const b1 = await start("bob-join", user2);
    await waitFor(
        b1.client,
        ClientEvent.Room,
        () => b1.client.getRoom(roomId)?.getMyMembership() === "invite",
        "bob to see the invite",
    );
    await b1.client.joinRoom(roomId);
    await waitFor(
        b1.client,
        ClientEvent.Sync,
        () => b1.client.getRoom(roomId)?.getMyMembership() === "join",
        "bob's join to come down /sync",
    );
    b1.client.stopClient();
    step("bob joined");

    // 6. A fresh client for the invitee: initial sync gives the last 10 events, then scroll back.
    const b = await start("bob", user2);
    const roomB = b.client.getRoom(roomId);
    check(roomB && roomB.getMyMembership() === "join", "bob's fresh client sees the room as joined");
    const initialCount = liveEvents(roomB).length;
    check(initialCount <= 10, `initial timeline respects initialSyncLimit (got ${initialCount})`);
    check(!messageBodies(roomB).includes(firstBody), "the first message is not in the initial timeline");
    let scrollbacks = 0;
    while (!messageBodies(roomB).includes(firstBody)) {
        check(roomB.oldState.paginationToken !== null, `reached the start of the room before the first message (bodies: ${messageBodies(roomB).length})`);
        check(scrollbacks < 20, "too many scrollback calls");
        const before = liveEvents(roomB).length;
        await b.client.scrollback(roomB, 10);
        scrollbacks++;
        check(liveEvents(roomB).length > before || roomB.oldState.paginationToken === null || messageBodies(roomB).includes(firstBody), "scrollback made progress");
    }
    const bobBodies = messageBodies(roomB);
    const bobEvents = liveEvents(roomB);
    const bobIds = bobEvents.map((e) => e.getId());
    check(new Set(bobIds).size === bobIds.length, "no duplicate event ids in bob's timeline");
    check(JSON.stringify(bobBodies) === JSON.stringify(bodies), `bob's timeline order ${JSON.stringify(bobBodies)}`);
    const types = bobEvents.map((e) => e.getType());
    step("bob scrolled back");

    const firstEvent = bobEvents.find((e) => e.getContent().body === firstBody);
    return {
        ok: true,
        room_id: roomId,
        first: {
            local_id: localId,
            txn_id: txnId,
            local_status: localStatus,
            event_id: sentEventId,
            final_id: localEcho.getId(),
            final_status: localEcho.status ?? null,
            live_copies: copies.length,
            sync_txn_event_id: syncTxnIds.get(txnId) ?? null,
            transitions: statuses,
        },
        sent_bodies: bodies,
        alice_event_ids: aliceIds,
        bob: {
            initial_events: initialCount,
            scrollbacks,
            bodies: bobBodies,
            event_ids: bobEvents.filter((e) => e.getType() === "m.room.message").map((e) => e.getId()),
            first_event_id: firstEvent?.getId() ?? null,
            first_event_sender: firstEvent?.getSender() ?? null,
            timeline_types: types,
            at_start: roomB.oldState.paginationToken === null,
            states: b.states,
        },
        alice_states: a.states,
    };
}

await run(main, { timeoutMs: 90000 });
