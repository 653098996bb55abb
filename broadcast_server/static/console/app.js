// The committee console: sign-in (a name and a password, or a token), navigation (hash routes like #/compose) and the page frame.

import { api, ApiError, passwordSession, session, whenUnauthorized } from './api.js';
import { h, replace } from '../shared/dom.js';
import { getLang, languages, setLang, t, useCatalogues } from '../shared/i18n.js';
import zh from './i18n/zh.js';
import en from './i18n/en.js';
import { areaName as areaNameIn, select } from './util.js';
import * as compose from './pages/compose.js';
import * as calendar from './pages/calendar.js';
import * as announcements from './pages/announcements.js';
import * as screens from './pages/screens.js';
import * as requests from './pages/requests.js';
import { watchNewRequests } from './newrequests.js';
import { watchEmergencies } from './emergencies.js';
import * as deliveries from './pages/deliveries.js';
import * as capAlerts from './pages/capalerts.js';
import * as figures from './pages/figures.js';
import * as home from './pages/home.js';
import * as people from './pages/people.js';
import * as areas from './pages/areas.js';
import * as pronunciations from './pages/pronunciations.js';
import * as live from './pages/live.js';

useCatalogues({ zh, en }, { storageKey: 'vb.console.lang', titleKey: 'app.title' });

const PAGES = [
  { name: 'home', module: home, roles: ['admin', 'committee', 'worker'] },
  { name: 'compose', module: compose, roles: ['admin', 'committee'] },
  { name: 'live', module: live, roles: ['admin', 'committee'] },
  { name: 'announcements', module: announcements, roles: ['admin', 'committee'] },
  { name: 'calendar', module: calendar, roles: ['admin', 'committee'] },
  { name: 'screens', module: screens, roles: ['admin', 'committee'] },
  { name: 'areas', module: areas, roles: ['admin', 'committee'] },
  { name: 'requests', module: requests, roles: ['admin', 'committee', 'worker'] },
  { name: 'figures', module: figures, roles: ['admin', 'committee', 'worker'] },
  { name: 'people', module: people, roles: ['admin', 'committee', 'worker'] },
  { name: 'pronunciations', module: pronunciations, roles: ['admin'] },
  // reached from the announcements page (and an emergency's post), not from the nav: `under` is the link they light
  { name: 'deliveries', module: deliveries, roles: ['admin', 'committee'], under: 'announcements' },
  { name: 'cap-alerts', module: capAlerts, roles: ['admin'], under: 'announcements' },
];
const POSTERS = ['admin', 'committee']; // who sees announcements, and so is taken to a new emergency's 回传 page

const root = document.getElementById('app');
let who = null; // {kind, role, scope, name, areas}
let current = null; // the page on screen: {el, stop}
let signInMessage = '';

// ------------------------------------------------------------ sign-in

/**
 * Who is signed in (GET /me: role and area) and the areas they see: the token's, or without one the
 * session cookie's. A token no console page admits (a screen's) is refused.
 */
async function identify(token) {
  const me = await api('GET', '/me', { token });
  if (!PAGES.some((p) => p.roles.includes(me.role))) throw new ApiError(403, '', [{ type: 'not_staff' }]);
  const areas = await api('GET', '/areas', { token });
  return { kind: me.kind, role: me.role, scope: me.area, name: me.display_name, areas };
}

async function signIn(token) {
  who = await identify(token);
  session.set(token);
}

/** Sign in with a name and a password: the server sets the session cookie, kept across tabs for a working week. */
async function signInWithPassword(name, password) {
  await api('POST', '/session', { body: { name, password } });
  passwordSession.remember(true);
  who = await identify();
}

async function signOut(message = '') {
  stopPage();
  stopWatching();
  if (passwordSession.remembered) {
    passwordSession.remember(false);
    try {
      await api('DELETE', '/session');
    } catch (e) { /* the session has ended already */ }
  }
  session.clear();
  who = null;
  signInMessage = message;
  history.replaceState(null, '', location.pathname);
  showSignIn();
}

whenUnauthorized((error) => {
  if (who) signOut(error.describe());
});

/** Run a sign-in attempt from a form: its button busy meanwhile, the shell after, or the error worded in the page's language. */
function signInForm(form, button, error, attempt) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      if (!(await attempt())) return;
      signInMessage = '';
      if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/' + defaultPage());
      showShell();
    } catch (e) {
      who = null;
      error.textContent = e instanceof ApiError ? e.describe() : String(e);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}

