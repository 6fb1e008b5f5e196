// Hash routing: "#/room/!abc%3Atumar.test" matches "/room/:id" with {id: "!abc:tumar.test"}.

export function currentPath() {
  const hash = window.location.hash.replace(/^#/, "");
  return hash.startsWith("/") ? hash : "/";
}

export function navigate(path) {
  if (currentPath() === path) {
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = path;
  }
}

/** Build a path from a pattern: pathFor("/room/:id", {id}) encodes each parameter. */
export function pathFor(pattern, params = {}) {
  return pattern.replace(/:(\w+)/g, (_, name) => encodeURIComponent(params[name] ?? ""));
}

export function match(pattern, path) {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("?")[0].split("/").filter(Boolean);
  if (want.length !== got.length) return null;
  const params = {};
  for (let i = 0; i < want.length; i += 1) {
    if (want[i].startsWith(":")) {
      try {
        params[want[i].slice(1)] = decodeURIComponent(got[i]);
      } catch {
        return null;
      }
    } else if (want[i] !== got[i]) {
      return null;
    }
  }
  return params;
}

export function resolve(routes, path) {
  for (const route of routes) {
    const params = match(route.path, path);
    if (params) return { route, params };
  }
  return null;
}
