// Drafts per room, kept in this tab's sessionStorage so that nothing typed is lost when the
// session expires, the server goes away or the page is re-rendered. Cleared on sign-out.

const PREFIX = "tumar.drafts.";
let owner = null;

function storeKey() {
  return PREFIX + (owner || "anonymous");
}

function readAll() {
  try {
    return JSON.parse(sessionStorage.getItem(storeKey()) || "{}") || {};
  } catch {
    return {};
  }
}

function writeAll(all) {
  try {
    sessionStorage.setItem(storeKey(), JSON.stringify(all));
  } catch {
    /* storage full: the text stays in the composer */
  }
}

export const drafts = {
  bind(userId) {
    owner = userId;
  },
  get(roomId) {
    return readAll()[roomId] || "";
  },
  set(roomId, text) {
    const all = readAll();
    if (text) all[roomId] = text;
    else delete all[roomId];
    writeAll(all);
  },
  clearAll() {
    sessionStorage.removeItem(storeKey());
  },
};
