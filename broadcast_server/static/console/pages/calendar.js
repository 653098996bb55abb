// Timed broadcasts (定时广播): a form to make one (what it says, a recording played instead of the text, how urgent,
// whether it is spoken, whom it reaches, and repeat: every day / weekdays / a weekday / given dates), the coming 14
// days with each broadcast's time, and pause, resume, edit and stop for each schedule.

import { api } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatDate, formatTime, t } from '../../shared/i18n.js';
import { Priority } from '../../shared/vocabulary.js';
import { recordingPicker } from '../recorder.js';
import { targetPicker } from '../targetpicker.js';
import { errorLine, field, priorityOptions, select, showError } from '../util.js';

const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const REPEATS = ['daily', 'weekdays', 'weekly', 'dates'];
const WORKDAYS = 'MO,TU,WE,TH,FR';

/** Today's date where the clerk is (toISOString would give the UTC date, a day off before 08:00 in China). */
function localToday() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
}

/** An RRULE's parts: {FREQ: 'DAILY', BYHOUR: '6', ...}. */
function ruleParts(rrule) {
  return Object.fromEntries((rrule || '').split(';').filter(Boolean).map((part) => part.split('=')));
}

/**
 * The rule fields of a schedule from the form's choices (docs/protocol.md §2.9.6): a repeat carries its time in
 * the rule (FREQ=DAILY;BYHOUR=6;BYMINUTE=30, as PROTOCOL.md's example) from the start date; dates take the time
 * from `dtstart`.
 */
function when({ repeat, weekday, time, startDate, until, dates }) {
  const until_ = until || null;
  if (repeat === 'dates') {
    const list = dates.split(/[\s,，、]+/).filter(Boolean);
    const first = list.length ? [...list].sort()[0] : startDate;
    return { rrule: null, dates: list, dtstart: `${first}T${time}`, until: until_ };
  }
  const days = { daily: '', weekdays: `;BYDAY=${WORKDAYS}`, weekly: `;BYDAY=${weekday}` }[repeat];
  const [hour, minute] = time.split(':').map(Number);
  const freq = repeat === 'daily' ? 'DAILY' : 'WEEKLY';
  return { rrule: `FREQ=${freq}${days};BYHOUR=${hour};BYMINUTE=${minute}`, dates: [], dtstart: startDate, until: until_ };
}

function repeatOf(schedule) {
  if (schedule.dates.length) return 'dates';
  const byday = ruleParts(schedule.rrule).BYDAY;
  if (!byday) return 'daily';
  return byday === WORKDAYS ? 'weekdays' : 'weekly';
}

/** "06:30": from the rule's BYHOUR/BYMINUTE when it has them, else from `dtstart`. */
function timeOf(schedule) {
  const parts = ruleParts(schedule.rrule);
  if (parts.BYHOUR === undefined) return schedule.dtstart.slice(11, 16);
  const pad = (n) => String(Number(n) || 0).padStart(2, '0');
  return `${pad(parts.BYHOUR)}:${pad(parts.BYMINUTE)}`;
}

