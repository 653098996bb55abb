// Requests: the daily worklist (counts, urgent first, deadlines and time left, filters, paging, CSV) and one request
// with its history, one-step actions and internal notes.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, getLang, label, t } from '../../shared/i18n.js';
import { RequestCategory, RequestStatus } from '../../shared/vocabulary.js';
import { areaName, areaOptions, cell, describeError, download, errorLine, formatDuration, select, showError } from '../util.js';

const PAGE_SIZE = 20;
const { RECEIVED, ASSIGNED, IN_PROGRESS, RESOLVED, CLOSED, REJECTED } = RequestStatus;
// docs/protocol.md §2.11.3: the legal changes of status
// plus, from an open status, resolving in one step (the server records each step in the history)
const NEXT = {
  [RECEIVED]: [RESOLVED, REJECTED],
  [ASSIGNED]: [IN_PROGRESS, RESOLVED, REJECTED],
  [IN_PROGRESS]: [RESOLVED, REJECTED],
  [RESOLVED]: [CLOSED, IN_PROGRESS],
  [CLOSED]: [],
  [REJECTED]: [],
};

// kept while the console is open, so coming back from a request keeps the list as it was
const state = { owner: null, filters: null, cursors: [null], page: 0 }; // owner: whose they are (a new sign-in starts afresh)

/** Worker accounts a request may be assigned to (GET /requests/assignees); none where that cannot be read. */
function loadWorkers() {
  return api('GET', '/requests/assignees').catch(() => []);
}

/** Who a request is assigned to, as people call them: a worker account's display name, else the name as stored. */
function assigneeName(list, name) {
  const worker = (list || []).find((w) => w.name === name);
  return worker ? worker.display_name : name;
}

/** "还剩 3.0 小时" / "已超期 20 分钟" until the deadline that matters now; '' once the request is no longer open. */
function timeLeft(r) {
  if (r.due_in_s === null || r.due_in_s === undefined) return '';
  if (r.due_in_s < 0) return t('rq.late', { time: formatDuration(Math.max(60, -r.due_in_s)) });
  return t('rq.left', { time: formatDuration(Math.max(60, r.due_in_s)) });
}

export function render(ctx) {
  return ctx.params.length ? renderDetail(ctx, ctx.params[0]) : renderList(ctx);
}

function statusBadge(status) {
  return h('span', { class: `badge rq-${status}`, testid: 'request-status' }, label('rqstatus', status));
}

// ------------------------------------------------------------ the log

