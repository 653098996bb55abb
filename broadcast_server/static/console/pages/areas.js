// Areas: the tree of places the deployment serves, by name; an admin adds an area under another and renames one.
// A path (/hongqi/liujingtun) is only the id machines use: a new area gets one made up unless county IT gives it.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { t } from '../../shared/i18n.js';
import { areaName, areaOptions, areaTree, describeError, errorLine, field, reloadAreas, select, showError } from '../util.js';

const NAME_MAX = 100;

/** A message for a refused name or id: the field and the rule, in the page's language. */
function describeAreaError(error) {
  if (!(error instanceof ApiError)) return describeError(error);
  const bad = error.errors.find((e) => Array.isArray(e.loc) && ['name', 'path'].includes(e.loc[e.loc.length - 1]));
  if (!bad) return error.describe();
  if (bad.loc[bad.loc.length - 1] === 'path') return t('areas.error.id');
  return bad.type === 'string_too_long' ? t('areas.error.name_long', { max: NAME_MAX }) : t('areas.error.name_empty');
}

/** A path segment nobody has to type: short, lowercase, unlikely to be taken. */
function madeUpSegment() {
  return `a${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
}

export function render(ctx) {
  const error = errorLine('areas-error');
  const list = h('ul', { class: 'tree area-tree', testid: 'area-tree' });

  const row = (node) => {
    const label = h('span', { class: 'area-name', testid: 'area-name' }, areaName(ctx.areas, node.path));
    const item = h('li', { testid: 'area-row', dataset: { path: node.path } },
      h('div', { class: 'area-line' },
        label,
        h('span', { class: 'area-actions' },
          h('button', { type: 'button', class: 'small', testid: 'area-rename', onclick: () => rename(node, item) }, t('areas.rename')),
          h('button', { type: 'button', class: 'small', testid: 'area-add-child', onclick: () => addUnder(node.path) }, t('areas.add_child')))),
      node.children.length ? h('ul', { class: 'tree' }, node.children.map(row)) : null);
    return item;
  };

  const draw = () => {
    replace(list, areaTree(ctx.areas).map(row));
    replace(parent, areaOptions(ctx.areas).map(([value, text]) => h('option', { value }, text)));
    parent.value = ctx.scope;
  };

  /** Turn a row's name into a field with save and cancel. */
  function rename(node, item) {
    const line = item.querySelector('.area-line');
    const input = h('input', { type: 'text', value: areaName(ctx.areas, node.path), testid: 'area-rename-name', 'aria-label': t('areas.name') });
    const lineError = errorLine('area-rename-error');
    const save = h('button', { type: 'submit', class: 'primary small', testid: 'area-rename-save' }, t('areas.save'));
    const form = h('form', { class: 'area-line editing', novalidate: true },
      input, h('span', { class: 'area-actions' },
        h('button', { type: 'button', class: 'small', testid: 'area-rename-cancel', onclick: () => { form.replaceWith(line); lineError.remove(); } }, t('areas.cancel')), save));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      save.disabled = true;
      try {
        await api('PATCH', `/areas/${encodeURIComponent(node.path)}`, { body: { name: input.value.trim() } });
        await reloadAreas(ctx.areas);
        ctx.notify(t('areas.renamed', { name: input.value.trim() }));
        draw();
      } catch (e) {
        lineError.textContent = describeAreaError(e);
        lineError.hidden = false;
        save.disabled = false;
      }
    });
    line.replaceWith(form);
    form.after(lineError);
    input.focus();
  }

  // ---- add an area under another
  const parent = h('select', { name: 'parent', testid: 'area-add-parent' });
  const name = h('input', { type: 'text', name: 'name', testid: 'area-add-name' });
  const segment = h('input', { type: 'text', name: 'path', testid: 'area-add-id', autocapitalize: 'off', spellcheck: 'false' });
  const addError = errorLine('area-add-error');
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'area-add-submit' }, t('areas.add.submit'));
  const addForm = h('form', { class: 'card', novalidate: true, testid: 'area-add-form' },
    h('h3', {}, t('areas.add.heading')),
    addError,
    h('div', { class: 'grid' },
      field(t('areas.add.parent'), parent, { name: 'parent' }),
      field(t('areas.name'), name, { name: 'name' }),
      field(t('areas.add.id'), segment, { name: 'path', hint: h('span', { class: 'muted small' }, t('areas.add.id.hint')) })),
    h('div', { class: 'actions' }, submit));

  function addUnder(path) {
    parent.value = path;
    addForm.scrollIntoView({ block: 'start' });
    name.focus();
  }

  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(addError, null);
    const id = segment.value.trim().toLowerCase() || madeUpSegment();
    submit.disabled = true;
    try {
      const made = await api('POST', '/areas', { body: { path: `${parent.value === '/' ? '' : parent.value}/${id}`, name: name.value.trim() } });
      await reloadAreas(ctx.areas);
      ctx.notify(t('areas.added', { name: made.name }));
      addForm.reset();
      draw();
    } catch (e) {
      addError.textContent = e instanceof ApiError && e.status === 409 ? t('areas.error.taken') : describeAreaError(e);
      addError.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  draw();
  reloadAreas(ctx.areas).then(draw).catch((e) => showError(error, e));

  const el = h('section', { testid: 'page-areas' },
    h('div', { class: 'card' },
      h('div', { class: 'head' }, h('h2', {}, t('areas.heading'))),
      h('p', { class: 'muted' }, t('areas.intro')),
      error,
      list),
    addForm);
  return { el, stop() {} };
}
