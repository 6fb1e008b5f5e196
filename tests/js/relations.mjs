// matrix-js-sdk with thread support reads the thread, edit and reaction another client
// (matrix-nio) made, sends its own, and finds a message with server-side search. Driven by
// tests/clients/test_relations_clients.py.
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
//
// Prints exactly one JSON line on stdout: {"ok": true, ...} or {"ok": false, "error": ...}, and
// exits non-zero on failure.

if (typeof Promise.withResolvers !== "function") {
    Promise.withResolvers = function withResolvers() {
        let resolve;
        let reject;
        const promise = new this((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}

// Keep stdout for the result line: js-sdk logs through console.*.
const logTail = [];
for (const level of ["log", "debug", "info", "warn", "error", "trace"]) {
    console[level] = (...args) => {
        logTail.push(`[${level}] ${args.map((a) => (a instanceof Error ? a.stack : String(a))).join(" ")}`.slice(0, 2000));
        if (logTail.length > 150) logTail.shift();
    };
}

let finished = false;
function finish(code, result) {
    if (finished) return;
    finished = true;
    if (code !== 0) process.stderr.write(logTail.join("\n") + "\n");
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}

const timeoutMs = Number(process.env.TUMAR_JS_TIMEOUT_MS ?? 60000);
setTimeout(() => finish(2, { ok: false, error: `hard timeout after ${timeoutMs} ms` }), timeoutMs);

function env(name) {
    const value = process.env[name];
    if (!value) throw new Error(`missing environment variable ${name}`);
    return value;
}

function check(condition, message) {
    if (!condition) throw new Error(`check failed: ${message}`);
}

/** Resolve with predicate()'s value once truthy, polling every 100 ms. */
function eventually(predicate, what, ms = 20000) {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = setInterval(() => {
            let value;
            try {
                value = predicate();
            } catch (err) {
                clearInterval(poll);
                reject(err);
                return;
            }
            if (value) {
                clearInterval(poll);
                resolve(value);
            } else if (Date.now() - started > ms) {
                clearInterval(poll);
                reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
            }
        }, 100);
    });
}

const sdk = await import("matrix-js-sdk");
const { ClientEvent } = sdk;

const requests = [];
function recordingFetch(resource, init) {
    const url = new URL(resource instanceof Request ? resource.url : String(resource));
    return fetch(resource, init).then((response) => {
        requests.push({ method: init?.method ?? "GET", path: url.pathname, status: response.status });
        return response;
    });
}

async function main() {
    const roomId = env("TUMAR_ROOM_ID");
    const rootId = env("TUMAR_ROOT_ID");
    const niosReply = env("TUMAR_THREAD_REPLY_ID");
    const niosEdit = env("TUMAR_EDIT_ID");
    const client = sdk.createClient({
        baseUrl: env("TUMAR_HS_URL").replace(/\/+$/, ""),
        userId: env("TUMAR_USER_ID"),
        accessToken: env("TUMAR_USER_TOKEN"),
        deviceId: env("TUMAR_USER_DEVICE"),
        fetchFn: recordingFetch,
        timelineSupport: true,
    });
    try {
        const prepared = new Promise((resolve, reject) => {
            client.on(ClientEvent.Sync, (state) => {
                if (state === "PREPARED") resolve();
                if (state === "ERROR") reject(new Error("sync ERROR"));
            });
        });
        await client.startClient({ initialSyncLimit: 30, threadSupport: true });
        await prepared;
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
            failed_requests: requests.filter((r) => r.status >= 400),
        };
    } finally {
        client.stopClient();
    }
}

try {
    finish(0, await main());
} catch (err) {
    finish(1, { ok: false, error: String(err?.stack ?? err), failed_requests: requests.filter((r) => r.status >= 400) });
}
