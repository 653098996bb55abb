// Helpers shared by the pages.

import { ApiError } from './api.js';
import { h } from './dom.js';

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

/** Area options for a <select>: indented by depth, "name (path)". */
export function areaOptions(areas) {
  const out = [];
  const walk = (nodes, depth) => {
    for (const n of nodes) {
      const name = n.name && n.name !== n.path ? `${n.name} (${n.path})` : n.path;
      out.push([n.path, `${'\u00a0\u00a0'.repeat(depth)}${name}`]);
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