export function render(ctx) {
  let stopped = false;
  let editing = null;
  const title = h('input', { type: 'text', name: 'title', maxlength: 200, required: true, testid: 'schedule-title' });
  const body = h('textarea', { name: 'body', rows: 3, maxlength: 5000, required: true, testid: 'schedule-body' });
  const priority = select({ name: 'priority', testid: 'schedule-priority' }, priorityOptions(), Priority.NORMAL);
  const speak = h('input', { type: 'checkbox', name: 'speak', testid: 'schedule-speak', checked: true });
  speak.defaultChecked = true; // what a form reset returns to
  const recorder = recordingPicker({ speak }); // every occurrence plays it instead of reading the text
  const targets = targetPicker(ctx);
  const repeat = select({ name: 'repeat', testid: 'schedule-repeat' }, REPEATS.map((r) => [r, t(`calendar.repeat.${r}`)]), 'daily');
  const weekday = select({ name: 'weekday', testid: 'schedule-weekday' }, WEEKDAYS.map((d) => [d, t(`calendar.weekday.${d}`)]), 'MO');
  const time = h('input', { type: 'time', name: 'time', value: '06:30', required: true, testid: 'schedule-time' });
  const startDate = h('input', { type: 'date', name: 'start', value: localToday(), testid: 'schedule-start' });
  const until = h('input', { type: 'date', name: 'until', testid: 'schedule-until' });
  const dates = h('input', { type: 'text', name: 'dates', placeholder: t('calendar.dates_hint'), testid: 'schedule-dates' });
  const weekdayField = field(t('calendar.weekday_label'), weekday);
  const datesField = field(t('calendar.dates_label'), dates, { wide: true });
  const startField = field(t('calendar.start_label'), startDate);
  const error = errorLine('schedule-error');
  const heading = h('h2', { testid: 'schedule-form-heading' }, t('calendar.new'));
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'schedule-save' }, t('calendar.save'));
  const cancelEdit = h('button', { type: 'button', testid: 'schedule-cancel-edit', hidden: true, onclick: () => clearForm() },
    t('calendar.cancel_edit'));
  const days = h('div', { class: 'calendar-days', testid: 'calendar-days' }, h('p', { class: 'muted' }, t('common.loading')));
  const list = h('div', { class: 'schedule-list', testid: 'schedule-list' });

  function showChoices() {
    weekdayField.hidden = repeat.value !== 'weekly';
    datesField.hidden = repeat.value !== 'dates';
    startField.hidden = repeat.value === 'dates';
  }
  repeat.addEventListener('change', showChoices);

  function clearForm() {
    editing = null;
    form.reset();
    time.value = '06:30';
    startDate.value = localToday();
    targets.reset();
    recorder.set(null);
    heading.textContent = t('calendar.new');
    submit.textContent = t('calendar.save');
    cancelEdit.hidden = true;
    showError(error, null);
    showChoices();
  }

  function edit(schedule) {
    editing = schedule;
    title.value = schedule.title;
    body.value = schedule.body;
    priority.value = schedule.priority;
    speak.checked = schedule.speak;
    recorder.set(schedule.recording || null);
    targets.set(schedule.target);
    repeat.value = repeatOf(schedule);
    if (repeat.value === 'weekly') weekday.value = ruleParts(schedule.rrule).BYDAY || 'MO';
    time.value = timeOf(schedule);
    startDate.value = schedule.dtstart.slice(0, 10);
    until.value = schedule.until || '';
    dates.value = schedule.dates.join(' ');
    heading.textContent = t('calendar.editing', { title: schedule.title });
    submit.textContent = t('calendar.save_changes');
    cancelEdit.hidden = false;
    showChoices();
    form.scrollIntoView({ block: 'start' });
    title.focus();
  }

  async function save(event) {
    event.preventDefault();
    showError(error, null);
    if (recorder.busy()) {
      showError(error, t('recording.wait'));
      return;
    }
    const rule = when({ repeat: repeat.value, weekday: weekday.value, time: time.value, startDate: startDate.value,
      until: until.value, dates: dates.value });
    // recording null: none (in an edit, the text is spoken again)
    const notice = { title: title.value, body: body.value, priority: priority.value, speak: speak.checked,
      recording: recorder.url(), ...rule };
    if (notice.priority === Priority.EMERGENCY) { // every time it fires, every screen it reaches turns red: ask first
      const counts = targets.reach() || await targets.askReach() || { screens: '?', speakers: '?' };
      const ask = t('calendar.emergency.confirm', { title: notice.title, ...counts });
      if (!(await ctx.confirm(ask, { yes: t('calendar.emergency.yes') }))) return;
    }
    try {
      if (editing) {
        await api('PATCH', `/schedules/${editing.id}`, { body: { ...notice, target: targets.target() || {} } });
      } else {
        await api('POST', '/schedules', { body: { ...notice, target: targets.target() } });
      }
      clearForm();
      await load();
    } catch (e) {
      showError(error, e);
    }
  }

  async function act(method, path, payload) {
    try {
      await api(method, path, payload ? { body: payload } : {});
      await load();
    } catch (e) {
      showError(error, e);
    }
  }

  async function stopForGood(schedule) {
    if (await ctx.confirm(t('calendar.stop_confirm', { title: schedule.title }), { yes: t('calendar.stop_yes') })) {
      await act('DELETE', `/schedules/${schedule.id}`);
    }
  }

  function scheduleRow(s) {
    const open = s.status === 'active' || s.status === 'paused';
    const next = s.status === 'active' && s.next_at ? ` · ${t('calendar.next', { time: formatTime(s.next_at) })}` : '';
    const recorded = s.recording ? ` · ${t('calendar.plays_recording')}` : '';
    return h('div', { class: `schedule-row ${s.status}`, testid: 'schedule-row', dataset: { id: s.id, status: s.status } },
      h('div', { class: 'schedule-text' },
        h('strong', { testid: 'schedule-row-title' }, s.title),
        h('span', { class: 'muted', testid: 'schedule-row-when' },
          `${t(`calendar.repeat.${repeatOf(s)}`)} ${timeOf(s)} · ${t(`calendar.status.${s.status}`)}${next}${recorded}`)),
      open ? h('div', { class: 'actions' },
        s.paused
          ? h('button', { type: 'button', testid: 'schedule-resume', onclick: () => act('PATCH', `/schedules/${s.id}`, { paused: false }) },
            t('calendar.resume'))
          : h('button', { type: 'button', testid: 'schedule-pause', onclick: () => act('PATCH', `/schedules/${s.id}`, { paused: true }) },
            t('calendar.pause')),
        h('button', { type: 'button', testid: 'schedule-edit', onclick: () => edit(s) }, t('calendar.edit')),
        h('button', { type: 'button', class: 'danger', testid: 'schedule-stop', onclick: () => stopForGood(s) }, t('calendar.stop')))
        : null);
  }

  async function load() {
    const [upcoming, schedules] = await Promise.all([api('GET', '/schedules/upcoming', { query: { days: 14 } }), api('GET', '/schedules')]);
    if (stopped) return;
    replace(days, upcoming.map((day) => h('div', { class: 'calendar-day', testid: 'calendar-day', dataset: { day: day.day } },
      h('h3', {}, formatDate(`${day.day}T12:00:00`)),
      day.occurrences.length
        ? h('ul', {}, day.occurrences.map((o) => h('li', { class: o.status, testid: 'calendar-occurrence', dataset: { schedule: o.schedule_id } },
          h('span', { class: 'calendar-time' }, o.time), ` ${o.title}`,
          o.status === 'paused' ? h('span', { class: 'muted' }, ` (${t('calendar.status.paused')})`) : null)))
        : h('p', { class: 'muted' }, t('calendar.nothing')))));
    replace(list, schedules.length ? schedules.map(scheduleRow) : h('p', { class: 'muted' }, t('calendar.no_schedules')));
  }

  const form = h('form', { class: 'card schedule-form', testid: 'schedule-form', onsubmit: save },
    heading,
    field(t('calendar.title_label'), title, { wide: true }),
    field(t('calendar.body_label'), body, { wide: true }),
    recorder.el,
    field(t('compose.priority'), priority),
    h('div', { class: 'field' }, h('label', { class: 'check' }, speak, h('span', {}, t('compose.speak')))),
    field(t('calendar.repeat_label'), repeat), weekdayField, field(t('calendar.time_label'), time), startField,
    datesField, field(t('calendar.until_label'), until),
    targets.el,
    error, h('div', { class: 'actions' }, cancelEdit, submit));
  showChoices();
  load().catch((e) => showError(error, e));

  const el = h('section', { class: 'calendar', testid: 'page-calendar' },
    form,
    h('div', { class: 'card' }, h('h2', {}, t('calendar.coming')), days),
    h('div', { class: 'card' }, h('h2', {}, t('calendar.schedules')), list));
  return { el, stop() { stopped = true; targets.stop(); recorder.stop(); } };
}
