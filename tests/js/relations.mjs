// matrix-js-sdk with thread support reads the thread, edit and reaction another client
// (matrix-nio) made, sends its own, and finds a message with server-side search. Driven by
// tests/clients/test_relations_clients.py; plumbing in common.mjs.
//
// Environment:
//   TUMAR_HS_URL                          homeserver base URL (http://127.0.0.1:PORT)
//   TUMAR_USER_ID / _TOKEN / _DEVICE      the js-sdk user, already joined to the room
//   TUMAR_ROOM_ID                         the room
//   TUMAR_ROOT_ID                         nio's thread root (also edited and reacted to by nio)
//   TUMAR_THREAD_REPLY_ID                 nio's reply in that thread
//   TUMAR_EDIT_ID                         nio's edit of the root
//   TUMAR_SEARCH_TERM                     a word in one of nio's messages
//   TUMAR_JS_TIMEOUT_MS                   hard timeout for the whole run (default 60000)

import { env, envUser, eventually, run, startClient } from "./common.mjs";

async function main() {
    const roomId = env("TUMAR_ROOM_ID");
    const rootId = env("TUMAR_ROOT_ID");
    const niosReply = env("TUMAR_THREAD_REPLY_ID");
    const niosEdit = env("TUMAR_EDIT_ID");
    const { client } = await startClient("bob", envUser("TUMAR_USER"), { initialSyncLimit: 30, threadSupport: true });
    const support = await client.doesServerSupportThread();
    const room = await eventually(() => client.getRoom(roomId), "the room");

    // 1. What nio did, as js-sdk models it.
    const root = await eventually(() => room.findEventById(rootId), "the thread root");
    await eventually(() => root.replacingEventId() === niosEdit, "the edit applied to the root");
    const thread = await eventually(() => room.getThread(rootId), "the thread");
    await eventually(() => thread.lastReply()?.getId() === niosReply, "nio's reply as the thread's last reply");
    const reactions = await eventually(
        () => room.relations.getChildEventsForEvent(rootId, "m.annotation", "m.reaction")?.getSortedAnnotationsByKey(),
        "nio's reaction",
    );
    const seen = {
        root_body: root.getContent().body,
        root_replaced_by: root.replacingEventId(),
        thread_length: thread.length,
        thread_last_reply: thread.lastReply()?.getId() ?? null,
        thread_reply_in_main_timeline: room.getLiveTimeline().getEvents().some((e) => e.getId() === niosReply),
        reactions: reactions.map(([key, events]) => [key, events.size]),
        server_thread_support: support,
    };

    // 2. js-sdk's own thread reply, message + edit, and reaction.
    const { event_id: jsReply } = await client.sendMessage(roomId, rootId, { msgtype: "m.text", body: "reply from js" });
    const { event_id: jsMessage } = await client.sendMessage(roomId, { msgtype: "m.text", body: "draft from js" });
    const { event_id: jsEdit } = await client.sendMessage(roomId, {
        msgtype: "m.text",
        body: "* final from js",
        "m.new_content": { msgtype: "m.text", body: "final from js" },
        "m.relates_to": { rel_type: "m.replace", event_id: jsMessage },
    });
    const { event_id: jsReaction } = await client.sendEvent(roomId, "m.reaction", {
        "m.relates_to": { rel_type: "m.annotation", event_id: rootId, key: "🎉" },
    });
    await eventually(() => thread.lastReply()?.getId() === jsReply, "js-sdk's reply in the thread");
    const jsMessageEvent = await eventually(() => room.findEventById(jsMessage), "js-sdk's message");
    await eventually(() => jsMessageEvent.replacingEventId() === jsEdit, "js-sdk's edit applied");

    // 3. The thread list (GET /threads) and server-side search.
    await room.fetchRoomThreads();
    const threads = room.getThreads().map((t) => t.id);
    const search = await client.searchRoomEvents({ term: env("TUMAR_SEARCH_TERM") });
    const found = search.results.map((r) => {
        const ev = r.context.getEvent();
        return { event_id: ev.getId(), body: ev.getContent().body, room_id: ev.getRoomId() };
    });

    return {
        ok: true,
        seen,
        sent: { thread_reply: jsReply, message: jsMessage, edit: jsEdit, reaction: jsReaction },
        js_message_body: jsMessageEvent.getContent().body,
        thread_length_after: thread.length,
        threads,
        search: found,
    };
}

await run(main, { timeoutMs: 60000 });