function renderList(ctx) {
  let stopped = false;
  // a worker starts on 我的事项 (what is assigned to them); others on everything in their scope
  if (!state.filters || state.owner !== ctx.name) {
    Object.assign(state, {
      owner: ctx.name, filters: { status: '', category: '', area: '', overdue: false, mine: ctx.role === 'worker', q: '' },
      cursors: [null], page: 0,
    });
  }
  const f = state.filters;
  let names = [];
  const status = select({ testid: 'filter-status', 'aria-label': t('rq.filter.status') },
    [['', t('rq.filter.any_status')], ...Object.values(RequestStatus).map((x) => [x, label('rqstatus', x)])], f.status);
  const category = select({ testid: 'filter-category', 'aria-label': t('rq.filter.category') },
    [['', t('rq.filter.any_category')], ...Object.values(RequestCategory).map((x) => [x, label('rqcat', x)])], f.category);
  const area = select({ testid: 'filter-area', 'aria-label': t('rq.filter.area') },
    [['', t('rq.filter.any_area')], ...areaOptions(ctx.areas)], f.area);
  const overdue = h('input', { type: 'checkbox', testid: 'filter-overdue', checked: f.overdue });
  const mine = h('input', { type: 'checkbox', testid: 'filter-mine', checked: f.mine });
  const q = h('input', { type: 'search', testid: 'filter-q', value: f.q, placeholder: t('rq.filter.search'), maxlength: 200 });
  const apply = h('button', { type: 'submit', class: 'primary', testid: 'filter-apply' }, t('rq.filter.apply'));
  const exportButton = h('button', { type: 'button', testid: 'requests-export' }, t('rq.export'));
  const error = errorLine('requests-error');
  const tbody = h('tbody', { testid: 'request-rows' });
  const empty = h('p', { class: 'muted', testid: 'requests-empty', hidden: true }, t('rq.empty'));
  const prev = h('button', { type: 'button', testid: 'requests-prev' }, t('common.prev'));
  const next = h('button', { type: 'button', testid: 'requests-next' }, t('common.next'));
  const pageNo = h('span', { class: 'muted', testid: 'requests-page' });

  const query = () => ({
    status: f.status, category: f.category, area: f.area, overdue: f.overdue ? 'true' : '', mine: f.mine ? 'true' : '', q: f.q,
  });

  // the day's counts; each (but "due soon") narrows the list to what it counts
  const summary = h('div', { class: 'worklist-summary', testid: 'worklist-summary' });
  const chip = (key, n, changes, kind) => {
    const text = t(`rq.sum.${key}`, { n });
    const props = { class: `chip ${kind}${n ? ' lit' : ''}`, testid: `summary-${key}`, dataset: { count: String(n) } };
    if (!changes) return h('span', props, text);
    const button = h('button', { type: 'button', ...props }, text);
    button.addEventListener('click', () => {
      Object.assign(f, { status: '', overdue: false, mine: false }, changes);
      status.value = f.status;
      overdue.checked = f.overdue;
      mine.checked = f.mine;
      filters.requestSubmit();
    });
    return button;
  };
  async function loadSummary() {
    try {
      const s = await api('GET', '/requests/summary');
      if (stopped) return;
      replace(summary,
        chip('waiting', s.waiting, { status: RECEIVED }, 'waiting'),
        chip('overdue', s.overdue, { overdue: true }, 'overdue'),
        chip('due_soon', s.due_soon, null, 'due-soon'),
        chip('mine', s.mine, { mine: true }, 'mine'));
    } catch (e) { /* the list below shows the error */ }
  }

  const filters = h('form', { class: 'filters', testid: 'requests-filters' },
    status, category, area,
    h('label', { class: 'check' }, overdue, h('span', {}, t('rq.filter.overdue'))),
    h('label', { class: 'check' }, mine, h('span', {}, t('rq.filter.mine'))),
    q, apply, exportButton);
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    Object.assign(f, {
      status: status.value, category: category.value, area: area.value, overdue: overdue.checked, mine: mine.checked, q: q.value.trim(),
    });
    state.cursors = [null];
    state.page = 0;
    load();
  });
  for (const control of [status, category, area, overdue, mine]) control.addEventListener('change', () => filters.requestSubmit());

  const draw = (items) => {
    replace(tbody, items.map((r) => {
      const urgent = r.category === RequestCategory.HELP && Boolean(r.due_at);
      const classes = ['clickable', r.overdue ? 'overdue' : '', r.due_soon ? 'due-soon' : '', urgent ? 'urgent' : ''];
      const row = h('tr', { testid: 'request-row', class: classes.filter(Boolean).join(' '), tabindex: 0,
        dataset: { ticket: r.ticket, status: r.status, overdue: r.overdue ? 'true' : 'false', dueSoon: r.due_soon ? 'true' : 'false' } },
        cell(null, { class: 'mono lead' }, h('a', { href: `#/requests/${encodeURIComponent(r.ticket)}`, testid: 'request-link' }, r.ticket),
          urgent ? h('span', { class: 'badge urgent', testid: 'request-urgent' }, t('rq.urgent')) : null),
        cell(t('rq.col.created'), { class: 'time' }, formatTime(r.created_at)),
        cell(t('rq.col.area'), {}, areaName(ctx.areas, r.area)),
        cell(t('rq.col.category'), {}, label('rqcat', r.category)),
        cell(t('rq.col.text'), { class: 'text' }, h('div', { class: 'clip', testid: 'request-text' }, r.text)),
        cell(t('rq.col.status'), {}, statusBadge(r.status),
          r.overdue ? h('span', { class: 'badge overdue', testid: 'request-overdue' }, t('rq.overdue')) : null,
          r.due_soon ? h('span', { class: 'badge due-soon', testid: 'request-due-soon' }, t('rq.due_soon')) : null),
        cell(t('rq.col.due'), { class: 'due', testid: 'request-due' },
          r.due_at ? [h('span', { class: 'time' }, formatTime(r.due_at)), h('span', { class: 'left', testid: 'request-left' }, timeLeft(r))] : '—'),
        cell(t('rq.col.assignee'), { testid: 'request-assignee' }, r.assignee ? assigneeName(names, r.assignee) : '—'));
      const open = () => ctx.navigate(`#/requests/${encodeURIComponent(r.ticket)}`);
      row.addEventListener('click', (event) => { if (!event.target.closest('a')) open(); });
      row.addEventListener('keydown', (event) => { if (event.key === 'Enter') open(); });
      return row;
    }));
  };

  async function load() {
    showError(error, null);
    loadSummary();
    try {
      const [page, list] = await Promise.all([
        api('GET', '/requests', { query: { ...query(), limit: PAGE_SIZE, cursor: state.cursors[state.page] } }), loadWorkers()]);
      if (stopped) return;
      names = list;
      draw(page.items);
      empty.hidden = page.items.length > 0;
      state.cursors[state.page + 1] = page.next_cursor;
      prev.disabled = state.page === 0;
      next.disabled = !page.next_cursor;
      pageNo.textContent = t('common.page', { n: state.page + 1 });
    } catch (e) {
      if (!stopped) showError(error, e);
    }
  }

  prev.addEventListener('click', () => { if (state.page > 0) { state.page -= 1; load(); } });
  next.addEventListener('click', () => { if (state.cursors[state.page + 1]) { state.page += 1; load(); } });

  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    try {
      const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
      // headers and words in the console's language (the server's default is Chinese)
      const blob = await api('GET', '/requests.csv', { query: { ...query(), tz, lang: getLang() }, as: 'blob' });
      const stamp = new Date().toISOString().slice(0, 10);
      download(blob, `requests-${stamp}.csv`);
      ctx.notify(t('rq.export.done'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 422 && e.detail && e.detail.includes('tz')) {
        // a zone this server does not know: export in UTC instead
        const blob = await api('GET', '/requests.csv', { query: { ...query(), lang: getLang() }, as: 'blob' });
        download(blob, 'requests.csv');
      } else showError(error, e);
    } finally {
      exportButton.disabled = false;
    }
  });

  load();
  // a new request came in (newrequests.js): the first page shows it, urgent ones on top
  const refresh = () => { if (state.page === 0) load(); };
  window.addEventListener('vb:new-requests', refresh);

  const el = h('section', { class: 'card', testid: 'page-requests' },
    h('div', { class: 'head' }, h('h2', {}, t('rq.heading'))),
    summary,
    filters,
    error,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'list' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('rq.col.ticket')), h('th', {}, t('rq.col.created')), h('th', {}, t('rq.col.area')),
          h('th', {}, t('rq.col.category')), h('th', {}, t('rq.col.text')), h('th', {}, t('rq.col.status')),
          h('th', {}, t('rq.col.due')), h('th', {}, t('rq.col.assignee')))),
        tbody)),
    empty,
    h('div', { class: 'pager' }, prev, pageNo, next));
  return { el, stop() { stopped = true; window.removeEventListener('vb:new-requests', refresh); } };
}

