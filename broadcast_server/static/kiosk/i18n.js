// The kiosk's language: Simplified Chinese by default, English selectable; the choice is remembered.
import zh from "./i18n/zh.js";
import en from "./i18n/en.js";

const LANGS = { zh, en };
const KEY = "vb.kiosk.lang";
let lang = "zh";
try {
  const saved = localStorage.getItem(KEY);
  if (saved && LANGS[saved]) lang = saved;
} catch (_) { /* storage unavailable: default language */ }

export function currentLang() { return lang; }

export function setLang(next) {
  if (!LANGS[next]) return;
  lang = next;
  try { localStorage.setItem(KEY, next); } catch (_) { /* not remembered */ }
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  document.title = t("page.title");
}

export function otherLang() { return lang === "zh" ? "en" : "zh"; }

/** The string for `key` in the current language, with `{name}` placeholders filled from `params`. */
export function t(key, params) {
  const table = LANGS[lang];
  let text = key in table ? table[key] : (key in zh ? zh[key] : key);
  if (typeof text !== "string") return text;
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
}

function pad(n) { return String(n).padStart(2, "0"); }

function parts(date) {
  const months = t("months");
  return {
    month: date.getMonth() + 1, day: date.getDate(), hh: pad(date.getHours()), mm: pad(date.getMinutes()),
    monthName: Array.isArray(months) ? months[date.getMonth()] : date.getMonth() + 1,
    weekday: t("weekday")[date.getDay()],
  };
}

/** A moment as the villager reads it, e.g. 11月24日 08:00. */
export function formatTime(value) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  return t("time.format", parts(date));
}

export function formatDate(date) { return t("clock.date", parts(date)); }
export function formatClock(date) { return `${pad(date.getHours())}:${pad(date.getMinutes())}`; }

/** A server `error` (or a stored failure) as words for the villager. */
export function errorText(error) {
  const known = {
    rate_limited: "error.rate_limited", invalid: "error.invalid", not_found: "error.not_found",
    conflict: "error.conflict", forbidden: "error.forbidden", internal: "error.internal",
  };
  const key = known[error.code];
  return key ? t(key, { message: error.message || "" }) : t("error.generic", { message: error.message || error.code || "" });
}

setLang(lang);
