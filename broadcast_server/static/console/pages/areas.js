// Areas: the tree of places the deployment serves, by name; an admin adds an area under another and renames one.
// A path (/hongqi/liujingtun) is only the id machines use: a new area gets one made up unless county IT gives it.
// Each area says how long its screens show each notice (kiosk dwell), set by an admin or by the committee of that
// area (the server allows both); an area that sets none inherits from the one above it. An admin (county IT) gives an
// area its administrative division codes (行政区划代码), by which the county's CAP warnings name it.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { t } from '../../shared/i18n.js';
import { areaName, areaOptions, areaTree, describeError, errorLine, field, reloadAreas, showError } from '../util.js';

const NAME_MAX = 100;
const DWELL = { min: 3, max: 600 }; // the server's bounds (KioskDwell)
const DEFAULT_DWELL_S = 10; // a kiosk's own when no area above sets one (static/kiosk/main.js)
const MAX_GEOCODES = 20; // the server's bound (AreaUpdate.geocodes)
const GEOCODE = /^\d{6,12}$/; // the server's rule, used only to name which typed code it refused

/** A message for a refused name, id or dwell: the field and the rule, in the page's language. */
function describeAreaError(error) {
  if (!(error instanceof ApiError)) return describeError(error);
  const bad = error.errors.find((e) => Array.isArray(e.loc) && ['name', 'path', 'kiosk_dwell_s'].includes(e.loc[e.loc.length - 1]));
  if (!bad) return error.describe();
  const field = bad.loc[bad.loc.length - 1];
  if (field === 'path') return t('areas.error.id');
  if (field === 'kiosk_dwell_s') return t('areas.error.dwell', DWELL);
  return bad.type === 'string_too_long' ? t('areas.error.name_long', { max: NAME_MAX }) : t('areas.error.name_empty');
}

/** Codes as typed: split at commas (either width), 、, semicolons and spaces. */
function typedCodes(typed) {
  return typed.split(/[\s,，、;；]+/).filter(Boolean);
}

/**
 * A refused set of division codes, said with the code at fault: which one is not a code, or which area has it
 * already (the areas the admin sees carry their codes; the server's 409 names the area only in English).
 */
function describeGeocodeError(error, codes, areas, path) {
  if (!(error instanceof ApiError)) return describeError(error);
  const bad = error.errors.find((e) => Array.isArray(e.loc) && e.loc[e.loc.length - 1] === 'geocodes');
  if (!bad) return error.describe();
  if (bad.type === 'area_geocode') {
    const wrong = codes.find((code) => !GEOCODE.test(code));
    return (wrong ? t('areas.error.geocode_bad', { code: wrong }) : '') + t('error.code.area_geocode');
  }
  if (bad.type === 'area_geocode_taken') {
    for (const other of areas.filter((a) => a.path !== path)) {
      const code = codes.find((c) => (other.geocodes || []).includes(c));
      if (code) return t('areas.error.geocode_taken', { code, name: areaName(areas, other.path) });
    }
    return t('error.code.area_geocode_taken');
  }
  return bad.type === 'too_long' ? t('areas.error.geocodes_many', { max: MAX_GEOCODES }) : error.describe();
}

/** How long screens in the area show each notice, and whether that is its own setting, inherited, or the default. */
function dwellText(area) {
  if (area.kiosk_dwell_s != null) return t('areas.dwell.own', { s: area.kiosk_dwell_s });
  if (area.kiosk_dwell_inherited_s != null) return t('areas.dwell.inherited', { s: area.kiosk_dwell_inherited_s });
  return t('areas.dwell.default', { s: DEFAULT_DWELL_S });
}

/** What a typed dwell is sent as: nothing is "inherit"; a whole number as a number; anything else as typed, for the
 * server to refuse by its field (so the rule lives in one place). */
function dwellValue(typed) {
  if (typed === '') return null;
  return /^\d+$/.test(typed) ? Number(typed) : typed;
}

