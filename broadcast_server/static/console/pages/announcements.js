// Announcements: live, scheduled and past, with delivery figures that follow the screens live.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, label, t } from '../../shared/i18n.js';
import { AnnouncementStatus } from '../../shared/vocabulary.js';
import { cell, describeError, errorLine, field, localToRfc3339, priorityOptions, select, showError } from '../util.js';

/** An RFC 3339 time as a datetime-local value in the browser's zone. */
function toLocalInput(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const { LIVE, SCHEDULED, EXPIRED, CANCELLED } = AnnouncementStatus;

/**
 * A failed speech in the clerk's words: the text went out, and whom to call. The server's reason is the
 * engine's own (English, for county IT), so it is kept behind 技术信息 rather than shown as the message.
 */
function speechFailed(reason) {
  return h('details', { class: 'muted small', testid: 'ann-speech-failed' },
    h('summary', {}, t('ann.speech_failed')),
    h('span', { lang: 'en' }, reason || ''));
}

/**
 * What changed since the post, as the clerk thinks of it. `revision` also grows when the speech is attached
 * to a live announcement (docs/protocol.md §2.9.3), so it is not shown as a version number: a spoken
 * announcement whose speech is ready owes one revision to its audio, any further one is a correction.
 */
function changeNotes(a) {
  const audioRevisions = a.speak && a.speech_status === 'ready' ? 1 : 0;
  const notes = [];
  if (a.revision > 1 + audioRevisions) notes.push(h('span', { class: 'badge note', testid: 'ann-corrected' }, t('ann.corrected')));
  if (a.speak && (a.speech_status === 'ready' || a.speech_status === 'pending')) {
    notes.push(h('span', { class: `badge note speech-${a.speech_status}`, testid: 'ann-speech' }, t(`ann.speech.${a.speech_status}`)));
  }
  if (a.images?.length) notes.push(h('span', { class: 'badge note', testid: 'ann-images' }, t('ann.images', { n: a.images.length })));
  return notes;
}
const FILTERS = ['', LIVE, SCHEDULED, EXPIRED, CANCELLED];
const PAGE_SIZE = 20;
const POLL_MS = 2000;

export function render(ctx) {
  let status = '';
  let cursor = null;
  let stopped = false;
  const rows = new Map(); // id -> {row, announcement, figures}
  const visible = new Set();

  const error = errorLine('ann-error');
  const tbody = h('tbody', { testid: 'ann-rows' });
  const empty = h('p', { class: 'muted', testid: 'ann-empty', hidden: true }, t('ann.empty'));
  const more = h('button', { type: 'button', testid: 'ann-more', hidden: true }, t('common.more'));
  const tabs = h('div', { class: 'tabs', role: 'tablist', testid: 'ann-filter' }, FILTERS.map((f) => {
    const tab = h('button', {
      type: 'button', role: 'tab', testid: `ann-filter-${f || 'all'}`, dataset: { status: f },
      'aria-selected': f === status ? 'true' : 'false',
    }, f ? label('annstatus', f) : t('common.all'));
    tab.addEventListener('click', () => {
      status = f;
      for (const other of tabs.children) other.setAttribute('aria-selected', other === tab ? 'true' : 'false');
      load(true);
    });
    return tab;
  }));

  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const id = entry.target.dataset.id;
      if (entry.isIntersecting) visible.add(id);
      else visible.delete(id);
    }
  });

  const figureCell = (d) => {
    if (!d) return cell(t('ann.col.figures'), { class: 'figures muted' }, '…');
    const n = (name, value) => h('span', { class: `fig fig-${name}`, testid: `fig-${name}`, title: t(`ann.col.${name}`) }, String(value));
    return cell(t('ann.col.figures'), { class: 'figures', testid: 'ann-figures' },
      n('received', d.received), ' / ', n('displayed', d.displayed), ' / ', n('played', d.played),
      h('span', { class: 'muted' }, ` ${t('ann.of')} `), n('targeted', d.targeted));
  };

  const drawRow = (id) => {
    const entry = rows.get(id);
    const a = entry.announcement;
    const cancellable = a.status === LIVE || a.status === SCHEDULED;
    const copy = h('button', { type: 'button', class: 'small', testid: 'ann-copy', title: t('ann.copy.hint'),
      onclick: () => ctx.navigate(`#/compose/copy/${encodeURIComponent(id)}`) }, t('ann.copy'));
    // 回传: which devices played it, for whatever has gone out (an emergency's page also opens by itself)
    const deliveries = a.published_at
      ? h('a', { href: `#/deliveries/${encodeURIComponent(id)}`, class: 'button small', testid: 'ann-deliveries' }, t('ann.deliveries'))
      : null;
    const actions = cancellable
      ? [deliveries,
        h('button', { type: 'button', class: 'small', testid: 'ann-edit', onclick: () => editOne(id) }, t('ann.edit')),
        copy,
        h('button', { type: 'button', class: 'danger small', testid: 'ann-cancel', onclick: () => cancelOne(id) }, t('ann.cancel'))]
      : [deliveries, copy];
    const when = a.status === SCHEDULED ? a.publish_at : (a.published_at || a.created_at);
    replace(entry.row,
      cell(null, { class: 'lead' },
        h('div', { class: 'title', testid: 'ann-title' }, a.title),
        h('div', { class: 'notes' }, changeNotes(a)),
        h('div', { class: 'muted clip', testid: 'ann-body' }, a.body),
        a.speech_status === 'failed' ? speechFailed(a.speech_error) : null),
      cell(t('ann.col.priority'), {}, h('span', { class: `badge prio-${a.priority}` }, label('priority', a.priority)),
        a.drill ? h('span', { class: 'badge drill', testid: 'ann-drill' }, t('ann.drill')) : null),
      cell(t('ann.col.status'), {}, h('span', { class: `badge st-${a.status}`, testid: 'ann-status' }, label('annstatus', a.status))),
      cell(t('ann.col.published'), { class: 'time' }, formatTime(when)),
      cell(t('ann.col.expires'), { class: 'time' }, formatTime(a.expires_at)),
      figureCell(entry.figures),
      cell(null, { class: 'row-actions' }, actions),
    );
    entry.row.dataset.status = a.status;
  };

  const refreshOne = async (id) => {
    const detail = await api('GET', `/announcements/${encodeURIComponent(id)}`);
    const entry = rows.get(id);
    if (!entry || stopped) return;
    entry.announcement = detail;
    entry.figures = detail.deliveries;
    drawRow(id);
  };

  const addRows = (items) => {
    for (const a of items) {
      const row = h('tr', { testid: 'announcement-row', dataset: { id: a.id } });
      rows.set(a.id, { row, announcement: a, figures: null });
      drawRow(a.id);
      tbody.append(row);
      observer.observe(row);
      refreshOne(a.id).catch(() => {});
    }
  };

  async function load(reset) {
    showError(error, null);
    if (reset) {
      cursor = null;
      rows.clear();
      visible.clear();
      observer.disconnect();
      tbody.replaceChildren();
    }
    try {
      const page = await api('GET', '/announcements', { query: { status, limit: PAGE_SIZE, cursor } });
      if (stopped) return;
      addRows(page.items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.hidden = rows.size > 0;
    } catch (e) {
      showError(error, e);
    }
  }

  async function cancelOne(id) {
    const a = rows.get(id).announcement;
    const ok = await ctx.confirm(t('ann.cancel.confirm', { title: a.title }), { yes: t('ann.cancel.yes') });
    if (!ok) return;
    try {
      await api('POST', `/announcements/${encodeURIComponent(id)}/cancel`);
      ctx.notify(t('ann.cancel.done', { title: a.title }));
      await refreshOne(id);
    } catch (e) {
      ctx.notify(describeError(e), 'bad');
    }
  }

  // correcting a live or scheduled announcement: screens get the next revision
  const editor = h('dialog', { class: 'confirm editor', testid: 'ann-editor' });
  function editOne(id) {
    const a = rows.get(id).announcement;
    const title = h('input', { type: 'text', name: 'title', maxlength: 200, value: a.title, testid: 'edit-title' });
    const body = h('textarea', { name: 'body', rows: 5, maxlength: 5000, value: a.body, testid: 'edit-body' });
    const priority = select({ name: 'priority', testid: 'edit-priority' }, priorityOptions(), a.priority);
    priority.disabled = !!a.drill; // a drill stays an emergency (docs/protocol.md §2.9.10)
    const expires = h('input', { type: 'datetime-local', name: 'expires_at', value: toLocalInput(a.expires_at), testid: 'edit-expires-at' });
    const problem = errorLine('edit-error');
    const save = h('button', { type: 'submit', class: 'primary', testid: 'edit-save' }, t('ann.edit.save'));
    const close = h('button', { type: 'button', testid: 'edit-close', onclick: () => editor.close() }, t('ann.edit.close'));
    const form = h('form', { novalidate: true },
      h('h3', {}, t('ann.edit.heading')),
      h('p', { class: 'muted' }, t('ann.edit.hint')),
      problem,
      field(t('compose.title'), title, { name: 'title' }),
      field(t('compose.body'), body, { name: 'body' }),
      field(t('compose.priority'), priority, { name: 'priority' }),
      field(t('compose.expires_at'), expires, { name: 'expires_at' }),
      h('div', { class: 'actions' }, close, save));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const changes = {};
      if (title.value.trim() !== a.title) changes.title = title.value.trim();
      if (body.value.trim() !== a.body) changes.body = body.value.trim();
      if (priority.value !== a.priority) changes.priority = priority.value;
      if (expires.value && expires.value !== toLocalInput(a.expires_at)) changes.expires_at = localToRfc3339(expires.value);
      if (!Object.keys(changes).length) {
        editor.close();
        return;
      }
      save.disabled = true;
      for (const slot of form.querySelectorAll('.field-error')) slot.hidden = true;
      try {
        await api('PATCH', `/announcements/${encodeURIComponent(id)}`, { body: changes });
        editor.close();
        ctx.notify(t('ann.edit.done'));
        await refreshOne(id);
      } catch (e) {
        showError(problem, e);
        if (e instanceof ApiError) {
          for (const item of e.errors || []) {
            const slot = form.querySelector(`[data-testid="error-${item.loc && item.loc[0]}"]`);
            if (slot) {
              slot.textContent = item.msg;
              slot.hidden = false;
            }
          }
        }
      } finally {
        save.disabled = false;
      }
    });
    replace(editor, form);
    editor.showModal();
    title.focus();
  }

  more.addEventListener('click', () => load(false));

  // delivery figures of the live announcements on screen, every ~2 s while the page is open
  let polling = false;
  const timer = setInterval(async () => {
    if (polling || document.hidden) return;
    polling = true;
    try {
      const live = [...rows.entries()]
        .filter(([id, e]) => visible.has(id) && (e.announcement.status === LIVE || e.announcement.status === SCHEDULED))
        .map(([id]) => id);
      await Promise.all(live.map((id) => refreshOne(id).catch(() => {})));
    } finally {
      polling = false;
    }
  }, POLL_MS);

  load(true);

  // an admin sees the CAP alerts county systems sent in, and is told when some reached no area here
  const capLink = ctx.role === 'admin' ? h('a', { href: '#/cap-alerts', testid: 'ann-cap-alerts' }, t('ann.cap_alerts')) : null;
  if (capLink) {
    api('GET', '/cap/alerts', { query: { limit: 50 } }).then((page) => {
      const unmatched = page.items.filter((a) => a.outcome === 'unmatched').length;
      if (unmatched && !stopped) {
        capLink.textContent = t('ann.cap_alerts.unmatched', { n: unmatched });
        capLink.classList.add('bad');
      }
    }).catch(() => {});
  }

  const el = h('section', { class: 'card', testid: 'page-announcements' },
    h('div', { class: 'head' }, h('h2', {}, t('ann.heading')), tabs, capLink),
    h('p', { class: 'muted' }, t('ann.hint')),
    error,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'list' },
        h('thead', {}, h('tr', {},
          h('th', {}, t('ann.col.title')), h('th', {}, t('ann.col.priority')), h('th', {}, t('ann.col.status')),
          h('th', {}, t('ann.col.published')), h('th', {}, t('ann.col.expires')),
          h('th', { class: 'figures' }, t('ann.col.figures')),
          h('th', {}, ''))),
        tbody)),
    empty,
    more,
    editor);

  return {
    el,
    stop() {
      stopped = true;
      clearInterval(timer);
      observer.disconnect();
    },
  };
}
