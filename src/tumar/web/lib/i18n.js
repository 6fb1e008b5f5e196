// Interface text in Russian (default), Kazakh and English, and Intl formatting for the
// chosen language. The language preference (not sensitive) is kept in localStorage.
//
//   registerMessages({ ru: { "chat.send": "Отправить" }, kk: {...}, en: {...} })
//   t("chat.send")                       -> "Отправить"
//   t("rooms.unread", { count: 3 })      -> value may be a string with {count} or a plural
//                                           object { one, few, many, other } (Intl.PluralRules)

export const LANGS = ["ru", "kk", "en"];
const LOCALES = { ru: "ru-RU", kk: "kk-KZ", en: "en-GB" };
const STORE_KEY = "tumar.lang";
const catalog = { ru: {}, kk: {}, en: {} };
let current = initial();

function initial() {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch {
    /* storage may be unavailable */
  }
  return "ru";
}

export function lang() {
  return current;
}

export function locale() {
  return LOCALES[current];
}

/** Switch the language; fires `tumar:langchange` on window so the shell re-renders. */
export function setLang(l) {
  if (!LANGS.includes(l) || l === current) return;
  current = l;
  try {
    localStorage.setItem(STORE_KEY, l);
  } catch {
    /* ignore */
  }
  document.documentElement.lang = l;
  window.dispatchEvent(new CustomEvent("tumar:langchange", { detail: { lang: l } }));
}

export function registerMessages(messages) {
  for (const l of LANGS) Object.assign(catalog[l], (messages && messages[l]) || {});
}

export function has(key) {
  return key in catalog[current] || key in catalog.ru;
}

export function t(key, vars = {}) {
  let msg = catalog[current][key];
  if (msg === undefined) msg = catalog.ru[key];
  if (msg === undefined) msg = catalog.en[key];
  if (msg === undefined) return key;
  if (typeof msg === "object") {
    const rule = new Intl.PluralRules(LOCALES[current]).select(Number(vars.count ?? 0));
    msg = msg[rule] ?? msg.other ?? "";
  }
  return String(msg).replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in vars)) return whole;
    const v = vars[name];
    return typeof v === "number" ? fmtNumber(v) : String(v);
  });
}

export function fmtDate(ms, opts = { dateStyle: "medium", timeStyle: "short" }) {
  if (ms === null || ms === undefined || Number.isNaN(Number(ms))) return "";
  return new Intl.DateTimeFormat(LOCALES[current], opts).format(new Date(Number(ms)));
}

export function fmtNumber(n, opts = {}) {
  return new Intl.NumberFormat(LOCALES[current], opts).format(n);
}

export function fmtBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${fmtNumber(v, { maximumFractionDigits: i ? 1 : 0 })} ${t("unit." + units[i])}`;
}

document.documentElement.lang = current;
