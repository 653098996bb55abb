// Compose: write an announcement, hear it, post it (once, even on a double click).

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { label, t } from '../../shared/i18n.js';
import { Language, Priority } from '../../shared/vocabulary.js';
import { areaTree, describeError, errorLine, field, localToRfc3339, priorityOptions, randomKey, select, showError } from '../util.js';

const BODY_MAX = 5000;
const CATEGORIES = ['', 'notice', 'meeting', 'policy', 'weather', 'safety', 'health', 'agriculture', 'event', 'other'];
const FIELDS = ['title', 'body', 'priority', 'category', 'language', 'target', 'publish_at', 'expires_at', 'speak', 'repeat'];

export function render(ctx) {
  let idempotencyKey = null;
  let audioUrl = null;
  let posting = false;

  const title = h('input', { type: 'text', name: 'title', maxlength: 200, testid: 'compose-title' });
  const body = h('textarea', { name: 'body', rows: 6, maxlength: BODY_MAX, testid: 'compose-body' });
  const count = h('span', { class: 'count', testid: 'compose-body-count' });
  const updateCount = () => {
    count.textContent = t('compose.count', { n: [...body.value].length, max: BODY_MAX });
  };
  updateCount();
  body.addEventListener('input', updateCount);

  const priority = select({ name: 'priority', testid: 'compose-priority' },
    priorityOptions(), Priority.NORMAL);
  const category = select({ name: 'category', testid: 'compose-category' },
    CATEGORIES.map((c) => [c, c ? label('anncat', c) : t('compose.category.none')]), '');
  const language = select({ name: 'language', testid: 'compose-language' },
    Object.values(Language).map((lang) => [lang, t(`lang.${lang}`)]), Language.ZH);

  // target: the area tree, tags and single screens
  const areaBoxes = [];
  const treeList = (nodes) => h('ul', { class: 'tree' }, nodes.map((node) => {
    const box = h('input', { type: 'checkbox', value: node.path, testid: 'target-area', dataset: { path: node.path } });
    areaBoxes.push(box);
    const name = node.name && node.name !== node.path ? node.name : '';
    return h('li', {},
      h('label', { class: 'check' }, box, h('span', {}, name || node.path), name ? h('span', { class: 'muted path' }, node.path) : null),
      node.children.length ? treeList(node.children) : null);
  }));
  const tree = treeList(areaTree(ctx.areas));
  const coverChildren = () => {
    // an area covers everything below it: those boxes are shown as included
    for (const box of areaBoxes) {
      const covered = areaBoxes.some((other) => other !== box && other.checked
        && (other.value === '/' ? box.value !== '/' : box.value.startsWith(other.value + '/')));
      box.disabled = covered;
      box.closest('label').classList.toggle('covered', covered);
    }
  };
  tree.addEventListener('change', coverChildren);

  const tags = h('input', { type: 'text', name: 'tags', testid: 'compose-tags', placeholder: t('compose.tags.placeholder') });
  const screenList = h('div', { class: 'screen-picks', testid: 'target-screens' }, h('p', { class: 'muted' }, t('common.loading')));
  api('GET', '/screens').then((screens) => {
    if (!screens.length) {
      replace(screenList, h('p', { class: 'muted' }, t('compose.screens.none')));
      return;
    }
    replace(screenList, screens.map((sc) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: sc.id, testid: 'target-screen', dataset: { id: sc.id } }),
      h('span', {}, sc.name), h('span', { class: 'muted path' }, sc.area))));
  }).catch((e) => replace(screenList, h('p', { class: 'error' }, describeError(e))));

  const publishAt = h('input', { type: 'datetime-local', name: 'publish_at', testid: 'compose-publish-at' });
  const expiresAt = h('input', { type: 'datetime-local', name: 'expires_at', testid: 'compose-expires-at' });
  const speak = h('input', { type: 'checkbox', name: 'speak', testid: 'compose-speak', checked: true });
  const repeat = h('input', { type: 'number', name: 'repeat', min: 1, max: 5, value: '1', testid: 'compose-repeat' });

  const formError = errorLine('compose-error');
  const done = h('div', { class: 'success', testid: 'compose-done', role: 'status', hidden: true });
  const player = h('audio', { controls: true, testid: 'compose-audio', hidden: true });
  const listenButton = h('button', { type: 'button', testid: 'compose-listen' }, t('compose.listen'));
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'compose-submit' }, t('compose.submit'));

  const form = h('form', { class: 'card compose', novalidate: true, testid: 'compose-form' },
    h('h2', {}, t('compose.heading')),
    formError,
    done,
    h('div', { class: 'grid' },
      field(t('compose.title'), title, { name: 'title', wide: true }),
      field(t('compose.body'), body, { name: 'body', wide: true, hint: count }),
      field(t('compose.priority'), priority, { name: 'priority' }),
      field(t('compose.category'), category, { name: 'category' }),
      field(t('compose.language'), language, { name: 'language' }),
      field(t('compose.repeat'), repeat, { name: 'repeat' }),
      field(t('compose.publish_at'), publishAt, { name: 'publish_at', hint: h('span', { class: 'muted' }, t('compose.publish_at.hint')) }),
      field(t('compose.expires_at'), expiresAt, { name: 'expires_at', hint: h('span', { class: 'muted' }, t('compose.expires_at.hint')) }),
      h('div', { class: 'field' }, h('label', { class: 'check' }, speak, h('span', {}, t('compose.speak'))))),
    h('fieldset', { class: 'target', dataset: { field: 'target' } },
      h('legend', {}, t('compose.target')),
      h('p', { class: 'muted' }, t('compose.target.hint')),
      h('div', { class: 'target-grid' },
        h('div', {}, h('h3', {}, t('compose.target.areas')), tree),
        h('div', {},
          h('h3', {}, t('compose.target.tags')), tags,
          h('h3', {}, t('compose.target.screens')), screenList)),
      h('p', { class: 'field-error', testid: 'error-target', hidden: true })),
    h('div', { class: 'actions' }, listenButton, player, submit));

  const clearErrors = () => {
    showError(formError, null);
    for (const el of form.querySelectorAll('.field-error')) {
      el.hidden = true;
      el.textContent = '';
    }
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  };

  const showFieldErrors = (error) => {
    const general = [];
    for (const item of error.errors || []) {
      const name = Array.isArray(item.loc) && FIELDS.includes(String(item.loc[0])) ? String(item.loc[0]) : null;
      const slot = name && form.querySelector(`[data-testid="error-${name}"]`);
      if (!slot) {
        general.push(item.msg);
        continue;
      }
      slot.textContent = slot.textContent ? `${slot.textContent}; ${item.msg}` : item.msg;
      slot.hidden = false;
      const control = form.querySelector(`[name="${name}"]`);
      if (control) control.setAttribute('aria-invalid', 'true');
    }
    const message = (error.errors || []).length ? t('compose.fix_fields') : error.describe();
    formError.textContent = general.length ? `${message} ${general.join('; ')}` : message;
    formError.hidden = false;
  };

  // any change makes a new draft: a new idempotency key on the next post
  form.addEventListener('input', () => { idempotencyKey = null; });
  form.addEventListener('change', () => { idempotencyKey = null; });

  const payload = () => {
    const target = {
      areas: areaBoxes.filter((b) => b.checked && !b.disabled).map((b) => b.value),
      tags: tags.value.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean),
      screens: [...screenList.querySelectorAll('input:checked')].map((b) => b.value),
    };
    const data = {
      title: title.value.trim(),
      body: body.value.trim(),
      priority: priority.value,
      category: category.value || null,
      language: language.value,
      speak: speak.checked,
      repeat: Number(repeat.value || 1),
      publish_at: localToRfc3339(publishAt.value),
    };
    if (target.areas.length || target.tags.length || target.screens.length) data.target = target;
    const expires = localToRfc3339(expiresAt.value);
    if (expires) data.expires_at = expires;
    return data;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (posting) return;
    posting = true;
    submit.disabled = true;
    clearErrors();
    done.hidden = true;
    if (!idempotencyKey) idempotencyKey = randomKey();
    try {
      const created = await api('POST', '/announcements', { body: payload(), headers: { 'Idempotency-Key': idempotencyKey } });
      idempotencyKey = null;
      form.reset();
      repeat.value = '1';
      speak.checked = true;
      coverChildren();
      updateCount();
      replace(done,
        h('span', { testid: 'compose-done-text' }, t('compose.done', { title: created.title, status: label('annstatus', created.status) })),
        ' ',
        h('a', { href: '#/announcements', testid: 'compose-done-link' }, t('compose.done.link')));
      done.dataset.id = created.id;
      done.hidden = false;
      ctx.notify(t('compose.done.short'));
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) showFieldErrors(e);
      else showError(formError, e);
    } finally {
      posting = false;
      submit.disabled = false;
    }
  });

  listenButton.addEventListener('click', async () => {
    clearErrors();
    const text = [title.value.trim(), body.value.trim()].filter(Boolean).join('。\n');
    if (!text) {
      formError.textContent = t('compose.listen.empty');
      formError.hidden = false;
      return;
    }
    listenButton.disabled = true;
    listenButton.textContent = t('compose.listen.wait');
    try {
      const blob = await api('POST', '/speech/preview', { body: { text, language: language.value }, as: 'blob' });
      if (audioUrl) URL.revokeObjectURL(audioUrl);
      audioUrl = URL.createObjectURL(blob);
      player.src = audioUrl;
      player.hidden = false;
      await player.play().catch(() => {});
    } catch (e) {
      showError(formError, e);
    } finally {
      listenButton.disabled = false;
      listenButton.textContent = t('compose.listen');
    }
  });

  return {
    el: form,
    stop() {
      player.pause();
      if (audioUrl) URL.revokeObjectURL(audioUrl);
    },
  };
}
