// Requests: the request log (filters, search, paging, CSV) and one request with its history and actions.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, label, t } from '../../shared/i18n.js';
import { RequestCategory, RequestStatus } from '../../shared/vocabulary.js';
import { areaName, areaOptions, cell, describeError, download, errorLine, select, showError } from '../util.js';

const PAGE_SIZE = 20;
const { RECEIVED, ASSIGNED, IN_PROGRESS, RESOLVED, CLOSED, REJECTED } = RequestStatus;
// docs/protocol.md §2.11.3: the legal changes of status
const NEXT = {
  [RECEIVED]: [REJECTED],
  [ASSIGNED]: [IN_PROGRESS, REJECTED],
  [IN_PROGRESS]: [RESOLVED, REJECTED],
  [RESOLVED]: [CLOSED, IN_PROGRESS],
  [CLOSED]: [],
  [REJECTED]: [],
};

// kept while the console is open, so coming back from a request keeps the list as it was
const state = { filters: { status: '', category: '', area: '', overdue: false, q: '' }, cursors: [null], page: 0 };

export function render(ctx) {
  return ctx.params.length ? renderDetail(ctx, ctx.params[0]) : renderList(ctx);
}

function statusBadge(status) {
  return h('span', { class: `badge rq-${status}`, testid: 'request-status' }, label('rqstatus', status));
}

// ------------------------------------------------------------ the log

