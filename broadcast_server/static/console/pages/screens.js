// Screens: every device in scope, what it shows and how it is doing; add one (its token shown once, with a QR code);
// rename, move or re-tag one; revoke one.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, label, t } from '../../shared/i18n.js';
import { ScreenKind } from '../../shared/vocabulary.js';
import { areaName, areaOptions, cell, describeError, errorLine, field, formatDuration, select, showError } from '../util.js';

const REFRESH_MS = 5000;

/**
 * The server's QR code is SVG meant for inlining (no xmlns), which an <img> cannot show. Read it with
 * the HTML parser (inert: nothing runs) and serialize it again, which writes the SVG namespace.
 */
function standaloneSvg(text) {
  const doc = new DOMParser().parseFromString(text, 'text/html');
  const svg = doc.querySelector('svg');
  if (!svg) throw new Error('not an SVG image');
  if (!svg.getAttribute('viewBox') && svg.getAttribute('width')) {
    svg.setAttribute('viewBox', `0 0 ${svg.getAttribute('width')} ${svg.getAttribute('height') || svg.getAttribute('width')}`);
  }
  return new XMLSerializer().serializeToString(svg);
}

/**
 * Tags for a device: those devices already carry, as chips to tick, and a field for a new one typed on purpose.
 * `prefix` names its test ids (`<prefix>-known-tags`, `<prefix>-tag`, `<prefix>-tags`).
 */
function tagPicker(prefix, chosen = []) {
  const known = h('div', { class: 'picks', testid: `${prefix}-known-tags` });
  const typed = h('input', { type: 'text', name: 'tags', testid: `${prefix}-tags` });
  const load = () => api('GET', '/screens/tags')
    .then((tags) => replace(known, [...new Set([...tags, ...chosen])].sort().map((tag) => h('label', { class: 'check chip' },
      h('input', { type: 'checkbox', value: tag, checked: chosen.includes(tag), testid: `${prefix}-tag`, dataset: { tag } }),
      h('span', {}, tag)))))
    .catch((e) => replace(known, h('p', { class: 'error' }, describeError(e))));
  load();
  return {
    el: h('div', { class: 'field wide' }, h('span', { class: 'label' }, t('screens.add.tags')), known,
      field(t('screens.add.new_tags'), typed, { name: 'tags', hint: h('span', { class: 'muted small' }, t('screens.add.new_tags.hint')) })),
    values: () => [...known.querySelectorAll('input:checked')].map((b) => b.value)
      .concat(typed.value.split(/[,，、\s]+/).map((x) => x.trim()).filter(Boolean)),
    reload: load,
  };
}

/** Online, or offline and for how long (flagged when longer than the deployment allows). */
function stateBadge(sc) {
  if (sc.online) return h('span', { class: 'badge ok', testid: 'screen-online' }, t('screens.online'));
  return [
    h('span', { class: sc.offline_alert ? 'badge overdue' : 'badge off', testid: 'screen-online' }, t('screens.offline')),
    sc.offline_s === null || sc.offline_s === undefined ? null
      : h('span', { class: 'muted small', testid: 'screen-offline-for' }, t('screens.offline_for', { time: formatDuration(sc.offline_s) })),
  ];
}

/** What the screen puts first now (offline: what it should, unconfirmed), and when it last confirmed receiving an announcement. */
function showingCell(sc) {
  let now = h('div', { class: 'muted' }, t('screens.showing.none'));
  if (sc.showing) {
    now = sc.online ? h('div', { class: 'title' }, sc.showing.title)
      : h('div', { class: 'muted' }, t('screens.showing.unconfirmed', { title: sc.showing.title }));
  }
  return cell(t('screens.col.showing'), { testid: 'screen-showing' },
    now,
    sc.last_received_at ? h('div', { class: 'muted small' }, t('screens.last_received', { at: formatTime(sc.last_received_at) })) : null);
}

