// The HTTP API (docs/protocol.md §2). A person signed in with a name and a password is carried by the
// session cookie (HttpOnly: no script here sees it); one signed in with a token sends it only in the
// Authorization header, and the token is kept until the tab closes.

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

// Whether this browser signed in with a password (the cookie itself is out of a script's reach): shared by
// every tab, so a new tab asks the server who is signed in instead of showing the form, and a fresh visitor
// is not answered a 401 first.
const SIGNED_IN_KEY = 'vb.console.signed_in';

export const passwordSession = {
  get remembered() {
    try {
      return localStorage.getItem(SIGNED_IN_KEY) === '1';
    } catch (_) {
      return false;
    }
  },
  remember(on) {
    try {
      if (on) localStorage.setItem(SIGNED_IN_KEY, '1');
      else localStorage.removeItem(SIGNED_IN_KEY);
    } catch (_) { /* storage unavailable: each tab signs in */ }
  },
};

export class ApiError extends Error {
  constructor(status, detail, errors = [], retryAfter = 0) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.errors = errors;
    this.retryAfter = retryAfter; // seconds, from Retry-After
  }

  /**
   * A message for a person, in the page's language: worded from the status and the codes and fields the
   * server sends (`errors[].type` and `loc`), never its English `detail`.
   */
  describe() {
    const coded = this.errors.find((e) => e.type && t(`error.code.${e.type}`) !== `error.code.${e.type}`);
    if (coded) return t(`error.code.${coded.type}`, { minutes: Math.max(1, Math.ceil(this.retryAfter / 60)) });
    const kind = {
      0: 'error.network', 400: 'error.400', 401: 'error.401', 403: 'error.403', 404: 'error.404',
      409: 'error.409', 413: 'error.413', 422: 'error.422', 429: 'error.429', 503: 'error.503',
    }[this.status] || 'error.other';
    const head = t(kind, { status: this.status });
    const fields = this.errors.filter((e) => Array.isArray(e.loc) && e.loc.length).map(describeField);
    return fields.length ? `${head}：${fields.join('；')}` : head;
  }

  /** The message for one field, if the server named it (for a form to show beside the field). */
  fieldMessage(name) {
    const error = this.errors.find((e) => Array.isArray(e.loc) && e.loc[e.loc.length - 1] === name);
    return error ? describeField(error) : null;
  }
}

/** "密码：太短" from {loc: [..., 'password'], type: 'string_too_short'}: the field's and the problem's words. */
function describeField(error) {
  const name = String(error.loc[error.loc.length - 1]);
  const fieldKey = `field.${name}`;
  const problemKey = `error.type.${error.type}`;
  const field = t(fieldKey) === fieldKey ? t('field.other') : t(fieldKey);
  const problem = t(problemKey) === problemKey ? t('error.type.other') : t(problemKey);
  return t('error.field', { field, problem });
}

let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * Call the API: api('GET', '/requests', {query: {status: 'received'}}).
 * `as`: 'json' (default), 'blob', or 'text'; `form`: a FormData sent as multipart (POST /media) instead of a JSON `body`.
 * Throws ApiError with the problem+json detail.
 */
export async function api(method, path, { body, form, query, headers = {}, as = 'json', token } = {}) {
  const url = new URL('/api/v1' + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== '' && value !== false) url.searchParams.set(key, value);
  }
  const bearer = token || session.token;
  const sendHeaders = bearer ? { Authorization: `Bearer ${bearer}`, ...headers } : { ...headers };
  const init = { method, headers: sendHeaders, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    sendHeaders['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  } else if (form) {
    init.body = form; // the browser writes the multipart Content-Type with its boundary
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
    const error = new ApiError(resp.status, problem.detail || problem.title || resp.statusText, problem.errors || [],
      Number(resp.headers.get('Retry-After')) || 0);
    if (resp.status === 401 && !token) onUnauthorized(error);
    throw error;
  }
  if (resp.status === 204) return null;
  if (as === 'blob') return resp.blob();
  if (as === 'text') return resp.text();
  return resp.json();
}