/** A path segment nobody has to type: short, lowercase, unlikely to be taken. */
function madeUpSegment() {
  return `a${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
}

export function render(ctx) {
  const error = errorLine('areas-error');
  const list = h('ul', { class: 'tree area-tree', testid: 'area-tree' });
  const admin = ctx.role === 'admin'; // renaming and adding areas are an admin's; a committee sets only the dwell

  const row = (node) => {
    const item = h('li', { testid: 'area-row', dataset: { path: node.path } },
      h('div', { class: 'area-line' },
        h('span', { class: 'area-label' },
          h('span', { class: 'area-name', testid: 'area-name' }, areaName(ctx.areas, node.path)),
          h('span', { class: 'muted small', testid: 'area-dwell' }, dwellText(node)),
          admin && node.geocodes?.length
            ? h('span', { class: 'muted small', testid: 'area-geocodes' }, t('areas.geocodes.own', { codes: node.geocodes.join('、') }))
            : null),
        h('span', { class: 'area-actions' },
          h('button', { type: 'button', class: 'small', testid: 'area-dwell-edit', onclick: () => editDwell(node, item) }, t('areas.dwell.edit')),
          admin ? [
            h('button', { type: 'button', class: 'small', testid: 'area-rename', onclick: () => rename(node, item) }, t('areas.rename')),
            h('button', { type: 'button', class: 'small', testid: 'area-add-child', onclick: () => addUnder(node.path) }, t('areas.add_child')),
            h('button', { type: 'button', class: 'small', testid: 'area-geocodes-edit', onclick: () => editGeocodes(node, item) }, t('areas.geocodes.edit')),
          ] : null)),
      node.children.length ? h('ul', { class: 'tree' }, node.children.map(row)) : null);
    return item;
  };

  const draw = () => {
    replace(list, areaTree(ctx.areas).map(row));
    replace(parent, areaOptions(ctx.areas).map(([value, text]) => h('option', { value }, text)));
    parent.value = ctx.scope;
  };

  /**
   * Turn a row's line into a small form: `control` (holding `input`), cancel and save. `send(value)` makes the change
   * and answers the message to show; `also` is one more way to send ([testid, label, value]). An error stays under it.
   */
  function editLine(item, prefix, control, input, send, also = null) {
    const line = item.querySelector('.area-line');
    const lineError = errorLine(`${prefix}-error`);
    const cancel = h('button', { type: 'button', class: 'small', testid: `${prefix}-cancel`, onclick: () => { form.replaceWith(line); lineError.remove(); } },
      t('areas.cancel'));
    const extra = also && h('button', { type: 'button', class: 'small', testid: also[0], onclick: () => run(also[2]) }, also[1]);
    const save = h('button', { type: 'submit', class: 'primary small', testid: `${prefix}-save` }, t('areas.save'));
    const form = h('form', { class: 'area-line editing', novalidate: true }, control, h('span', { class: 'area-actions' }, cancel, extra, save));
    const buttons = [cancel, extra, save].filter(Boolean);
    async function run(value) {
      for (const b of buttons) b.disabled = true;
      try {
        const message = await send(value);
        await reloadAreas(ctx.areas);
        ctx.notify(message);
        draw();
      } catch (e) {
        lineError.textContent = describeAreaError(e);
        lineError.hidden = false;
        for (const b of buttons) b.disabled = false;
      }
    }
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      run(input.value.trim());
    });
    line.replaceWith(form);
    form.after(lineError);
    input.focus();
  }

  function rename(node, item) {
    const input = h('input', { type: 'text', value: areaName(ctx.areas, node.path), testid: 'area-rename-name', 'aria-label': t('areas.name') });
    editLine(item, 'area-rename', input, input, async (name) => {
      await api('PATCH', `/areas/${encodeURIComponent(node.path)}`, { body: { name } });
      return t('areas.renamed', { name });
    });
  }

  function editDwell(node, item) {
    const name = areaName(ctx.areas, node.path);
    const input = h('input', { type: 'text', inputmode: 'numeric', size: 4, value: node.kiosk_dwell_s ?? '', testid: 'area-dwell-seconds' });
    const control = h('label', { class: 'area-field area-dwell-field' },
      h('span', {}, t('areas.dwell.label', { name })), input, h('span', { class: 'muted small' }, t('areas.dwell.rule', DWELL)));
    editLine(item, 'area-dwell', control, input, async (typed) => {
      const seconds = dwellValue(typed);
      await api('PATCH', `/areas/${encodeURIComponent(node.path)}/kiosk-dwell`, { body: { kiosk_dwell_s: seconds } });
      return seconds === null ? t('areas.dwell.cleared', { name }) : t('areas.dwell.saved', { name, s: seconds });
    }, ['area-dwell-inherit', t('areas.dwell.inherit'), '']);
  }

  function editGeocodes(node, item) {
    const name = areaName(ctx.areas, node.path);
    const input = h('input', {
      type: 'text', inputmode: 'numeric', value: (node.geocodes || []).join(' '), testid: 'area-geocodes-input',
      autocomplete: 'off', spellcheck: 'false',
    });
    const control = h('label', { class: 'area-field' },
      h('span', {}, t('areas.geocodes.label', { name })), input, h('span', { class: 'muted small' }, t('areas.geocodes.rule')));
    editLine(item, 'area-geocodes', control, input, async (typed) => {
      const codes = typedCodes(typed);
      try {
        await api('PATCH', `/areas/${encodeURIComponent(node.path)}`, { body: { geocodes: codes } });
      } catch (e) {
        throw new Error(describeGeocodeError(e, codes, ctx.areas, node.path));
      }
      return codes.length ? t('areas.geocodes.saved', { name, codes: codes.join('、') }) : t('areas.geocodes.cleared', { name });
    });
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
  // The tree as the server has it now, drawn again only if it differs and no row is being edited: a clerk who
  // opened an editor before the answer came (a slow network) keeps it; its save draws the tree anew anyway.
  const shown = JSON.stringify(ctx.areas);
  reloadAreas(ctx.areas)
    .then(() => { if (JSON.stringify(ctx.areas) !== shown && !list.querySelector('.editing')) draw(); })
    .catch((e) => showError(error, e));

  const el = h('section', { testid: 'page-areas' },
    h('div', { class: 'card' },
      h('div', { class: 'head' }, h('h2', {}, t('areas.heading'))),
      h('p', { class: 'muted' }, t('areas.intro')),
      error,
      list),
    admin ? addForm : null);
  return { el, stop() {} };
}