// ------------------------------------------------------------ one request

function renderDetail(ctx, ticket) {
  let stopped = false;
  const body = h('div', { testid: 'request-detail-body' }, h('p', { class: 'muted' }, t('common.loading')));
  const error = errorLine('request-error');

  const change = async (changes, button) => {
    showError(error, null);
    if (button) button.disabled = true;
    try {
      const detail = await api('PATCH', `/requests/${encodeURIComponent(ticket)}`, { body: changes });
      if (!stopped) draw(detail);
      ctx.notify(t('rq.saved', { ticket }));
    } catch (e) {
      showError(error, e);
    } finally {
      if (button) button.disabled = false;
    }
  };

  const dl = (pairs) => h('dl', { class: 'facts' }, pairs.map(([k, v, testid]) => [h('dt', {}, k), h('dd', { testid }, v)]));

  let names = [];
  const historyItem = (item) => {
    const what = [];
    if (item.action === 'received') what.push(t('rq.h.received'));
    else if (item.action === 'feedback') what.push(t('rq.h.feedback', { rating: label('rating', item.rating) }));
    else if (item.action === 'no_follow_up') what.push(t('rq.h.no_follow_up'));
    else if (item.action === 'note') what.push(t('rq.h.note'));
    else if (item.action === 'contact_export') what.push(t('rq.h.contact_export'));
    if (item.action === 'update' && item.from_status !== item.to_status && item.to_status) {
      what.push(t('rq.h.status', { from: label('rqstatus', item.from_status), to: label('rqstatus', item.to_status) }));
    }
    if (item.assignee) what.push(t('rq.h.assignee', { name: assigneeName(names, item.assignee) }));
    return h('li', { testid: 'history-item', class: item.action === 'note' ? 'note' : null, dataset: { action: item.action } },
      h('div', { class: 'history-head' },
        h('span', { class: 'time' }, formatTime(item.at)),
        // a villager or the system is named by its role alone ("村民", not "villager · 村民")
        h('span', { class: 'actor' }, item.actor === item.actor_role ? label('actor', item.actor_role)
          : [item.actor, ' · ', label('actor', item.actor_role)])),
      h('div', {}, what.join('；')),
      item.response ? h('blockquote', { testid: 'history-response' }, item.response) : null,
      item.note ? h('div', { class: 'muted' }, item.note) : null);
  };

  function draw(r) {
    // the worker accounts in scope to pick from (by display name); a name typed in where there are none
    const offered = names.some((w) => w.name === r.assignee) || !r.assignee ? names : [...names, { name: r.assignee, display_name: r.assignee }];
    const assignee = offered.length
      ? select({ testid: 'req-assignee', 'aria-label': t('rq.col.assignee') },
        [['', t('rq.assignee.pick')], ...offered.map((w) => [w.name, w.display_name])], r.assignee || '')
      : h('input', { type: 'text', testid: 'req-assignee', value: r.assignee || '', maxlength: 100, placeholder: t('rq.assignee.placeholder') });
    const assign = h('button', { type: 'button', testid: 'req-assign' }, t('rq.assign'));
    assign.addEventListener('click', () => {
      const name = assignee.value.trim();
      if (!name) {
        showError(error, new Error(t('rq.assignee.needed')));
        return;
      }
      change({ assignee: name }, assign);
    });

    const response = h('textarea', { testid: 'req-response', rows: 3, maxlength: 2000, placeholder: t('rq.response.placeholder') });
    const respond = h('button', { type: 'button', testid: 'req-respond' }, t('rq.respond'));
    respond.addEventListener('click', () => {
      const text = response.value.trim();
      if (!text) {
        showError(error, new Error(t('rq.response.needed')));
        return;
      }
      change({ response: text }, respond);
    });

    const statusButtons = (NEXT[r.status] || []).map((to) => {
      const button = h('button', {
        type: 'button', testid: `req-${{ [IN_PROGRESS]: r.status === RESOLVED ? 'reopen' : 'start', [RESOLVED]: 'resolve', [CLOSED]: 'close', [REJECTED]: 'reject' }[to]}`,
        class: to === REJECTED ? 'danger' : (to === RESOLVED ? 'primary' : ''),
      }, t(`rq.to.${to === IN_PROGRESS && r.status === RESOLVED ? 'reopen' : to}`));
      button.addEventListener('click', async () => {
        const text = response.value.trim();
        if (to === REJECTED) {
          if (!text) {
            showError(error, new Error(t('rq.reject.needs_response')));
            response.focus();
            return;
          }
          if (!(await ctx.confirm(t('rq.reject.confirm', { ticket: r.ticket }), { yes: t('rq.to.rejected') }))) return;
        }
        change(text ? { status: to, response: text } : { status: to }, button);
      });
      return button;
    });

    const note = h('textarea', { testid: 'req-note', rows: 2, maxlength: 2000, placeholder: t('rq.note.placeholder') });
    const addNote = h('button', { type: 'button', testid: 'req-note-add' }, t('rq.note.add'));
    addNote.addEventListener('click', async () => {
      const text = note.value.trim();
      if (!text) {
        showError(error, new Error(t('rq.note.needed')));
        return;
      }
      showError(error, null);
      addNote.disabled = true;
      try {
        const detail = await api('POST', `/requests/${encodeURIComponent(ticket)}/notes`, { body: { text } });
        if (!stopped) draw(detail);
        ctx.notify(t('rq.note.saved'));
      } catch (e) {
        showError(error, e);
      } finally {
        addNote.disabled = false;
      }
    });

    const contact = r.contact && (r.contact.name || r.contact.phone)
      ? [r.contact.name, r.contact.phone].filter(Boolean).join(' · ') : '—';
    replace(body,
      h('div', { class: 'detail-grid' },
        h('div', {},
          h('div', { class: 'head' },
            h('h2', {}, t('rq.detail.heading', { ticket: r.ticket })),
            statusBadge(r.status),
            r.overdue ? h('span', { class: 'badge overdue', testid: 'request-overdue' }, t('rq.overdue')) : null),
          h('blockquote', { class: 'villager', testid: 'request-detail-text' }, r.text),
          dl([
            [t('rq.col.category'), label('rqcat', r.category)],
            [t('rq.col.area'), areaName(ctx.areas, r.area)],
            [t('rq.contact'), contact, 'request-contact'],
            [t('rq.col.created'), formatTime(r.created_at)],
            [t('rq.col.assignee'), r.assignee ? assigneeName(names, r.assignee) : '—', 'request-detail-assignee'],
            [t('rq.response'), r.response || '—', 'request-detail-response'],
            [t('rq.response_due'), formatTime(r.response_due_at)],
            [t('rq.resolution_due'), formatTime(r.resolution_due_at)],
            ...(r.due_at ? [[t('rq.col.due'), `${formatTime(r.due_at)} · ${timeLeft(r)}`, 'request-detail-due']] : []),
            [t('rq.follow_up'), label('followup', r.follow_up)],
          ]),
          h('div', { class: 'card inner', testid: 'request-actions' },
            h('h3', {}, t('rq.actions')),
            error,
            h('div', { class: 'row' }, assignee, assign),
            response,
            h('div', { class: 'row' }, respond, ...statusButtons),
            h('div', { class: 'note-box' }, note, h('div', { class: 'row' }, addNote)))),
        h('div', {},
          h('h3', {}, t('rq.history')),
          h('ol', { class: 'history', testid: 'request-history' }, r.history.map(historyItem)))));
    body.dataset.status = r.status;
  }

  Promise.all([api('GET', `/requests/${encodeURIComponent(ticket)}`), loadWorkers()])
    .then(([r, list]) => {
      names = list;
      if (!stopped) draw(r);
    })
    .catch((e) => replace(body, h('p', { class: 'error', role: 'alert', testid: 'request-error' }, describeError(e))));

  const el = h('section', { class: 'card', testid: 'page-request', dataset: { ticket } },
    h('p', {}, h('a', { href: '#/requests', testid: 'request-back' }, t('rq.back'))),
    body);
  return { el, stop() { stopped = true; } };
}
