// matrix-js-sdk activates an account with a personal activation code the way Element does:
// InteractiveAuth drives POST /register, the server offers the m.login.registration_token
// stage, and the stage handler submits the code; then the new account logs in and syncs.
// Driven by tests/clients/test_js_activation.py.
//
// Environment:
//   TUMAR_HS_URL          homeserver base URL (http://127.0.0.1:PORT)
//   TUMAR_CODE            the activation code from the letter
//   TUMAR_PASSWORD        the password to choose
//   TUMAR_JS_TIMEOUT_MS   hard timeout for the whole run (default 60000)
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
        logTail.push(`[${level}] ${args.map(String).join(" ")}`.slice(0, 2000));
        if (logTail.length > 100) logTail.shift();
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

/** Register through InteractiveAuth with the code; returns the register response. */
async function activate(sdk, baseUrl, code, password) {
    const client = sdk.createClient({ baseUrl });
    const stages = [];
    const auth = new sdk.InteractiveAuth({
        matrixClient: client,
        doRequest: (authDict) =>
            client.registerRequest({
                username: "whatever-the-client-asks",
                password,
                initial_device_display_name: "js-sdk",
                auth: authDict ?? undefined,
            }),
        stateUpdated: (stage, status) => {
            stages.push(stage);
            if (status.error) throw new Error(`stage ${stage} failed: ${status.error}`);
            if (stage === "m.login.registration_token") {
                auth.submitAuthDict({ type: stage, token: code });
            }
        },
        requestEmailToken: async () => {
            throw new Error("no e-mail stage expected");
        },
    });
    const response = await auth.attemptAuth();
    return { response, stages };
}

async function main() {
    const sdk = await import("matrix-js-sdk");
    const baseUrl = env("TUMAR_HS_URL");
    const { response, stages } = await activate(sdk, baseUrl, env("TUMAR_CODE"), env("TUMAR_PASSWORD"));
    const client = sdk.createClient({
        baseUrl,
        userId: response.user_id,
        accessToken: response.access_token,
        deviceId: response.device_id,
    });
    const whoami = await client.whoami();
    const synced = await client.http.authedRequest("GET", "/sync", { timeout: "0" });
    // The same code a second time: InteractiveAuth surfaces the server's reason.
    let reuseError = null;
    try {
        await activate(sdk, baseUrl, env("TUMAR_CODE"), env("TUMAR_PASSWORD"));
    } catch (err) {
        reuseError = String(err?.data?.error ?? err?.message ?? err);
    }
    finish(0, {
        ok: true,
        user_id: response.user_id,
        whoami: whoami.user_id,
        stages,
        next_batch: synced.next_batch,
        reuse_error: reuseError,
    });
}

main().catch((err) => finish(1, { ok: false, error: String(err?.stack ?? err) }));
