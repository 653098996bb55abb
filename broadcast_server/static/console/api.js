// The HTTP API (docs/protocol.md §2). The token goes only in the Authorization header.

import { t } from '../shared/i18n.js';

const TOKEN_KEY = 'vb.console.token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.errors = errors;
  }

  /** A message for a person: what kind of problem, and the server's detail. */
  describe() {
    const kind = {
      0: 'error.network', 400: 'error.400', 401: 'error.401', 403: 'error.403', 404: 'error.404',
      409: 'error.409', 413: 'error.413', 422: 'error.422', 429: 'error.429', 503: 'error.503',
    }[this.status] || 'error.other';
    const head = t(kind, { status: this.status });
    return this.detail && this.status !== 0 ? `${head}: ${this.detail}` : head;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * Call the API: api('GET', '/requests', {query: {status: 'received'}}).
 * `as`: 'json' (default), 'blob', or 'text'. Throws ApiError with the problem+json detail.
 */
export async function api(method, path, { body, query, headers = {}, as = 'json', token } = {}) {
  const url = new URL('/api/v1' + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== '' && value !== false) url.searchParams.set(key, value);
  }
  const sendHeaders = { Authorization: `Bearer ${token || session.token || ''}`, ...headers };
  const init = { method, headers: sendHeaders, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    sendHeaders['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, String(e));
  }
  if (!resp.ok) {
    let problem = {};
    try {
      problem = await resp.json();
    } catch (e) {
      problem = {};
    }
    const error = new ApiError(resp.status, problem.detail || problem.title || resp.statusText, problem.errors || []);
    if (resp.status === 401 && !token) onUnauthorized(error);
    throw error;
  }
  if (resp.status === 204) return null;
  if (as === 'blob') return resp.blob();
  if (as === 'text') return resp.text();
  return resp.json();
}
