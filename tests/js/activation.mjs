// matrix-js-sdk activates an account with a personal activation code the way Element does:
// InteractiveAuth drives POST /register, the server offers the m.login.registration_token
// stage, and the stage handler submits the code; then the new account logs in and syncs.
// Driven by tests/clients/test_activation_clients.py; plumbing in common.mjs.
//
// Environment:
//   TUMAR_HS_URL          homeserver base URL (http://127.0.0.1:PORT)
//   TUMAR_CODE            the activation code from the letter
//   TUMAR_PASSWORD        the password to choose
//   TUMAR_JS_TIMEOUT_MS   hard timeout for the whole run (default 60000)

import { baseUrl, createClient, env, run, sdk } from "./common.mjs";

/** Register through InteractiveAuth with the code; returns the register response. */
async function activate(code, password) {
    const client = sdk.createClient({ baseUrl: baseUrl() });
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
    const { response, stages } = await activate(env("TUMAR_CODE"), env("TUMAR_PASSWORD"));
    const client = createClient("new account", {
        userId: response.user_id,
        accessToken: response.access_token,
        deviceId: response.device_id,
    });
    const whoami = await client.whoami();
    const synced = await client.http.authedRequest("GET", "/sync", { timeout: "0" });
    // The same code a second time: InteractiveAuth surfaces the server's reason.
    let reuseError = null;
    try {
        await activate(env("TUMAR_CODE"), env("TUMAR_PASSWORD"));
    } catch (err) {
        reuseError = String(err?.data?.error ?? err?.message ?? err);
    }
    return {
        ok: true,
        user_id: response.user_id,
        whoami: whoami.user_id,
        stages,
        next_batch: synced.next_batch,
        reuse_error: reuseError,
    };
}

await run(main, { timeoutMs: 60000 });
