// The one way the web app talks to the server: the public Matrix Client-Server API and
// /_tumar/... with the tab's Bearer token. JSON in and out; errors as ApiError carrying the
// server's errcode and its readable `error` text.
//
//   await api.get("/_matrix/client/v3/account/whoami")
//   await api.post("/_tumar/admin/v1/orgs", { code: "mof", ... })
//   const resp = await api.request("GET", mediaPath, undefined, { raw: true })  // a Response
//
// Network failures throw ApiError with status 0 and errcode "TUMAR_NETWORK".
// api.onUnauthorized(fn): called once when the server says the token is no longer valid
// (M_UNKNOWN_TOKEN); api.onNetwork(fn): called with true/false as the server comes and goes.

import { getSession } from "./session.js";

export class ApiError extends Error {
  constructor(status, errcode, message, body = {}) {
    super(message || errcode || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.errcode = errcode || "M_UNKNOWN";
    this.body = body;
  }
}

const listeners = { unauthorized: [], network: [] };
let online = true;

function setOnline(value) {
  if (online === value) return;
  online = value;
  for (const fn of listeners.network) fn(value);
}

function isBinary(body) {
  return (
    body instanceof Blob ||
    body instanceof ArrayBuffer ||
    body instanceof FormData ||
    ArrayBuffer.isView(body)
  );
}

async function request(method, path, body, options = {}) {
  const { signal, raw = false, auth = true, headers = {} } = options;
  const hdrs = { ...headers };
  const session = getSession();
  if (auth && session) hdrs.Authorization = `Bearer ${session.accessToken}`;
  let payload;
  if (body !== undefined && body !== null) {
    if (isBinary(body)) {
      payload = body;
    } else {
      payload = JSON.stringify(body);
      hdrs["Content-Type"] = "application/json";
    }
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers: hdrs, body: payload, signal, cache: "no-store" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    setOnline(false);
    throw new ApiError(0, "TUMAR_NETWORK", "The server cannot be reached.");
  }
  setOnline(resp.status < 502 || resp.status > 504);
  if (resp.ok && raw) return resp;
  let data = {};
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = {};
    }
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data.errcode, data.error, data);
    if (resp.status === 401 && data.errcode === "M_UNKNOWN_TOKEN" && auth && session) {
      for (const fn of listeners.unauthorized) fn(err);
    }
    throw err;
  }
  return data;
}

export const api = {
  request,
  get: (path, options) => request("GET", path, undefined, options),
  post: (path, body = {}, options) => request("POST", path, body, options),
  put: (path, body = {}, options) => request("PUT", path, body, options),
  del: (path, body, options) => request("DELETE", path, body, options),
  onUnauthorized(fn) {
    listeners.unauthorized.push(fn);
  },
  onNetwork(fn) {
    listeners.network.push(fn);
  },
  get online() {
    return online;
  },
};

/** Percent-encode one path segment (room ids, user ids, event ids). */
export function seg(value) {
  return encodeURIComponent(value);
}

export const C = "/_matrix/client/v3";
