// The language of a page, shared by the committee console and the kiosk: Simplified Chinese by
// default, English selectable, the choice remembered in localStorage. Each page keeps its own message
// catalogues (console/i18n/*.js, kiosk/i18n/*.js) and hands them over once, first thing, with
// useCatalogues(); every module of the page then imports t() and the formatters from here.

export const DEFAULT_LANG = 'zh';
const HTML_LANG = { zh: 'zh-CN', en: 'en' };
const LOCALE = { zh: 'zh-CN', en: 'en-GB' }; // for Intl: dates, numbers

let catalogues = { zh: {} };
let storageKey = null;
let titleKey = null;
let lang = DEFAULT_LANG;

/**
 * Set the page's catalogues ({zh, en}) and where its choice is remembered; the remembered language
 * (or Chinese) takes effect at once. `titleKey` names the document title's message, if the page has one.
 */
export function useCatalogues(dicts, { storageKey: key, titleKey: title = null } = {}) {
  catalogues = dicts;
  storageKey = key;
  titleKey = title;
  let saved = null;
  try {
    saved = localStorage.getItem(storageKey);
  } catch (_) { /* storage unavailable: the default language */ }
  setLang(saved, { remember: false });
}

export function getLang() {
  return lang;
}

/** The languages the page has, as [code, own name] for a picker. */
export function languages() {
  return [['zh', '中文'], ['en', 'English']].filter(([code]) => code in catalogues);
}

/** The other language (for a one-button toggle). */
export function otherLang() {
  return lang === 'zh' && 'en' in catalogues ? 'en' : 'zh';
}

/** Switch language (an unknown one means the default), remember it, and relabel <html lang> and the title. */
export function setLang(value, { remember = true } = {}) {
  lang = value && value in catalogues ? value : DEFAULT_LANG;
  if (remember && storageKey) {
    try {
      localStorage.setItem(storageKey, lang);
    } catch (_) { /* not remembered */ }
  }
  document.documentElement.lang = HTML_LANG[lang] || lang;
  if (titleKey) document.title = t(titleKey);
}

/** The string for `key` in the current language (else Chinese, else the key), with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  let text = catalogues[lang]?.[key] ?? catalogues[DEFAULT_LANG]?.[key] ?? key;
  if (vars) text = String(text).replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

/** A label for an enumerated value (`${group}.${value}`: status, priority, category...), or the value itself; a dash for none. */
export function label(group, value) {
  if (value === null || value === undefined || value === '') return '—';
  const key = `${group}.${value}`;
  return catalogues[lang]?.[key] ?? catalogues[DEFAULT_LANG]?.[key] ?? String(value);
}

/** Fill every [data-i18n] element's text and every [data-i18n-placeholder] input's placeholder under `root`. */
export function translateStatic(root = document) {
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll('[data-i18n-placeholder]')) node.placeholder = t(node.dataset.i18nPlaceholder);
}

// ------------------------------------------------------------ dates, times and numbers (Intl, in the page's language)

export function locale() {
  return LOCALE[lang] || lang;
}

const TIME_STYLES = {
  // tables and forms: 2026/11/24 08:00, 24/11/2026, 08:00
  numeric: { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' },
  // for a villager, this year's: 11月24日 08:00, 24 Nov, 08:00
  day: { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  // under a clock: 11月24日星期二, Tuesday 24 Nov
  date: { month: 'short', day: 'numeric', weekday: 'long' },
};
const formatters = new Map();

function formatter(options, key) {
  const id = `${locale()}|${key}`;
  if (!formatters.has(id)) formatters.set(id, new Intl.DateTimeFormat(locale(), options));
  return formatters.get(id);
}

function toDate(value) {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A time from the API (RFC 3339) or a Date, in the browser's zone; `style` 'numeric' (with the year) or 'day'. A dash for none. */
export function formatTime(value, style = 'numeric') {
  if (!value) return '—';
  const date = toDate(value);
  if (!date) return String(value);
  return formatter(TIME_STYLES[style], style).format(date);
}

/** The day with its weekday, as under a clock ("11月24日 星期二", "Tuesday 24 Nov"). */
export function formatDate(value) {
  const date = toDate(value);
  if (!date) return '';
  const parts = formatter(TIME_STYLES.date, 'date').formatToParts(date);
  // zh-CN runs the weekday on ("11月24日星期二"): a space before it reads better on a screen
  return parts.map((p, i) => (p.type === 'weekday' && i > 0 && !/\s$/.test(parts[i - 1].value) ? ` ${p.value}` : p.value)).join('');
}

/** Hours and minutes, 24-hour: "08:05". */
export function formatClock(value) {
  const date = toDate(value);
  if (!date) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** "Month" label for a Date (first of a month): "2026年11月", "November 2026". */
export function formatMonth(date) {
  return formatter({ year: 'numeric', month: 'long' }, 'month').format(date);
}

/** A short month name for a chart axis ("11月", "Nov"). */
export function formatMonthShort(date) {
  return formatter({ month: 'short' }, 'month-short').format(date);
}

export function formatNumber(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

export function formatPercent(rate) {
  if (rate === null || rate === undefined) return '—';
  return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 1 }).format(rate);
}