function renderList(ctx) {
  let stopped = false;
  const f = state.filters;
  const status = select({ testid: 'filter-status', 'aria-label': t('rq.filter.status') },
    [['', t('rq.filter.any_status')], ...Object.values(RequestStatus).map((x) => [x, label('rqstatus', x)])], f.status);
  const category = select({ testid: 'filter-category', 'aria-label': t('rq.filter.category') },
    [['', t('rq.filter.any_category')], ...Object.values(RequestCategory).map((x) => [x, label('rqcat', x)])], f.category);
  const area = select({ testid: 'filter-area', 'aria-label': t('rq.filter.area') },
    [['', t('rq.filter.any_area')], ...areaOptions(ctx.areas)], f.area);
  const overdue = h('input', { type: 'checkbox', testid: 'filter-overdue', checked: f.overdue });
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
    status: f.status, category: f.category, area: f.area, overdue: f.overdue ? 'true' : '', q: f.q,
  });

  const filters = h('form', { class: 'filters', testid: 'requests-filters' },
    status, category, area,
    h('label', { class: 'check' }, overdue, h('span', {}, t('rq.filter.overdue'))),
    q, apply, exportButton);
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    Object.assign(f, { status: status.value, category: category.value, area: area.value, overdue: overdue.checked, q: q.value.trim() });
    state.cursors = [null];
    state.page = 0;
    load();
  });
  for (const control of [status, category, area, overdue]) control.addEventListener('change', () => filters.requestSubmit());

  const draw = (items) => {
    replace(tbody, items.map((r) => {
      const row = h('tr', { testid: 'request-row', class: r.overdue ? 'clickable overdue' : 'clickable', tabindex: 0,
        dataset: { ticket: r.ticket, status: r.status, overdue: r.overdue ? 'true' : 'false' } },
        cell(null, { class: 'mono lead' }, h('a', { href: `#/requests/${encodeURIComponent(r.ticket)}`, testid: 'request-link' }, r.ticket)),
        cell(t('rq.col.created'), { class: 'time' }, formatTime(r.created_at)),
        cell(t('rq.col.area'), {}, areaName(ctx.areas, r.area)),
        cell(t('rq.col.category'), {}, label('rqcat', r.category)),
        cell(t('rq.col.text'), { class: 'text' }, h('div', { class: 'clip', testid: 'request-text' }, r.text)),
        cell(t('rq.col.status'), {}, statusBadge(r.status),
          r.overdue ? h('span', { class: 'badge overdue', testid: 'request-overdue' }, t('rq.overdue')) : null),
        cell(t('rq.col.assignee'), { testid: 'request-assignee' }, r.assignee || '—'));
      const open = () => ctx.navigate(`#/requests/${encodeURIComponent(r.ticket)}`);
      row.addEventListener('click', (event) => { if (!event.target.closest('a')) open(); });
      row.addEventListener('keydown', (event) => { if (event.key === 'Enter') open(); });
      return row;
    }));
  };

  async function load() {
    showError(error, null);
    try {
      const page = await api('GET', '/requests', { query: { ...query(), limit: PAGE_SIZE, cursor: state.cursors[state.page] } });
      if (stopped) return;
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
      const blob = await api('GET', '/requests.csv', { query: { ...query(), tz }, as: 'blob' });
      const stamp = new Date().toISOString().slice(0, 10);
      download(blob, `requests-${stamp}.csv`);
      ctx.notify(t('rq.export.done'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 422 && e.detail && e.detail.includes('tz')) {
        // a zone this server does not know: export in UTC instead
        const blob = await api('GET', '/requests.csv', { query: query(), as: 'blob' });
        download(blob, 'requests.csv');
      } else showError(error, e);
    } finally {
      exportButton.disabled = false;
    }
  });

  load();

  const el = h('section', { class: 'card', testid: 'page-requests' },
    h('div', { class: 'head' }, h('h2', {}, t('rq.heading'))),
    filters,
    error,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'list' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('rq.col.ticket')), h('th', {}, t('rq.col.created')), h('th', {}, t('rq.col.area')),
          h('th', {}, t('rq.col.category')), h('th', {}, t('rq.col.text')), h('th', {}, t('rq.col.status')),
          h('th', {}, t('rq.col.assignee')))),
        tbody)),
    empty,
    h('div', { class: 'pager' }, prev, pageNo, next));
  return { el, stop() { stopped = true; } };
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

  const historyItem = (item) => {
    const what = [];
    if (item.action === 'received') what.push(t('rq.h.received'));
    else if (item.action === 'feedback') what.push(t('rq.h.feedback', { rating: label('rating', item.rating) }));
    else if (item.action === 'no_follow_up') what.push(t('rq.h.no_follow_up'));
    if (item.action === 'update' && item.from_status !== item.to_status && item.to_status) {
      what.push(t('rq.h.status', { from: label('rqstatus', item.from_status), to: label('rqstatus', item.to_status) }));
    }
    if (item.assignee) what.push(t('rq.h.assignee', { name: item.assignee }));
    return h('li', { testid: 'history-item', dataset: { action: item.action } },
      h('div', { class: 'history-head' },
        h('span', { class: 'time' }, formatTime(item.at)),
        h('span', { class: 'actor' }, item.actor, ' · ', label('actor', item.actor_role))),
      h('div', {}, what.join('；')),
      item.response ? h('blockquote', { testid: 'history-response' }, item.response) : null,
      item.note ? h('div', { class: 'muted' }, item.note) : null);
  };

  function draw(r) {
    const assignee = h('input', { type: 'text', testid: 'req-assignee', value: r.assignee || '', maxlength: 100, placeholder: t('rq.assignee.placeholder') });
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
            [t('rq.col.assignee'), r.assignee || '—', 'request-detail-assignee'],
            [t('rq.response'), r.response || '—', 'request-detail-response'],
            [t('rq.response_due'), formatTime(r.response_due_at)],
            [t('rq.resolution_due'), formatTime(r.resolution_due_at)],
            [t('rq.follow_up'), label('followup', r.follow_up)],
          ]),
          h('div', { class: 'card inner', testid: 'request-actions' },
            h('h3', {}, t('rq.actions')),
            error,
            h('div', { class: 'row' }, assignee, assign),
            response,
            h('div', { class: 'row' }, respond, ...statusButtons))),
        h('div', {},
          h('h3', {}, t('rq.history')),
          h('ol', { class: 'history', testid: 'request-history' }, r.history.map(historyItem)))));
    body.dataset.status = r.status;
  }

  api('GET', `/requests/${encodeURIComponent(ticket)}`)
    .then((r) => { if (!stopped) draw(r); })
    .catch((e) => replace(body, h('p', { class: 'error', role: 'alert', testid: 'request-error' }, describeError(e))));

  const el = h('section', { class: 'card', testid: 'page-request', dataset: { ticket } },
    h('p', {}, h('a', { href: '#/requests', testid: 'request-back' }, t('rq.back'))),
    body);
  return { el, stop() { stopped = true; } };
}