function showSignIn() {
  const error = h('p', { class: 'error', testid: 'signin-error', role: 'alert', hidden: !signInMessage }, signInMessage);

  const name = h('input', {
    type: 'text', id: 'signin-name', name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false',
    maxlength: 40, testid: 'signin-name', required: true,
  });
  const password = h('input', {
    type: 'password', id: 'signin-password', name: 'password', autocomplete: 'current-password', maxlength: 200,
    testid: 'signin-password', required: true,
  });
  const passwordButton = h('button', { type: 'submit', class: 'primary', testid: 'signin-password-submit' }, t('signin.submit'));
  const passwordForm = h('form', { class: 'signin-form', testid: 'signin-password-form' },
    h('label', { for: 'signin-name' }, t('signin.name')), name,
    h('label', { for: 'signin-password' }, t('signin.password')), password,
    passwordButton);
  signInForm(passwordForm, passwordButton, error, async () => {
    if (!name.value.trim() || !password.value) {
      error.textContent = t('signin.fill_both');
      error.hidden = false;
      return false;
    }
    await signInWithPassword(name.value.trim(), password.value);
    return true;
  });

  const input = h('input', {
    type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false', testid: 'signin-token',
    placeholder: t('signin.placeholder'), required: true,
  });
  const button = h('button', { type: 'submit', testid: 'signin-submit' }, t('signin.token_submit'));
  const tokenForm = h('form', { class: 'signin-form token', testid: 'signin-form' },
    h('label', { for: 'token' }, t('signin.token')), input,
    h('p', { class: 'muted' }, t('signin.token_hint')),
    button);
  signInForm(tokenForm, button, error, async () => {
    const token = input.value.trim();
    if (!token) return false;
    await signIn(token);
    return true;
  });

  const card = h('div', { class: 'card signin' },
    h('h1', {}, t('app.title')),
    h('p', { class: 'muted' }, t('signin.intro')),
    error,
    passwordForm,
    h('p', { class: 'signin-or muted' }, t('signin.or_token')),
    tokenForm);
  replace(root, h('div', { class: 'signin-wrap' }, languagePicker(() => showSignIn()), card));
  name.focus();
}

// ------------------------------------------------------------ frame and routing

/** The first page the role may use (a worker's is the request log). */
function defaultPage() {
  const page = who && PAGES.find((p) => p.roles.includes(who.role));
  return page ? page.name : PAGES[0].name;
}

function languagePicker(onChange) {
  const picker = select({ testid: 'lang-select', 'aria-label': t('app.language') }, languages(), getLang());
  picker.addEventListener('change', () => {
    setLang(picker.value);
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

// the count of new requests on the worklist's nav link, kept up by newrequests.js while signed in
const newRequestsBadge = h('span', { class: 'nav-badge', testid: 'nav-requests-badge', hidden: true });
let stopWatching = () => {};

function showShell() {
  const nav = h('nav', { class: 'nav', 'aria-label': t('app.nav') },
    PAGES.filter((p) => p.roles.includes(who.role) && !p.under).map((p) =>
      h('a', { href: `#/${p.name}`, testid: `nav-${p.name}`, dataset: { page: p.name } }, t(`nav.${p.name}`),
        p.name === 'requests' ? newRequestsBadge : null)));
  const header = h('header', { class: 'top' },
    h('div', { class: 'brand' }, h('strong', {}, t('app.title')), h('span', { class: 'muted' }, t('app.subtitle'))),
    nav,
    h('div', { class: 'who' },
      h('span', { class: 'muted', testid: 'who', title: who.name }, t('app.who', { role: t(`role.${who.role}`), scope: areaName(who.scope) })),
      languagePicker(() => showShell()),
      h('button', { type: 'button', testid: 'sign-out', onclick: () => signOut() }, t('app.signout'))));
  replace(root, header, notice, view, dialog);
  stopWatching();
  const emergencies = POSTERS.includes(who.role) ? watchEmergencies({ navigate: (hash) => { location.hash = hash; }, notify }) : null;
  stopWatching = watchNewRequests({ badge: newRequestsBadge, notify, onPoll: emergencies ? emergencies.check : undefined });
  route();
}

/** An area's name as the signed-in person's pages show it (util.areaName over the areas they see). */
function areaName(path) {
  return areaNameIn(who ? who.areas : [], path);
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
    if (link.dataset.page === (page.under || page.name)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  stopPage();
  const ctx = {
    role: who.role,
    kind: who.kind,
    name: who.name,
    scope: who.scope,
    areas: who.areas,
    areaName,
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

/** Without a token: a session cookie from an earlier sign-in (in this tab or another) signs in; none shows the form. */
async function resumeSession() {
  try {
    who = await identify();
    if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/' + defaultPage());
    showShell();
  } catch (e) {
    who = null;
    passwordSession.remember(false);
    signInMessage = e instanceof ApiError ? e.describe() : String(e);
    showSignIn();
  }
}

function start() {
  const fromLink = takeTokenFromHash();
  const token = fromLink || session.token;
  if (token) startWith(token);
  else if (passwordSession.remembered) resumeSession();
  else showSignIn();
}

start();
