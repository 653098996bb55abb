// Screens: every device in scope and how it is doing; add one (its token shown once, with a QR code); revoke one.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, label, t } from '../../shared/i18n.js';
import { ScreenKind } from '../../shared/vocabulary.js';
import { areaName, areaOptions, cell, describeError, errorLine, field, select, showError } from '../util.js';

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

export function render(ctx) {
  let stopped = false;
  let qrUrl = null;
  const error = errorLine('screens-error');
  const tbody = h('tbody', { testid: 'screen-rows' });
  const empty = h('p', { class: 'muted', testid: 'screens-empty', hidden: true }, t('screens.empty'));
  const summary = h('p', { class: 'muted', testid: 'screens-summary' });

  const draw = (screens) => {
    const online = screens.filter((sc) => sc.online).length;
    summary.textContent = t('screens.summary', { n: screens.length, online });
    empty.hidden = screens.length > 0;
    replace(tbody, screens.map((sc) => {
      const client = sc.client && (sc.client.name || sc.client.version)
        ? [sc.client.name, sc.client.version].filter(Boolean).join(' ') : '—';
      return h('tr', { testid: 'screen-row', dataset: { id: sc.id, online: sc.online ? 'true' : 'false' } },
        cell(null, { class: 'lead', testid: 'screen-name' }, h('div', { class: 'title' }, sc.name),
          sc.tags && sc.tags.length ? h('div', { class: 'muted' }, sc.tags.join(', ')) : null),
        cell(t('screens.col.area'), {}, areaName(ctx.areas, sc.area)),
        cell(t('screens.col.kind'), {}, label('kind', sc.kind)),
        cell(t('screens.col.state'), {}, h('span', { class: sc.online ? 'badge ok' : 'badge off', testid: 'screen-online' },
          sc.online ? t('screens.online') : t('screens.offline'))),
        cell(t('screens.col.last_seen'), { class: 'time', testid: 'screen-last-seen' }, formatTime(sc.last_seen)),
        cell(t('screens.col.client'), { testid: 'screen-client' }, client),
        cell(t('screens.col.behind'), { class: 'num', testid: 'screen-behind' }, sc.behind > 0 ? t('screens.behind', { n: sc.behind }) : t('screens.up_to_date')),
        cell(null, { class: 'row-actions' }, ctx.role === 'admin'
          ? h('button', { type: 'button', class: 'danger small', testid: 'screen-revoke', onclick: () => revoke(sc) }, t('screens.revoke'))
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
    // tags: the ones devices already carry, ticked; a new one only when typed on purpose
    const knownTags = h('div', { class: 'picks', testid: 'screen-add-known-tags' });
    const loadTags = () => api('GET', '/screens/tags').then((known) => replace(knownTags, known.map((tag) => h('label', { class: 'check chip' },
      h('input', { type: 'checkbox', value: tag, testid: 'screen-add-tag', dataset: { tag } }), h('span', {}, tag)))))
      .catch((e) => replace(knownTags, h('p', { class: 'error' }, describeError(e))));
    loadTags();
    const tags = h('input', { type: 'text', name: 'tags', testid: 'screen-add-tags' });
    const addError = errorLine('screen-add-error');
    const submit = h('button', { type: 'submit', class: 'primary', testid: 'screen-add-submit' }, t('screens.add.submit'));
    addForm = h('form', { class: 'card', novalidate: true, testid: 'screen-add-form' },
      h('h3', {}, t('screens.add.heading')),
      addError,
      h('div', { class: 'grid' },
        field(t('screens.add.name'), name, { name: 'name' }),
        field(t('screens.add.area'), area, { name: 'area' }),
        field(t('screens.add.kind'), kind, { name: 'kind' }),
        h('div', { class: 'field wide' }, h('span', { class: 'label' }, t('screens.add.tags')), knownTags,
          field(t('screens.add.new_tags'), tags, { name: 'tags', hint: h('span', { class: 'muted small' }, t('screens.add.new_tags.hint')) }))),
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
            name: name.value.trim(), area: area.value, kind: kind.value,
            tags: [...knownTags.querySelectorAll('input:checked')].map((b) => b.value)
              .concat(tags.value.split(/[,，、\s]+/).map((x) => x.trim()).filter(Boolean)),
          },
        });
        await showCreated(created);
        addForm.reset();
        area.value = ctx.scope;
        await Promise.all([load(), loadTags()]);
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
      error,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'list' },
          h('thead', {}, h('tr', {},
            h('th', {}, t('screens.col.name')), h('th', {}, t('screens.col.area')), h('th', {}, t('screens.col.kind')),
            h('th', {}, t('screens.col.state')), h('th', {}, t('screens.col.last_seen')), h('th', {}, t('screens.col.client')),
            h('th', { class: 'num' }, t('screens.col.behind')), h('th', {}, ''))),
          tbody)),
      empty),
    addForm);

  return {
    el,
    stop() {
      stopped = true;
      clearInterval(timer);
      clearResult();
    },
  };
}
