// matrix-js-sdk receives an image that another client (matrix-nio) posted, and downloads it and
// a thumbnail through the authenticated media endpoints, as Element does. Driven by
// tests/clients/test_media_clients.py; plumbing in common.mjs.
//
// Environment:
//   TUMAR_HS_URL                          homeserver base URL (http://127.0.0.1:PORT)
//   TUMAR_USER_ID / _TOKEN / _DEVICE      the receiving user, already joined to the room
//   TUMAR_ROOM_ID / TUMAR_EVENT_ID        the room and the m.image event to find
//   TUMAR_JS_TIMEOUT_MS                   hard timeout for the whole run (default 60000)

import { createHash } from "node:crypto";

import { env, envUser, run, startClient } from "./common.mjs";

/** Width and height from a PNG's IHDR chunk, or from a JPEG's SOF marker. */
function imageSize(bytes) {
    if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
        return { format: "png", width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8) {
        let i = 2;
        while (i + 9 < bytes.length) {
            const marker = bytes[i + 1];
            const length = bytes.readUInt16BE(i + 2);
            if (marker >= 0xc0 && marker <= 0xc3) {
                return { format: "jpeg", width: bytes.readUInt16BE(i + 7), height: bytes.readUInt16BE(i + 5) };
            }
            i += 2 + length;
        }
    }
    return { format: "unknown", width: 0, height: 0 };
}

async function get(url, token) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(url, { headers });
    const bytes = Buffer.from(await response.arrayBuffer());
    return {
        status: response.status,
        content_type: response.headers.get("content-type"),
        disposition: response.headers.get("content-disposition"),
        bytes,
    };
}

async function main() {
    const user = envUser("TUMAR_USER");
    const roomId = env("TUMAR_ROOM_ID");
    const eventId = env("TUMAR_EVENT_ID");
    const { client } = await startClient("bob", user, { initialSyncLimit: 20 });

    // Element asks the server whether it has authenticated media before using it.
    const authenticated = await client.isVersionSupported("v1.11");

    // The event as the client received it through /sync (or fetched, if it scrolled away).
    const room = client.getRoom(roomId);
    let content = room?.findEventById(eventId)?.getContent();
    if (!content) content = (await client.fetchRoomEvent(roomId, eventId)).content;
    const mxc = content.url;

    const fileUrl = client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, authenticated);
    const file = await get(fileUrl, user.accessToken);
    const thumbUrl = client.mxcUrlToHttp(mxc, 64, 64, "crop", false, true, authenticated);
    const thumb = await get(thumbUrl, user.accessToken);
    const anonymous = await get(fileUrl, null);
    const legacyUrl = client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, false, false);
    const legacy = await get(legacyUrl, null);

    return {
        ok: true,
        authenticated,
        mxc,
        body: content.body,
        msgtype: content.msgtype,
        file_path: new URL(fileUrl).pathname,
        file: {
            status: file.status,
            content_type: file.content_type,
            disposition: file.disposition,
            size: file.bytes.length,
            sha256: createHash("sha256").update(file.bytes).digest("hex"),
        },
        thumbnail: { status: thumb.status, content_type: thumb.content_type, ...imageSize(thumb.bytes) },
        anonymous_status: anonymous.status,
        legacy_path: new URL(legacyUrl).pathname,
        legacy_status: legacy.status,
    };
}

await run(main, { timeoutMs: 60000 });
