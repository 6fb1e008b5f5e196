// matrix-js-sdk with its Rust crypto (matrix-sdk-crypto-wasm, stores in fake-indexeddb) against a
// live tumar, while a matrix-nio client (driven by tests/clients/test_js_sdk_e2ee.py) plays bob.
//
//   1. alice (js-sdk) sets up cross-signing (user-interactive auth with her password) and a
//      server-side key backup;
//   2. creates an encrypted room, invites bob (nio), sends an encrypted message once he joined,
//      and waits for bob's encrypted answer to decrypt;
//   3. waits until the room keys are in the backup, then a second device of alice, which was
//      never sent those keys, restores them from the backup and decrypts both messages.
//
// Environment:
//   TUMAR_HS_URL                               homeserver base URL
//   TUMAR_ALICE_ID / _TOKEN / _DEVICE          alice's first device (runs the scenario)
//   TUMAR_ALICE2_TOKEN / _DEVICE               alice's second device (restores the backup)
//   TUMAR_ALICE_PASSWORD                       for the cross-signing upload's auth
//   TUMAR_BOB_ID                               the nio user to invite
//   TUMAR_JS_TIMEOUT_MS                        hard timeout (default 120000)
//   TUMAR_JS_DEBUG=1                           echo js-sdk logging to stderr
//
// Plumbing (result line, log tail, request log) in common.mjs.

import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { baseUrl, check, env, envUser, eventually, run, safeJson, startClient, step } from "./common.mjs";

const WAIT_MS = 40000;

async function api(user, method, path, body) {
    const response = await fetch(`${baseUrl()}/_matrix/client/v3${path}`, {
        method,
        headers: { Authorization: `Bearer ${user.accessToken}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
}

async function start(label, user) {
    const { client } = await startClient(label, user, { initialSyncLimit: 30 }, { rustCrypto: true });
    return client;
}

/** The clear-text bodies of decrypted m.room.message events in a room's live timeline. */
async function clearBodies(client, roomId) {
    const room = client.getRoom(roomId);
    if (!room) return [];
    const out = [];
    for (const event of room.getLiveTimeline().getEvents()) {
        if (!event.isEncrypted()) continue;
        await client.decryptEventIfNeeded(event);
        if (!event.isDecryptionFailure() && event.getType() === "m.room.message") out.push({ sender: event.getSender(), body: event.getContent().body, id: event.getId() });
    }
    return out;
}

async function main() {
    const alice = envUser("TUMAR_ALICE");
    const alice2 = { userId: alice.userId, accessToken: env("TUMAR_ALICE2_TOKEN"), deviceId: env("TUMAR_ALICE2_DEVICE") };
    const password = env("TUMAR_ALICE_PASSWORD");
    const bobId = env("TUMAR_BOB_ID");
    // 1. Cross-signing and key backup for alice's first device.
    const a = await start("alice", alice);
    const crypto = a.getCrypto();
    check(crypto, "rust crypto is initialised");
    let uiaChallenged = false; // the first upload of cross-signing keys needs no password
    await crypto.bootstrapCrossSigning({
        setupNewCrossSigning: true,
        authUploadDeviceSigningKeys: async (makeRequest) => {
            try {
                await makeRequest(null);
            } catch (err) {
                uiaChallenged = err?.httpStatus === 401;
                await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: alice.userId }, password });
            }
        },
    });
    const status = await crypto.getCrossSigningStatus();
    check(status.publicKeysOnDevice && status.privateKeysCachedLocally.masterKey, `cross-signing status ${safeJson(status)}`);
    const ownDevice = await crypto.getDeviceVerificationStatus(alice.userId, alice.deviceId);
    check(ownDevice?.signedByOwner, "alice's device is signed by her self-signing key");
    step("cross-signing ready");

    await crypto.resetKeyBackup();
    const backupVersion = await eventually(() => crypto.getActiveSessionBackupVersion(), "the key backup to be active", WAIT_MS);
    step("key backup created");

    // 2. An encrypted room with bob (nio).
    const { room_id: roomId } = await a.createRoom({
        name: "js-sdk and nio, encrypted",
        invite: [bobId],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await eventually(() => a.getRoom(roomId)?.getMember(bobId)?.membership === "join", "bob to join", WAIT_MS);
    check(a.getRoom(roomId).hasEncryptionStateEvent(), "the room is encrypted");
    step("bob joined");

    const { event_id: jsEventId } = await a.sendMessage(roomId, { msgtype: "m.text", body: "from js-sdk" });
    const stored = await api(alice, "GET", `/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(jsEventId)}`);
    check(stored.status === 200 && stored.body.type === "m.room.encrypted", `the server holds ciphertext (${safeJson(stored)})`);
    check(!JSON.stringify(stored.body).includes("from js-sdk"), "no plain text on the server");
    step("sent encrypted");

    const fromNio = await eventually(async () => (await clearBodies(a, roomId)).find((m) => m.body === "from nio" && m.sender === bobId), "bob's message to decrypt", WAIT_MS);
    step("decrypted nio's message");

    // 3. Backup round trip: both room keys reach the backup; a new device restores them.
    await eventually(async () => {
        const info = await api(alice, "GET", "/room_keys/version");
        return info.status === 200 && info.body.count >= 2 && info.body.version === backupVersion;
    }, "both room keys in the backup", WAIT_MS);
    const backupKey = await crypto.getSessionBackupPrivateKey();
    check(backupKey instanceof Uint8Array && backupKey.length === 32, "the backup decryption key is cached");
    step("keys backed up");

    // The second device gets its own (fake) IndexedDB: one crypto store per device.
    globalThis.indexedDB = new IDBFactory();
    const b = await start("alice2", alice2);
    const crypto2 = b.getCrypto();
    const before = await clearBodies(b, roomId);
    check(before.length === 0, `the new device cannot decrypt before restoring (${safeJson(before)})`);
    await crypto2.storeSessionBackupPrivateKey(backupKey, backupVersion);
    const restored = await crypto2.restoreKeyBackup();
    check(restored.imported >= 2, `restored ${safeJson(restored)}`);
    const after = await eventually(async () => {
        const bodies = await clearBodies(b, roomId);
        return bodies.length >= 2 ? bodies : null;
    }, "the restored keys to decrypt the old messages", WAIT_MS);
    step("restored from backup");

    return {
        ok: true,
        room_id: roomId,
        js_event_id: jsEventId,
        nio_event_id: fromNio.id,
        uia_challenged: uiaChallenged,
        backup_version: backupVersion,
        restored,
        restored_bodies: after.map((m) => m.body).sort(),
    };
}

await run(main, { timeoutMs: 120000 });