export function render(ctx) {
  let stopped = false;
  let qrUrl = null;
  const error = errorLine('screens-error');
  const tbody = h('tbody', { testid: 'screen-rows' });
  const empty = h('p', { class: 'muted', testid: 'screens-empty', hidden: true }, t('screens.empty'));
  const summary = h('p', { class: 'muted', testid: 'screens-summary' });

  const alert = h('p', { class: 'warn', role: 'status', testid: 'screens-offline-alert', hidden: true });
  const editor = h('dialog', { class: 'confirm editor', testid: 'screen-editor' });

  const draw = (screens) => {
    const online = screens.filter((sc) => sc.online).length;
    const flagged = screens.filter((sc) => sc.offline_alert);
    summary.textContent = t('screens.summary', { n: screens.length, online });
    alert.hidden = flagged.length === 0;
    alert.textContent = t('screens.offline_alert', { n: flagged.length, names: flagged.map((sc) => sc.name).join('、') });
    empty.hidden = screens.length > 0;
    replace(tbody, screens.map((sc) => {
      const client = sc.client && (sc.client.name || sc.client.version)
        ? [sc.client.name, sc.client.version].filter(Boolean).join(' ') : '—';
      return h('tr', { testid: 'screen-row', dataset: { id: sc.id, online: sc.online ? 'true' : 'false', alert: sc.offline_alert ? 'true' : 'false' } },
        cell(null, { class: 'lead', testid: 'screen-name' }, h('div', { class: 'title' }, sc.name),
          sc.tags && sc.tags.length ? h('div', { class: 'muted' }, sc.tags.join(', ')) : null),
        cell(t('screens.col.area'), { testid: 'screen-area' }, areaName(ctx.areas, sc.area)),
        cell(t('screens.col.kind'), {}, label('kind', sc.kind)),
        cell(t('screens.col.state'), {}, stateBadge(sc)),
        showingCell(sc),
        cell(t('screens.col.last_seen'), { class: 'time', testid: 'screen-last-seen' }, formatTime(sc.last_seen)),
        cell(t('screens.col.client'), { testid: 'screen-client' }, client),
        cell(t('screens.col.behind'), { class: 'num', testid: 'screen-behind' }, sc.behind > 0 ? t('screens.behind', { n: sc.behind }) : t('screens.up_to_date')),
        cell(null, { class: 'row-actions' }, ctx.role === 'admin'
          ? [h('button', { type: 'button', class: 'small', testid: 'screen-edit', onclick: () => edit(sc) }, t('screens.edit')),
            h('button', { type: 'button', class: 'danger small', testid: 'screen-revoke', onclick: () => revoke(sc) }, t('screens.revoke'))]
          : null));
    }));
  };

  async function load() {
    try {
      const screens = await api('GET', '/screens');
      if (!stopped) {
        draw(screens);
        showError(error, null);
      }
    } catch (e) {
      if (!stopped) showError(error, e);
    }
  }

  async function revoke(sc) {
    const ok = await ctx.confirm(t('screens.revoke.confirm', { name: sc.name }), { yes: t('screens.revoke.yes') });
    if (!ok) return;
    try {
      await api('DELETE', `/screens/${encodeURIComponent(sc.id)}`);
      ctx.notify(t('screens.revoke.done', { name: sc.name }));
      await load();
    } catch (e) {
      ctx.notify(describeError(e), 'bad');
    }
  }

  /** Rename, move or re-tag: a moved or re-tagged screen reconnects at once and shows its new area's announcements. */
  function edit(sc) {
    const name = h('input', { type: 'text', name: 'name', value: sc.name, testid: 'screen-edit-name' });
    const area = select({ name: 'area', testid: 'screen-edit-area' }, areaOptions(ctx.areas), sc.area);
    const tags = tagPicker('screen-edit', sc.tags || []);
    const error = errorLine('screen-edit-error');
    const save = h('button', { type: 'submit', class: 'primary', testid: 'screen-edit-save' }, t('screens.edit.save'));
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h3', {}, t('screens.edit.heading', { name: sc.name })),
      error,
      field(t('screens.add.name'), name, { name: 'name' }),
      field(t('screens.add.area'), area, { name: 'area' }),
      tags.el,
      h('p', { class: 'muted small' }, t('screens.edit.reconnect')),
      h('div', { class: 'actions' },
        h('button', { type: 'button', testid: 'screen-edit-cancel', onclick: () => editor.close() }, t('screens.edit.cancel')),
        save));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      showError(error, null);
      save.disabled = true;
      try {
        await api('PATCH', `/screens/${encodeURIComponent(sc.id)}`, { body: { name: name.value.trim(), area: area.value, tags: tags.values() } });
        editor.close();
        ctx.notify(t('screens.edit.done', { name: name.value.trim() }));
        await load();
      } catch (e) {
        showError(error, e);
      } finally {
        save.disabled = false;
      }
    });
    replace(editor, form);
    editor.showModal();
    name.focus();
  }

  // ---- add a screen (admin)
  const result = h('div', { class: 'new-screen', testid: 'new-screen', hidden: true });
  const clearResult = () => {
    result.hidden = true;
    result.replaceChildren();
    if (qrUrl) URL.revokeObjectURL(qrUrl);
    qrUrl = null;
  };

  let addForm = null;
  if (ctx.role === 'admin') {
    const name = h('input', { type: 'text', name: 'name', maxlength: 100, testid: 'screen-add-name' });
    const area = select({ name: 'area', testid: 'screen-add-area' }, areaOptions(ctx.areas), ctx.scope);
    const kind = select({ name: 'kind', testid: 'screen-add-kind' }, Object.values(ScreenKind).map((k) => [k, label('kind', k)]), ScreenKind.SCREEN);
    const tags = tagPicker('screen-add');
    const addError = errorLine('screen-add-error');
    const submit = h('button', { type: 'submit', class: 'primary', testid: 'screen-add-submit' }, t('screens.add.submit'));
    addForm = h('form', { class: 'card', novalidate: true, testid: 'screen-add-form' },
      h('h3', {}, t('screens.add.heading')),
      addError,
      h('div', { class: 'grid' },
        field(t('screens.add.name'), name, { name: 'name' }),
        field(t('screens.add.area'), area, { name: 'area' }),
        field(t('screens.add.kind'), kind, { name: 'kind' }),
        tags.el),
      h('div', { class: 'actions' }, submit),
      result);
    addForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      showError(addError, null);
      clearResult();
      submit.disabled = true;
      try {
        const created = await api('POST', '/screens', {
          body: {
            name: name.value.trim(), area: area.value, kind: kind.value, tags: tags.values(),
          },
        });
        await showCreated(created);
        addForm.reset();
        area.value = ctx.scope;
        await Promise.all([load(), tags.reload()]);
      } catch (e) {
        if (e instanceof ApiError && e.errors && e.errors.length) {
          addError.textContent = `${e.describe()}`;
          addError.hidden = false;
        } else showError(addError, e);
      } finally {
        submit.disabled = false;
      }
    });
  }

  async function showCreated(created) {
    const link = `${location.origin}/screen#token=${encodeURIComponent(created.token)}`;
    const img = h('img', { class: 'qr', testid: 'new-screen-qr', alt: t('screens.qr.alt'), width: 220, height: 220 });
    const done = h('button', { type: 'button', testid: 'new-screen-done', onclick: clearResult }, t('screens.new.done'));
    replace(result,
      h('h4', {}, t('screens.new.heading', { name: created.name })),
      h('p', { class: 'warn' }, t('screens.new.once')),
      h('div', { class: 'new-screen-body' },
        img,
        h('div', {},
          h('p', {}, h('span', { class: 'label' }, t('screens.new.token')), h('code', { class: 'secret', testid: 'new-screen-token' }, created.token)),
          h('p', {}, h('span', { class: 'label' }, t('screens.new.link')), h('code', { class: 'secret', testid: 'new-screen-link' }, link)),
          h('p', { class: 'muted' }, t('screens.new.how')),
          done)));
    result.hidden = false;
    try {
      const svg = await api('POST', '/qr', { body: { text: link }, as: 'text' });
      qrUrl = URL.createObjectURL(new Blob([standaloneSvg(svg)], { type: 'image/svg+xml' }));
      img.src = qrUrl;
    } catch (e) {
      img.replaceWith(h('p', { class: 'error' }, describeError(e)));
    }
  }

  load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);

  const el = h('section', { testid: 'page-screens' },
    h('div', { class: 'card' },
      h('div', { class: 'head' }, h('h2', {}, t('screens.heading')), summary),
      alert,
      error,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'list' },
          h('thead', {}, h('tr', {},
            h('th', {}, t('screens.col.name')), h('th', {}, t('screens.col.area')), h('th', {}, t('screens.col.kind')),
            h('th', {}, t('screens.col.state')), h('th', {}, t('screens.col.showing')), h('th', {}, t('screens.col.last_seen')),
            h('th', {}, t('screens.col.client')),
            h('th', { class: 'num' }, t('screens.col.behind')), h('th', {}, ''))),
          tbody)),
      empty),
    addForm,
    editor);

  return {
    el,
    stop() {
      stopped = true;
      clearInterval(timer);
      clearResult();
    },
  };
}
