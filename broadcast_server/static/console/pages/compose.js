// Compose: write an announcement, see whom it will reach, hear it, post it (once, even on a double click); start
// from a template (模板) or from a copy of an old notice (#/compose/copy/<id>), keep the form as a template.

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, label, t } from '../../shared/i18n.js';
import { Language, Priority } from '../../shared/vocabulary.js';
import { recordingPicker } from '../recorder.js';
import { targetPicker } from '../targetpicker.js';
import {
  describeError, errorLine, field, localToRfc3339, priorityOptions, randomKey, select, showError,
} from '../util.js';

const BODY_MAX = 5000;
const CATEGORIES = ['', 'notice', 'meeting', 'policy', 'weather', 'safety', 'health', 'agriculture', 'event', 'other'];
const FIELDS = ['title', 'body', 'images', 'recording', 'priority', 'category', 'language', 'target', 'publish_at', 'expires_at', 'speak', 'repeat'];
const UNREACHED = 'target_unreached'; // docs/protocol.md §2.9.5
const MAX_IMAGES = 4; // docs/protocol.md §2.9.7: the server refuses a fifth, and so does this page, before uploading
const IMAGE_MAX_BYTES = 10 * 1024 * 1024; // refused here too: a phone need not send 50 MB to hear "too large"
const IMAGE_TYPES = 'image/jpeg,image/png,image/webp';

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

  const pictures = picturePicker(() => { idempotencyKey = null; });

  const priority = select({ name: 'priority', testid: 'compose-priority' }, priorityOptions(), Priority.NORMAL);
  // 演练 (docs/protocol.md §2.9.10): always an emergency, so ticking it sets 紧急 and holds it there until unticked
  const drill = h('input', { type: 'checkbox', name: 'drill', testid: 'compose-drill' });
  let priorityBeforeDrill = Priority.NORMAL;
  const syncDrill = () => {
    if (drill.checked && !priority.disabled) {
      priorityBeforeDrill = priority.value;
      priority.value = Priority.EMERGENCY;
    } else if (!drill.checked && priority.disabled) {
      priority.value = priorityBeforeDrill;
    }
    priority.disabled = drill.checked;
  };
  drill.addEventListener('change', syncDrill);
  const category = select({ name: 'category', testid: 'compose-category' },
    CATEGORIES.map((c) => [c, c ? label('anncat', c) : t('compose.category.none')]), '');
  const language = select({ name: 'language', testid: 'compose-language' },
    Object.values(Language).map((lang) => [lang, t(`lang.${lang}`)]), Language.ZH);

  const targets = targetPicker(ctx);

  const publishAt = h('input', { type: 'datetime-local', name: 'publish_at', testid: 'compose-publish-at' });
  const expiresAt = h('input', { type: 'datetime-local', name: 'expires_at', testid: 'compose-expires-at' });
  const speak = h('input', { type: 'checkbox', name: 'speak', testid: 'compose-speak', checked: true });
  const repeat = h('input', { type: 'number', name: 'repeat', min: 1, max: 5, value: '1', testid: 'compose-repeat' });
  speak.defaultChecked = true; // what a form reset returns to
  repeat.defaultValue = '1';

  const formError = errorLine('compose-error');
  const done = h('div', { class: 'success', testid: 'compose-done', role: 'status', hidden: true });
  const player = h('audio', { controls: true, testid: 'compose-audio', hidden: true });
  const listenButton = h('button', { type: 'button', testid: 'compose-listen' }, t('compose.listen'));
  const spokenLine = h('p', { class: 'spoken', testid: 'compose-spoken', role: 'status', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'compose-submit' }, t('compose.submit'));
  const hidePreview = () => {
    player.pause();
    player.hidden = true;
    spokenLine.hidden = true;
  };

  const recorder = recordingPicker({
    speak,
    changed: () => {
      idempotencyKey = null;
      hidePreview(); // what the loudspeakers will do has changed: an earlier 试听 no longer says it
    },
  });

  // 从模板开始 / 存为模板 / 删除模板
  let templates = [];
  const templatePick = h('select', { id: 'template-pick', testid: 'template-select' });
  const templateDelete = h('button', { type: 'button', class: 'danger small', testid: 'template-delete', hidden: true },
    t('template.delete'));
  const templateBar = h('div', { class: 'template-bar', testid: 'template-bar' },
    h('label', { for: 'template-pick', class: 'label' }, t('template.start')), templatePick, templateDelete);
  const templateSave = h('button', { type: 'button', testid: 'template-save' }, t('template.save'));
  const templateName = h('input', { type: 'text', id: 'template-name', maxlength: 40, testid: 'template-name' });
  const templateError = errorLine('template-error');
  const templateSaver = h('div', { class: 'template-saver', testid: 'template-saver', hidden: true },
    h('label', { for: 'template-name', class: 'label' }, t('template.name')),
    h('div', { class: 'row' }, templateName,
      h('button', { type: 'button', testid: 'template-saver-cancel', onclick: () => { templateSaver.hidden = true; } },
        t('template.cancel')),
      h('button', { type: 'button', class: 'primary', testid: 'template-saver-save' }, t('template.saver.save'))),
    templateError);
  const copied = h('p', { class: 'muted', testid: 'compose-copied', role: 'status', hidden: true });

  const form = h('form', { class: 'card compose', novalidate: true, testid: 'compose-form' },
    h('h2', {}, t('compose.heading')),
    templateBar,
    copied,
    formError,
    done,
    h('div', { class: 'grid' },
      field(t('compose.title'), title, { name: 'title', wide: true }),
      field(t('compose.body'), body, { name: 'body', wide: true, hint: count }),
      pictures.el,
      recorder.el,
      field(t('compose.priority'), priority, { name: 'priority' }),
      h('div', { class: 'field' }, h('label', { class: 'check' }, drill, h('span', {}, t('compose.drill'))),
        h('span', { class: 'muted small' }, t('compose.drill.hint'))),
      field(t('compose.category'), category, { name: 'category' }),
      field(t('compose.language'), language, { name: 'language' }),
      field(t('compose.repeat'), repeat, { name: 'repeat' }),
      field(t('compose.publish_at'), publishAt, { name: 'publish_at', hint: h('span', { class: 'muted' }, t('compose.publish_at.hint')) }),
      field(t('compose.expires_at'), expiresAt, { name: 'expires_at', hint: h('span', { class: 'muted' }, t('compose.expires_at.hint')) }),
      h('div', { class: 'field' }, h('label', { class: 'check' }, speak, h('span', {}, t('compose.speak'))))),
    targets.el,
    templateSaver,
    h('div', { class: 'actions' }, listenButton, player, templateSave, submit),
    spokenLine);

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
      const worded = t(`error.code.${item.type}`); // a code the console words, in the page's language
      const msg = item.type === UNREACHED ? t('compose.reach.none') : (worded !== `error.code.${item.type}` ? worded : item.msg);
      if (!slot) {
        general.push(msg);
        continue;
      }
      slot.textContent = slot.textContent ? `${slot.textContent}; ${msg}` : msg;
      slot.hidden = false;
      const control = form.querySelector(`[name="${name}"]`);
      if (control) control.setAttribute('aria-invalid', 'true');
    }
    const errors = error.errors || [];
    const unreachedOnly = errors.length && errors.every((item) => item.type === UNREACHED);
    const message = unreachedOnly ? t('compose.reach.refused') : (errors.length ? t('compose.fix_fields') : error.describe());
    formError.textContent = general.length ? `${message} ${general.join('; ')}` : message;
    formError.hidden = false;
  };

  // any change makes a new draft: a new idempotency key on the next post
  form.addEventListener('input', () => { idempotencyKey = null; });
  form.addEventListener('change', () => { idempotencyKey = null; });

  /**
   * The form filled from a template or an old notice: its text, settings, pictures and target (boxes the clerk
   * cannot pick, such as a county's areas, stay unticked: the post then goes to the clerk's own area). The times
   * are left as they are, and a post resets the form to its defaults as ever (优先级 普通).
   */
  const fill = async (notice) => {
    clearErrors();
    done.hidden = true;
    title.value = notice.title;
    body.value = notice.body;
    priority.disabled = false;
    priority.value = notice.priority;
    drill.checked = !!notice.drill; // a copied drill is a drill again; a template is never one
    syncDrill();
    category.value = CATEGORIES.includes(notice.category || '') ? (notice.category || '') : '';
    language.value = notice.language;
    speak.checked = notice.speak;
    repeat.value = String(notice.repeat);
    pictures.set(notice.images || []);
    recorder.set(notice.recording || null);
    updateCount();
    idempotencyKey = null;
    await targets.set(notice.target);
  };

  const chosenTemplate = () => templates.find((tpl) => tpl.id === templatePick.value) || null;
  const showTemplateActions = () => {
    const chosen = chosenTemplate();
    templateDelete.hidden = !(chosen && chosen.editable);
  };
  const loadTemplates = async (selected = '') => {
    templates = await api('GET', '/templates');
    replace(templatePick,
      h('option', { value: '' }, t(templates.length ? 'template.none_chosen' : 'template.none_yet')),
      templates.map((tpl) => h('option', { value: tpl.id }, tpl.editable ? tpl.name : t('template.from_above', { name: tpl.name }))));
    templatePick.value = selected;
    templatePick.disabled = !templates.length;
    showTemplateActions();
  };
  loadTemplates().catch((e) => showError(formError, e));
  templatePick.addEventListener('change', () => {
    showTemplateActions();
    const chosen = chosenTemplate();
    if (chosen) fill(chosen);
  });

  templateDelete.addEventListener('click', async () => {
    const chosen = chosenTemplate();
    if (!chosen || !(await ctx.confirm(t('template.delete.confirm', { name: chosen.name }), { yes: t('template.delete.yes') }))) return;
    try {
      await api('DELETE', `/templates/${encodeURIComponent(chosen.id)}`);
      ctx.notify(t('template.deleted', { name: chosen.name }));
      await loadTemplates();
    } catch (e) {
      ctx.notify(describeError(e), 'bad');
    }
  });

  templateSave.addEventListener('click', () => {
    const chosen = chosenTemplate();
    templateName.value = chosen && chosen.editable ? chosen.name : title.value.trim().slice(0, 40);
    showError(templateError, null);
    templateSaver.hidden = false;
    templateName.focus();
  });

  /** Keep the form as a template: a new one, or (after asking) the one of the clerk's scope with that name. */
  const saveTemplate = async () => {
    clearErrors();
    showError(templateError, null);
    if (pictures.uploading()) {
      showError(templateError, t('compose.images.wait'));
      return;
    }
    const name = templateName.value.trim();
    const notice = payload(); // a template has no times
    delete notice.publish_at;
    delete notice.expires_at;
    const same = templates.find((tpl) => tpl.editable && tpl.name === name);
    if (same && !(await ctx.confirm(t('template.replace.confirm', { name }), { yes: t('template.replace.yes'), danger: false }))) return;
    try {
      const saved = same
        ? await api('PATCH', `/templates/${encodeURIComponent(same.id)}`, { body: { ...notice, name, target: notice.target || null, images: notice.images || [] } })
        : await api('POST', '/templates', { body: { ...notice, name } });
      templateSaver.hidden = true;
      ctx.notify(t('template.saved', { name: saved.name }));
      await loadTemplates(saved.id);
    } catch (e) {
      showError(templateError, e);
      if (e instanceof ApiError && e.status === 422 && (e.errors || []).some((item) => FIELDS.includes(String(item.loc && item.loc[0])))) {
        showFieldErrors(e);
      }
    }
  };
  templateSaver.querySelector('[data-testid="template-saver-save"]').addEventListener('click', saveTemplate);
  templateName.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault(); // not the form's submit: that would post the notice
      saveTemplate();
    }
  });

  // 复制 on the announcements page: #/compose/copy/<id> fills the form from that notice, once
  if (ctx.params[0] === 'copy' && ctx.params[1]) {
    history.replaceState(null, '', '#/compose');
    api('GET', `/announcements/${encodeURIComponent(ctx.params[1])}`).then(async (old) => {
      await fill(old);
      copied.textContent = t('compose.copied', { title: old.title });
      copied.hidden = false;
    }).catch((e) => showError(formError, e));
  }

  const payload = () => {
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
    if (drill.checked) data.drill = true;
    const target = targets.target();
    if (target) data.target = target;
    if (pictures.urls().length) data.images = pictures.urls();
    if (recorder.url()) data.recording = recorder.url();
    const expires = localToRfc3339(expiresAt.value);
    if (expires) data.expires_at = expires;
    return data;
  };

  /** An emergency turns every reached screen red and cuts into the loudspeakers: say so and ask first (a drill too,
   * saying that it is one). */
  const confirmEmergency = (data, counts) => {
    const kind = data.drill ? 'compose.drill' : 'compose.emergency';
    return ctx.confirm(
      t(data.publish_at ? `${kind}.confirm.scheduled` : `${kind}.confirm`,
        { title: data.title, time: formatTime(data.publish_at), ...counts }),
      { yes: t(`${kind}.yes`) });
  };

  const showDone = (created, counts) => {
    const scheduled = created.status === 'scheduled';
    const text = scheduled
      ? t('compose.done.scheduled', { title: created.title, time: formatTime(created.publish_at) })
      : t('compose.done', { title: created.title, ...counts });
    replace(done,
      h('span', { testid: 'compose-done-text' }, text),
      ' ',
      h('a', { href: '#/announcements', testid: 'compose-done-link' }, t('compose.done.link')));
    done.dataset.id = created.id;
    done.dataset.status = created.status;
    done.hidden = false;
    ctx.notify(t(scheduled ? 'compose.done.short.scheduled' : 'compose.done.short'));
  };

  const resetForm = () => {
    form.reset(); // every select returns to its default (priority: normal), not to its first option
    priority.disabled = false; // 演练 is unticked again
    pictures.clear();
    recorder.set(null);
    copied.hidden = true;
    templateSaver.hidden = true;
    showTemplateActions();
    updateCount();
    targets.reset();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (posting) return;
    posting = true;
    submit.disabled = true;
    clearErrors();
    done.hidden = true;
    try {
      if (pictures.uploading() || recorder.busy()) {
        formError.textContent = t(pictures.uploading() ? 'compose.images.wait' : 'recording.wait');
        formError.hidden = false;
        return;
      }
      const data = payload();
      const counts = targets.reach() || await targets.askReach();
      if (!counts) {
        formError.textContent = t('compose.reach.unknown');
        formError.hidden = false;
        return;
      }
      // a target reaching nothing is the server's to refuse (require_reach), after it has checked the other fields
      const reachesSome = counts.screens + counts.speakers > 0;
      if (data.priority === Priority.EMERGENCY && reachesSome && !(await confirmEmergency(data, counts))) return;
      if (!idempotencyKey) idempotencyKey = randomKey();
      const created = await api('POST', '/announcements', {
        body: data, query: { require_reach: 'true' }, headers: { 'Idempotency-Key': idempotencyKey },
      });
      idempotencyKey = null;
      resetForm();
      showDone(created, counts);
      // an emergency (a drill too) on air now: its 回传 page, to watch which devices play it and which do not
      if (created.priority === Priority.EMERGENCY && created.status === 'live') ctx.navigate(`#/deliveries/${encodeURIComponent(created.id)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) showFieldErrors(e);
      else showError(formError, e);
    } finally {
      posting = false;
      submit.disabled = false;
    }
  });

  /** Play this in the form's player; an object URL of an earlier clip is let go. */
  const play = async (src) => {
    if (audioUrl && audioUrl !== src) URL.revokeObjectURL(audioUrl);
    audioUrl = src.startsWith('blob:') ? src : null;
    player.src = src;
    player.hidden = false;
    await player.play().catch(() => {});
  };

  listenButton.addEventListener('click', async () => {
    clearErrors();
    if (recorder.busy()) {
      formError.textContent = t('recording.wait');
      formError.hidden = false;
      return;
    }
    // with a recording attached the loudspeakers play it, not the text: that is what the clerk hears here
    if (recorder.url()) {
      spokenLine.textContent = t('compose.spoken.recording');
      spokenLine.hidden = false;
      await play(recorder.url());
      return;
    }
    const text = [title.value.trim(), body.value.trim()].filter(Boolean).join('。\n');
    if (!text) {
      formError.textContent = t('compose.listen.empty');
      formError.hidden = false;
      return;
    }
    listenButton.disabled = true;
    listenButton.textContent = t('compose.listen.wait');
    // the words the loudspeaker will say (numbers read out) beside the clip; the words come even where speech is off
    const [words, clip] = await Promise.allSettled([
      api('POST', '/speech/preview', { body: { text, language: language.value, drill: drill.checked, format: 'text' } }),
      api('POST', '/speech/preview', { body: { text, language: language.value, drill: drill.checked }, as: 'blob' }),
    ]);
    try {
      spokenLine.hidden = words.status !== 'fulfilled';
      if (words.status === 'fulfilled') spokenLine.textContent = t('compose.spoken', { text: words.value.spoken });
      if (clip.status === 'rejected') throw clip.reason;
      await play(URL.createObjectURL(clip.value));
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
      targets.stop();
      recorder.stop();
      player.pause();
      if (audioUrl) URL.revokeObjectURL(audioUrl);
    },
  };
}

/**
 * 添加图片: each chosen picture is uploaded at once (POST /media) and shown as a thumbnail with 移除; at most
 * MAX_IMAGES. `changed` is told of every change (a new draft). The post sends `urls()` as `images`.
 */
function picturePicker(changed) {
  let items = []; // {url, width, height} in the order chosen, or {pending: true, name} while uploading
  const error = h('p', { class: 'field-error', testid: 'error-images', role: 'alert', hidden: true });
  const thumbs = h('ul', { class: 'thumbs', testid: 'compose-images' });
  const input = h('input', { type: 'file', accept: IMAGE_TYPES, multiple: true, class: 'file-input', testid: 'compose-images-input' });
  const add = h('label', { class: 'file-button', testid: 'compose-images-add' }, input, h('span', {}, t('compose.images.add')));

  const say = (messages) => {
    error.textContent = messages.join(' ');
    error.hidden = !messages.length;
  };
  const draw = () => {
    const done = items.filter((item) => !item.pending);
    replace(thumbs, items.map((item, index) => (item.pending
      ? h('li', { class: 'thumb pending', testid: 'compose-image-pending' }, h('span', { class: 'muted small' }, t('compose.images.uploading')))
      : h('li', { class: 'thumb', testid: 'compose-image', dataset: { url: item.url } },
        h('img', { src: item.url, alt: t('compose.images.alt', { n: done.indexOf(item) + 1, count: done.length }) }),
        h('button', { type: 'button', class: 'small danger', testid: 'compose-image-remove', onclick: () => remove(index) },
          t('compose.images.remove'))))));
    add.classList.toggle('disabled', items.length >= MAX_IMAGES);
    input.disabled = items.length >= MAX_IMAGES;
  };
  const remove = (index) => {
    items.splice(index, 1);
    say([]);
    draw();
    changed();
  };
  const upload = async (file, slot) => {
    const form = new FormData();
    form.append('file', file, file.name);
    try {
      const stored = await api('POST', '/media', { form });
      if (stored.kind !== 'image') throw new Error(t('error.code.image_not_picture')); // a recording: 录音 takes those
      Object.assign(slot, stored, { pending: false });
      return null;
    } catch (e) {
      items = items.filter((item) => item !== slot);
      return t('compose.images.failed', { name: file.name, error: describeError(e) });
    } finally {
      draw();
    }
  };

  input.addEventListener('change', async () => {
    const files = [...input.files];
    input.value = ''; // the same file may be chosen again after 移除
    const problems = [];
    const uploads = [];
    for (const file of files) {
      if (items.length >= MAX_IMAGES) {
        problems.push(t('error.code.images_too_many'));
        break;
      }
      if (file.size > IMAGE_MAX_BYTES) {
        problems.push(t('compose.images.failed', { name: file.name, error: t('error.code.image_too_large') }));
        continue;
      }
      const slot = { pending: true };
      items.push(slot);
      uploads.push(upload(file, slot));
    }
    draw();
    say(problems);
    problems.push(...(await Promise.all(uploads)).filter(Boolean));
    say(problems);
    changed();
  });

  const el = h('div', { class: 'field wide pictures', dataset: { field: 'images' } },
    h('span', { class: 'label' }, t('compose.images')),
    thumbs,
    h('div', { class: 'pictures-add' }, add, h('span', { class: 'muted small' }, t('compose.images.hint', { max: MAX_IMAGES }))),
    error);
  return {
    el,
    urls: () => items.filter((item) => !item.pending).map((item) => item.url),
    uploading: () => items.some((item) => item.pending),
    /** Show these pictures ({url, width, height}, as the server answers them) instead of the chosen ones. */
    set(pictures) {
      items = pictures.slice(0, MAX_IMAGES).map(({ url, width, height }) => ({ url, width, height }));
      say([]);
      draw();
    },
    clear() {
      this.set([]);
    },
  };
}
