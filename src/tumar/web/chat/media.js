// Media: uploads with progress (XMLHttpRequest, since fetch reports no upload progress) and
// authenticated downloads (`/_matrix/client/v1/media/...` fetched with the token and shown as
// blob: URLs, which the Content-Security-Policy allows for images).

import { api, ApiError } from "../lib/api.js";
import { getSession } from "../lib/session.js";

const cache = new Map(); // "mxc|thumb" -> Promise<string>

function parseMxc(mxc) {
  const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(mxc || "");
  return m ? { server: m[1], id: m[2] } : null;
}

/** Upload a file; `onProgress(loaded, total)`. Returns {promise, abort}. */
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const name = encodeURIComponent(file.name || "file");
    xhr.open("POST", `/_matrix/media/v3/upload?filename=${name}`);
    const session = getSession();
    if (session) xhr.setRequestHeader("Authorization", `Bearer ${session.accessToken}`);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded, e.total);
    };
    xhr.onload = () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText || "{}");
      } catch {
        body = {};
      }
      if (xhr.status >= 200 && xhr.status < 300 && body.content_uri) resolve(body.content_uri);
      else reject(new ApiError(xhr.status, body.errcode, body.error, body));
    };
    xhr.onerror = () => reject(new ApiError(0, "TUMAR_NETWORK", "The server cannot be reached."));
    xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

/** A blob: URL for a piece of media (a scaled thumbnail when `thumb` is {width, height}). */
export function mediaUrl(mxc, thumb = null) {
  const parsed = parseMxc(mxc);
  if (!parsed) return Promise.reject(new Error("not an mxc URI"));
  const cacheKey = `${mxc}|${thumb ? `${thumb.width}x${thumb.height}` : ""}`;
  if (!cache.has(cacheKey)) {
    const base = `/_matrix/client/v1/media/${thumb ? "thumbnail" : "download"}`;
    let path = `${base}/${encodeURIComponent(parsed.server)}/${encodeURIComponent(parsed.id)}`;
    if (thumb) path += `?width=${thumb.width}&height=${thumb.height}&method=scale`;
    const promise = api
      .request("GET", path, undefined, { raw: true })
      .then((resp) => resp.blob())
      .then((blob) => URL.createObjectURL(blob));
    promise.catch(() => cache.delete(cacheKey));
    cache.set(cacheKey, promise);
  }
  return cache.get(cacheKey);
}

/** Save a file to the user's computer. */
export async function download(mxc, filename) {
  const url = await mediaUrl(mxc);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename || "file";
  document.body.append(a);
  a.click();
  a.remove();
}

/** Width and height of an image file, or null. */
export async function imageSize(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const size = { w: bitmap.width, h: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return null;
  }
}
