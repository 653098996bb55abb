// The console's language: Simplified Chinese by default, English selectable (kept in localStorage).
// Every user-facing string lives in i18n/zh.js and i18n/en.js.

import zh from './i18n/zh.js';
import en from './i18n/en.js';

const DICTS = { zh, en };
const KEY = 'vb.console.lang';
let lang = DICTS[localStorage.getItem(KEY)] ? localStorage.getItem(KEY) : 'zh';

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = DICTS[value] ? value : 'zh';
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

/** The string for `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  let text = DICTS[lang][key] ?? DICTS.zh[key] ?? key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

/** A label for an enumerated value (status, priority, category...), or the value itself. */
export function label(group, value) {
  if (value === null || value === undefined || value === '') return '—';
  const key = `${group}.${value}`;
  const text = DICTS[lang][key] ?? DICTS.zh[key];
  return text ?? String(value);
}

function locale() {
  return lang === 'zh' ? 'zh-CN' : 'en-GB';
}

/** A time from the API (RFC 3339) in the browser's zone, or a dash. */
export function formatTime(value) {
  if (!value) return '—';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale(), {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).format(d);
}

export function formatNumber(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

export function formatPercent(rate) {
  if (rate === null || rate === undefined) return '—';
  return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 1 }).format(rate);
}

/** A duration in seconds, as minutes, hours or days. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 3600) return t('unit.minutes', { n: Math.max(1, Math.round(seconds / 60)) });
  if (seconds < 72 * 3600) return t('unit.hours', { n: (seconds / 3600).toFixed(1) });
  return t('unit.days', { n: (seconds / 86400).toFixed(1) });
}

/** "Month" label for a Date (first of a month). */
export function formatMonth(date) {
  return new Intl.DateTimeFormat(locale(), { year: 'numeric', month: 'long' }).format(date);
}

/** A short month name for a chart axis ("6月", "Jun"). */
export function formatMonthShort(date) {
  return new Intl.DateTimeFormat(locale(), { month: 'short' }).format(date);
}
