// The committee console: sign-in, navigation (hash routes like #/compose) and the page frame.

import { api, ApiError, session, whenUnauthorized } from './api.js';
import { h, replace, select } from './dom.js';
import { getLang, setLang, t } from './i18n.js';
import * as compose from './pages/compose.js';
import * as announcements from './pages/announcements.js';
import * as screens from './pages/screens.js';
import * as requests from './pages/requests.js';
import * as figures from './pages/figures.js';

const PAGES = [
  { name: 'compose', module: compose, roles: ['admin', 'committee'] },
  { name: 'announcements', module: announcements, roles: ['admin', 'committee'] },
  { name: 'screens', module: screens, roles: ['admin', 'committee'] },
  { name: 'requests', module: requests, roles: ['admin', 'committee', 'worker'] },
  { name: 'figures', module: figures, roles: ['admin', 'committee', 'worker'] },
];

const root = document.getElementById('app');
let who = null; // {role, scope, areas}
let current = null; // the page on screen: {el, stop}
let signInMessage = '';

// ------------------------------------------------------------ sign-in

/** Which console pages a token may use: probe what it can read (no side effects). */
async function identify(token) {
  const areas = await api('GET', '/areas', { token });
  const [tokens, anns, reqs] = await Promise.allSettled([
    api('GET', '/tokens', { token }),
    api('GET', '/announcements', { token, query: { limit: 1 } }),
    api('GET', '/requests', { token, query: { limit: 1 } }),
  ]);
  let role = null;
  if (tokens.status === 'fulfilled') role = 'admin';
  else if (anns.status === 'fulfilled') role = 'committee';
  else if (reqs.status === 'fulfilled') role = 'worker';
  if (!role) {
    const failed = [anns, reqs].find((r) => r.status === 'rejected' && r.reason instanceof ApiError && r.reason.status !== 403);
    if (failed) throw failed.reason;
    throw new ApiError(403, t('signin.not_staff'));
  }
  const paths = areas.map((a) => a.path).sort((a, b) => a.length - b.length);
  return { role, scope: paths[0] || '/', areas };
}

async function signIn(token) {
  who = await identify(token);
  session.set(token);
}

function signOut(message = '') {
  stopPage();
  session.clear();
  who = null;
  signInMessage = message;
  history.replaceState(null, '', location.pathname);
  showSignIn();
}

whenUnauthorized((error) => {
  if (who) signOut(error.describe());
});

function showSignIn() {
  const input = h('input', {
    type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false', testid: 'signin-token',
    placeholder: t('signin.placeholder'), required: true,
  });
  const error = h('p', { class: 'error', testid: 'signin-error', role: 'alert', hidden: !signInMessage }, signInMessage);
  const button = h('button', { type: 'submit', class: 'primary', testid: 'signin-submit' }, t('signin.submit'));
  const form = h('form', { class: 'card signin', testid: 'signin-form' },
    h('h1', {}, t('app.title')),
    h('p', { class: 'muted' }, t('signin.intro')),
    h('label', { for: 'token' }, t('signin.token')),
    input,
    button,
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    error.hidden = true;
    try {
      await signIn(token);
      signInMessage = '';
      if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/' + defaultPage());
      showShell();
    } catch (e) {
      error.textContent = e instanceof ApiError ? e.describe() : String(e);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  replace(root, h('div', { class: 'signin-wrap' }, languagePicker(() => showSignIn()), form));
  input.focus();
}

// ------------------------------------------------------------ frame and routing

function defaultPage() {
  return who && who.role === 'worker' ? 'requests' : 'compose';
}

function languagePicker(onChange) {
  const picker = select({ testid: 'lang-select', 'aria-label': t('app.language') },
    [['zh', '中文'], ['en', 'English']], getLang());
  picker.addEventListener('change', () => {
    setLang(picker.value);
    document.title = t('app.title');
    onChange();
  });
  return picker;
}

const view = h('main', { id: 'view', testid: 'view' });
const notice = h('div', { class: 'notice', testid: 'notice', role: 'status', 'aria-live': 'polite', hidden: true });
let noticeTimer = null;

function notify(message, kind = 'ok') {
  notice.textContent = message;
  notice.className = `notice ${kind}`;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.hidden = true; }, 6000);
}

const dialog = h('dialog', { class: 'confirm', testid: 'confirm-dialog' });

/** An in-page confirmation: resolves true when the person confirms. */
function confirmDialog(message, { yes = t('confirm.yes'), no = t('confirm.no'), danger = true } = {}) {
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      resolve(answer);
    };
    const yesButton = h('button', { type: 'button', class: danger ? 'danger' : 'primary', testid: 'confirm-yes', onclick: () => done(true) }, yes);
    const noButton = h('button', { type: 'button', testid: 'confirm-no', onclick: () => done(false) }, no);
    replace(dialog,
      h('p', { testid: 'confirm-message' }, message),
      h('div', { class: 'actions' }, noButton, yesButton));
    dialog.addEventListener('cancel', () => resolve(false), { once: true });
    dialog.showModal();
    noButton.focus();
  });
}

function stopPage() {
  if (current && current.stop) current.stop();
  current = null;
}

function showShell() {
  document.title = t('app.title');
  const nav = h('nav', { class: 'nav', 'aria-label': t('app.nav') },
    PAGES.filter((p) => p.roles.includes(who.role)).map((p) =>
      h('a', { href: `#/${p.name}`, testid: `nav-${p.name}`, dataset: { page: p.name } }, t(`nav.${p.name}`))));
  const header = h('header', { class: 'top' },
    h('div', { class: 'brand' }, h('strong', {}, t('app.title')), h('span', { class: 'muted' }, t('app.subtitle'))),
    nav,
    h('div', { class: 'who' },
      h('span', { class: 'muted', testid: 'who' }, t('app.who', { role: t(`role.${who.role}`), scope: who.scope })),
      languagePicker(() => showShell()),
      h('button', { type: 'button', testid: 'sign-out', onclick: () => signOut() }, t('app.signout'))));
  replace(root, header, notice, view, dialog);
  route();
}

function route() {
  if (!who) return;
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  let page = PAGES.find((p) => p.name === parts[0] && p.roles.includes(who.role));
  if (!page) {
    history.replaceState(null, '', '#/' + defaultPage());
    page = PAGES.find((p) => p.name === defaultPage());
  }
  for (const link of root.querySelectorAll('nav a')) {
    if (link.dataset.page === page.name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  stopPage();
  const ctx = {
    role: who.role,
    scope: who.scope,
    areas: who.areas,
    params: parts.slice(1),
    navigate: (hash) => { location.hash = hash; },
    confirm: confirmDialog,
    notify,
  };
  current = page.module.render(ctx);
  replace(view, current.el);
}

window.addEventListener('hashchange', () => {
  const token = takeTokenFromHash();
  if (token) {
    startWith(token);
    return;
  }
  route();
});

/** A set-up link `/#token=...`: take the token and remove it from the address bar. */
function takeTokenFromHash() {
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(match[1]);
}

async function startWith(token) {
  try {
    await signIn(token);
    signInMessage = '';
    if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/' + defaultPage());
    showShell();
  } catch (e) {
    session.clear();
    who = null;
    signInMessage = e instanceof ApiError ? e.describe() : String(e);
    showSignIn();
  }
}

function start() {
  setLang(getLang());
  document.title = t('app.title');
  const fromLink = takeTokenFromHash();
  const token = fromLink || session.token;
  if (token) startWith(token);
  else showSignIn();
}

start();
