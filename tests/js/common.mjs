// Plumbing shared by the matrix-js-sdk scenarios in tests/js, run by tests/support/js.py.
//
// Import this module before anything else that loads matrix-js-sdk: it installs the polyfill
// js-sdk needs on Node 20 and redirects console.* (js-sdk logs through it) so that stdout carries
// only the one JSON result line that run() prints.
//
// Common environment:
//   TUMAR_HS_URL          homeserver base URL (http://127.0.0.1:PORT)
//   TUMAR_JS_TIMEOUT_MS   hard timeout for the whole run (each scenario has a default)
//   TUMAR_JS_DEBUG=1      echo js-sdk's own logging to stderr as it happens
//
// The result line is {"ok": true, ...} or {"ok": false, "error": ...}, always with "steps",
// "failed_requests" (requests answered with 4xx/5xx) and "elapsed_ms"; the process exits
// non-zero on failure (2 for the hard timeout).

// Node 20 has no Promise.withResolvers (Node 22 has); newer js-sdk code paths use it.
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

export const DEBUG = process.env.TUMAR_JS_DEBUG === "1";
const LOG_TAIL_LINES = 300;
const started = Date.now();
const logTail = [];
const steps = [];
const clients = [];
const requests = [];

export function safeJson(value) {
    try {
        return JSON.stringify(value);
    } catch {
        return String(value);
    }
}

// js-sdk logs through loglevel onto console.*, looked up at call time. Keep the last lines and
// print them to stderr on failure (or live with TUMAR_JS_DEBUG=1).
for (const level of ["log", "debug", "info", "warn", "error", "trace"]) {
    console[level] = (...args) => {
        const text = args.map((a) => (a instanceof Error ? a.stack : typeof a === "string" ? a : safeJson(a))).join(" ");
        const line = `[${level}] ${text}`;
        if (DEBUG) process.stderr.write(line + "\n");
        logTail.push(line.length > 2000 ? line.slice(0, 2000) + "…" : line);
        if (logTail.length > LOG_TAIL_LINES) logTail.shift();
    };
}

export const sdk = await import("matrix-js-sdk");

export function env(name) {
    const value = process.env[name];
    if (!value) throw new Error(`missing environment variable ${name}`);
    return value;
}

export function baseUrl() {
    return env("TUMAR_HS_URL").replace(/\/+$/, "");
}

/** A logged-in user from PREFIX_ID, PREFIX_TOKEN and PREFIX_DEVICE. */
export function envUser(prefix) {
    return { userId: env(`${prefix}_ID`), accessToken: env(`${prefix}_TOKEN`), deviceId: env(`${prefix}_DEVICE`) };
}

export function check(condition, message) {
    if (!condition) throw new Error(`check failed: ${message}`);
}

export function step(name) {
    steps.push({ name, at_ms: Date.now() - started });
}

/**
 * Resolve with predicate()'s value (awaited) once truthy, checking every 100 ms. The first check
 * is after 100 ms too: js-sdk finishes handling a sync response over several ticks, and a model
 * read in the same tick as it first appears can be half-built (a thread's length, for one).
 */
export async function eventually(predicate, what, ms = 20000) {
    const deadline = Date.now() + ms;
    for (;;) {
        await new Promise((r) => setTimeout(r, 100));
        const value = await predicate();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
}

export function failedRequests() {
    return requests.filter((r) => r.status >= 400);
}

/** A fetch for js-sdk that records every request; `inspect(url, response)` may look at each. */
export function recordingFetch(label, inspect) {
    return async (resource, init) => {
        const url = new URL(resource instanceof Request ? resource.url : String(resource));
        const response = await fetch(resource, init);
        requests.push({ client: label, method: init?.method ?? "GET", path: url.pathname, status: response.status });
        if (inspect) await inspect(url, response);
        return response;
    };
}

/** A js-sdk client for `user` on the homeserver, recording its requests; stopped by run(). */
export function createClient(label, user, { inspect, ...options } = {}) {
    const client = sdk.createClient({
        baseUrl: baseUrl(),
        userId: user.userId,
        accessToken: user.accessToken,
        deviceId: user.deviceId,
        fetchFn: recordingFetch(label, inspect),
        timelineSupport: true,
        ...options,
    });
    clients.push(client);
    return client;
}

/**
 * Create and start a client (with Rust crypto if asked) and wait for its first PREPARED sync
 * state. Returns the client and every sync state it went through (still being appended to).
 */
export async function startClient(label, user, startOptions, { rustCrypto = false, preparedMs = 30000, ...options } = {}) {
    const client = createClient(label, user, options);
    if (rustCrypto) await client.initRustCrypto();
    const states = [];
    client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
        states.push(state);
        if (state === "ERROR") {
            const err = data?.error;
            console.error(`${label} sync error: ${err?.errcode ?? ""} ${err?.message ?? err}`);
        }
    });
    const prepared = new Promise((resolve, reject) => {
        const timer = setTimeout(
            () => reject(new Error(`${label}: no PREPARED sync state within ${preparedMs} ms (states: ${states.join(",")})`)),
            preparedMs,
        );
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED") {
                clearTimeout(timer);
                resolve();
            } else if (state === "ERROR") {
                clearTimeout(timer);
                reject(new Error(`${label}: sync state ERROR before PREPARED (see log)`));
            }
        });
    });
    await client.startClient(startOptions);
    await prepared;
    return { client, states };
}

let finished = false;

function finish(code, result) {
    if (finished) return;
    finished = true;
    if (code !== 0 && !DEBUG) process.stderr.write(logTail.join("\n") + "\n");
    const line = JSON.stringify({ failed_requests: failedRequests(), ...result, steps, elapsed_ms: Date.now() - started });
    process.stdout.write(line + "\n", () => process.exit(code));
}

/**
 * Run the scenario: `main()` returns the result object (with "ok": true); a throw, or the hard
 * timeout (TUMAR_JS_TIMEOUT_MS, else `timeoutMs`), reports "ok": false. Prints the result line,
 * stops every client and exits.
 */
export async function run(main, { timeoutMs = 60000 } = {}) {
    const ms = Number(process.env.TUMAR_JS_TIMEOUT_MS ?? timeoutMs);
    const hardTimeout = setTimeout(() => finish(2, { ok: false, error: `hard timeout after ${ms} ms` }), ms);
    let code = 0;
    let result;
    try {
        result = await main();
    } catch (err) {
        code = 1;
        result = { ok: false, error: String(err?.stack ?? err) };
    }
    clearTimeout(hardTimeout);
    for (const client of clients) client.stopClient();
    finish(code, result);
}
