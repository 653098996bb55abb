// Helpers shared by the console's pages (the element builder and t() are in ../shared/).

import { api, ApiError } from './api.js';
import { h } from '../shared/dom.js';
import { label, t } from '../shared/i18n.js';
import { Priority } from '../shared/vocabulary.js';

/** A <select> with [value, label] options; `current` is also what a form reset returns to (not the first option). */
export function select(props, options, current) {
  const el = h('select', props,
    options.map(([value, label]) => h('option', { value }, label)));
  for (const option of el.options) option.defaultSelected = option.value === current;
  if (current !== undefined && current !== null) el.value = current;
  return el;
}

/** The priorities as [value, label] options, least urgent first (compose and correct both offer them). */
export function priorityOptions() {
  return Object.values(Priority).reverse().map((p) => [p, label('priority', p)]);
}

/** A labelled field: the label, the control and a place for its error. */
export function field(label, control, { name, hint, wide } = {}) {
  const error = h('p', { class: 'field-error', testid: name ? `error-${name}` : null, hidden: true });
  const wrap = h('div', { class: wide ? 'field wide' : 'field', dataset: name ? { field: name } : undefined },
    h('label', {}, h('span', { class: 'label' }, label), control),
    hint || null,
    error);
  return wrap;
}

/** Download a Blob under a file name (an object URL, revoked afterwards). */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A duration in seconds, as minutes, hours or days. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 3600) return t('unit.minutes', { n: Math.max(1, Math.round(seconds / 60)) });
  if (seconds < 72 * 3600) return t('unit.hours', { n: (seconds / 3600).toFixed(1) });
  return t('unit.days', { n: (seconds / 86400).toFixed(1) });
}

/** How long ago a time from the API was, as people say it: "刚刚", "3 分钟前"; a dash for none. */
export function ago(value) {
  if (!value) return '—';
  const seconds = (Date.now() - new Date(value).getTime()) / 1000;
  if (Number.isNaN(seconds)) return '—';
  return seconds < 60 ? t('time.just_now') : t('time.ago', { time: formatDuration(seconds) });
}

/** 0:07, 12:30: minutes and seconds, as a recorder or a phone's call screen shows them. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A datetime-local value as RFC 3339 with the browser's offset ("2026-11-26T12:00:00+08:00"), or null. */
export function localToRfc3339(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return null;
  const pad = (n) => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    + `${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/** A Date as RFC 3339 with the browser's offset. */
export function dateToRfc3339(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return localToRfc3339(`${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`);
}

/** The areas as a tree: [{path, name, children: [...]}], parents before children. */
export function areaTree(areas) {
  const nodes = new Map(areas.map((a) => [a.path, { ...a, children: [] }]));
  const roots = [];
  for (const node of [...nodes.values()].sort((a, b) => a.path.localeCompare(b.path))) {
    let parent = null;
    let path = node.path;
    while (path !== '/' && !parent) {
      path = path.slice(0, path.lastIndexOf('/')) || '/';
      parent = nodes.get(path) || null;
    }
    if (parent && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}

/** What people call an area: its name; "everywhere" for the root; the path only when it has no name of its own. */
export function areaName(areas, path) {
  const area = areas.find((a) => a.path === path);
  if (area && area.name && area.name !== path && area.name !== path.slice(path.lastIndexOf('/') + 1)) return area.name;
  return path === '/' ? t('area.everywhere') : path;
}

/** A table cell that keeps its column's heading, shown beside the value where the table is laid out as cards (a phone). */
export function cell(heading, props, ...children) {
  return h('td', { ...props, 'data-label': heading || null }, ...children);
}

/** Area options for a <select>: each area by its name (areaName), indented by depth. */
export function areaOptions(areas) {
  const out = [];
  const walk = (nodes, depth) => {
    for (const n of nodes) {
      out.push([n.path, `${'\u00a0\u00a0'.repeat(depth)}${areaName(areas, n.path)}`]);
      walk(n.children, depth + 1);
    }
  };
  walk(areaTree(areas), 0);
  return out;
}

/** A message for an error from the API or elsewhere. */
export function describeError(error) {
  return error instanceof ApiError ? error.describe() : String(error && error.message ? error.message : error);
}

/** An error line shown in a page (role=alert). */
export function errorLine(testid) {
  return h('p', { class: 'error', role: 'alert', testid, hidden: true });
}

export function showError(el, error) {
  if (!error) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.textContent = describeError(error);
  el.hidden = false;
}

/** A fresh random key, for Idempotency-Key and client ids. */
export function randomKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetch the areas again into `areas` (the one list every page reads, so new names show everywhere at once). */
export async function reloadAreas(areas) {
  const fresh = await api('GET', '/areas');
  areas.splice(0, areas.length, ...fresh);
  return areas;
}
