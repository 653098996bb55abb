// Pronunciation (读音): an admin's list of the place and family names eSpeak NG says wrong, and what it is given
// instead (characters that sound right, or pinyin with tone digits). 试听 plays a word as the loudspeaker will now say
// it, with the words it is given; every notice voiced after a change follows the list.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { t } from '../../shared/i18n.js';
import { cell, errorLine, field, showError } from '../util.js';

const WORD_MAX = 20; // the server's bounds (announcements/models.py)
const SAY_MAX = 40;
const at = (word) => `/pronunciations/${encodeURIComponent(word)}`;

export function render(ctx) {
  let stopped = false;
  let entries = [];
  let audioUrl = null;

  const error = errorLine('pron-error');
  const rows = h('tbody', { testid: 'pron-rows' });
  const empty = h('p', { class: 'muted', testid: 'pron-empty', hidden: true }, t('pron.empty'));
  const spokenLine = h('p', { class: 'spoken', testid: 'pron-spoken', role: 'status', hidden: true });
  const player = h('audio', { controls: true, testid: 'pron-audio', hidden: true });

  const table = h('div', { class: 'table-wrap', hidden: true },
    h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, h('th', {}, t('pron.col.word')), h('th', {}, t('pron.col.say')), h('th', {}, ''))),
      rows));
  const draw = () => {
    empty.hidden = entries.length > 0;
    table.hidden = !empty.hidden;
    replace(rows, entries.map(row));
  };

  function row(entry) {
    const buttons = h('td', { class: 'row-actions' },
      h('button', { type: 'button', class: 'small', testid: 'pron-listen', onclick: (event) => listen(entry.word, event.currentTarget) },
        t('pron.listen')),
      h('button', { type: 'button', class: 'small', testid: 'pron-edit', onclick: () => edit(entry, tr) }, t('pron.edit')),
      h('button', { type: 'button', class: 'danger small', testid: 'pron-delete', onclick: () => remove(entry) }, t('pron.delete')));
    const tr = h('tr', { testid: 'pron-row', dataset: { word: entry.word } },
      cell(t('pron.col.word'), { class: 'title', testid: 'pron-word' }, entry.word),
      cell(t('pron.col.say'), { testid: 'pron-say' }, entry.say),
      buttons);
    return tr;
  }

  /** The row as a small form: what to say, cancel and save; an error stays in the row. */
  function edit(entry, tr) {
    const input = h('input', { type: 'text', value: entry.say, maxlength: SAY_MAX * 2, testid: 'pron-edit-say',
      'aria-label': t('pron.edit_label', { word: entry.word }) });
    const rowError = errorLine('pron-edit-error');
    const save = h('button', { type: 'submit', class: 'primary small', testid: 'pron-edit-save' }, t('pron.save'));
    const form = h('form', { class: 'area-line editing', novalidate: true, testid: 'pron-edit-form' },
      input,
      h('span', { class: 'area-actions' },
        h('button', { type: 'button', class: 'small', testid: 'pron-edit-cancel', onclick: draw }, t('pron.cancel')),
        save));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      save.disabled = true;
      try {
        await put(entry.word, input.value);
      } catch (e) {
        showError(rowError, e);
        save.disabled = false;
      }
    });
    replace(tr, cell(t('pron.col.word'), { class: 'title' }, entry.word), h('td', { colspan: 2 }, form, rowError));
    input.focus();
  }

  async function put(word, say) {
    const saved = await api('PUT', at(word), { body: { say } });
    ctx.notify(t('pron.saved', { word: saved.word, say: saved.say }));
    await load();
  }

  async function remove(entry) {
    if (!(await ctx.confirm(t('pron.delete_confirm', { word: entry.word }), { yes: t('pron.delete') }))) return;
    try {
      await api('DELETE', at(entry.word));
      ctx.notify(t('pron.deleted', { word: entry.word }));
    } catch (e) {
      showError(error, e);
    }
    await load();
  }

  /** The word as the loudspeaker now says it: the words it is given, and the clip where this server has speech. */
  async function listen(word, button) {
    showError(error, null);
    button.disabled = true;
    const [words, clip] = await Promise.allSettled([
      api('POST', '/speech/preview', { body: { text: word, format: 'text' } }),
      api('POST', '/speech/preview', { body: { text: word }, as: 'blob' }),
    ]);
    button.disabled = false;
    if (stopped) return;
    spokenLine.hidden = words.status !== 'fulfilled';
    if (words.status === 'fulfilled') spokenLine.textContent = t('pron.spoken', { word, text: words.value.spoken });
    if (clip.status === 'rejected') {
      showError(error, clip.reason);
      return;
    }
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = URL.createObjectURL(clip.value);
    player.src = audioUrl;
    player.hidden = false;
    await player.play().catch(() => {});
  }

  // ---- add a word
  const word = h('input', { type: 'text', name: 'word', maxlength: WORD_MAX * 2, testid: 'pron-add-word' });
  const say = h('input', { type: 'text', name: 'say', maxlength: SAY_MAX * 2, autocapitalize: 'none', spellcheck: 'false',
    testid: 'pron-add-say' });
  const addError = errorLine('pron-add-error');
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'pron-add-submit' }, t('pron.add.submit'));
  const addForm = h('form', { novalidate: true, testid: 'pron-add-form' },
    h('h3', {}, t('pron.add.heading')),
    addError,
    h('div', { class: 'grid' },
      field(t('pron.add.word'), word, { name: 'word', hint: h('p', { class: 'muted' }, t('pron.add.word.hint')) }),
      field(t('pron.add.say'), say, { name: 'say', hint: h('p', { class: 'muted' }, t('pron.add.say.hint')) })),
    h('div', { class: 'actions' }, submit));
  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(addError, null);
    const typed = word.value.trim();
    if (!typed) { // no word, no address to put it at: the server's own words for the rule
      showError(addError, new ApiError(422, '', [{ type: 'pronunciation_word' }]));
      return;
    }
    const known = entries.find((e) => e.word === typed);
    if (known && !(await ctx.confirm(t('pron.replace_confirm', { word: typed, say: known.say }), { danger: false }))) return;
    submit.disabled = true;
    try {
      await put(typed, say.value);
      addForm.reset();
      word.focus();
    } catch (e) {
      showError(addError, e);
    } finally {
      submit.disabled = false;
    }
  });

  async function load() {
    try {
      const fresh = await api('GET', '/pronunciations');
      if (stopped) return;
      entries = fresh;
      draw();
    } catch (e) {
      if (!stopped) showError(error, e);
    }
  }
  load();

  const el = h('section', { testid: 'page-pronunciations' },
    h('div', { class: 'card' },
      h('h2', {}, t('pron.heading')),
      h('p', { class: 'muted' }, t('pron.intro')),
      error,
      spokenLine,
      player,
      table,
      empty,
      addForm));
  return {
    el,
    stop() {
      stopped = true;
      player.pause();
      if (audioUrl) URL.revokeObjectURL(audioUrl);
    },
  };
}
