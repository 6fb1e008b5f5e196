// The signed-in session of this tab: kept in sessionStorage (per tab, gone when the tab
// closes), never in localStorage.

const KEY = "tumar.session";

export function getSession() {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    return s && s.accessToken && s.userId ? s : null;
  } catch {
    return null;
  }
}

export function setSession({ userId, deviceId, accessToken }) {
  sessionStorage.setItem(KEY, JSON.stringify({ userId, deviceId, accessToken }));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}
