// Timed broadcasts (定时广播): a form to make one (repeat: every day / weekdays / a weekday / given dates),
// the coming 14 days with each broadcast's time, and pause, resume, edit and stop for each schedule.

import { api } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatDate, t } from '../../shared/i18n.js';
import { errorLine, field, select, showError } from '../util.js';

const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const REPEATS = ['daily', 'weekdays', 'weekly', 'dates'];

/** The `when` of a schedule from the form's choices (docs/protocol.md §2.9.6). */
function when({ repeat, weekday, time, startDate, until, dates }) {
  const rules = { daily: 'FREQ=DAILY', weekdays: 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR', weekly: `FREQ=WEEKLY;BYDAY=${weekday}` };
  const list = repeat === 'dates' ? dates.split(/[\s,，、]+/).filter(Boolean) : [];
  const first = list.length ? [...list].sort()[0] : startDate;
  return { rule: rules[repeat] || null, dates: list, start: `${first}T${time}`, until: until || null };
}

function repeatOf(schedule) {
  if (schedule.dates.length) return 'dates';
  if (schedule.rule === 'FREQ=DAILY') return 'daily';
  if (schedule.rule === 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR') return 'weekdays';
  return 'weekly';
}

export function render() {
  let stopped = false;
  let editing = null;
  const today = new Date().toISOString().slice(0, 10);
  const title = h('input', { name: 'title', maxlength: 200, required: true, testid: 'schedule-title' });
  const body = h('textarea', { name: 'body', rows: 3, maxlength: 5000, required: true, testid: 'schedule-body' });
  const repeat = select({ name: 'repeat', testid: 'schedule-repeat' }, REPEATS.map((r) => [r, t(`calendar.repeat.${r}`)]), 'daily');
  const weekday = select({ name: 'weekday', testid: 'schedule-weekday' }, WEEKDAYS.map((d) => [d, t(`calendar.weekday.${d}`)]), 'MO');
  const time = h('input', { type: 'time', name: 'time', value: '06:30', required: true, testid: 'schedule-time' });
  const startDate = h('input', { type: 'date', name: 'start', value: today, testid: 'schedule-start' });
  const until = h('input', { type: 'date', name: 'until', testid: 'schedule-until' });
  const dates = h('input', { name: 'dates', placeholder: t('calendar.dates_hint'), testid: 'schedule-dates' });
  const weekdayField = field(t('calendar.weekday_label'), weekday);
  const datesField = field(t('calendar.dates_label'), dates, { wide: true });
  const startField = field(t('calendar.start_label'), startDate);
  const error = errorLine('schedule-error');
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'schedule-save' }, t('calendar.save'));
  const days = h('div', { class: 'calendar-days', testid: 'calendar-days' }, h('p', { class: 'muted' }, t('common.loading')));
  const list = h('div', { class: 'schedule-list', testid: 'schedule-list' });

  function showChoices() {
    weekdayField.hidden = repeat.value !== 'weekly';
    datesField.hidden = repeat.value !== 'dates';
    startField.hidden = repeat.value === 'dates';
  }
  repeat.addEventListener('change', showChoices);

  function edit(schedule) {
    editing = schedule;
    title.value = schedule.title;
    body.value = schedule.body;
    repeat.value = repeatOf(schedule);
    if (repeat.value === 'weekly') weekday.value = schedule.rule.split('BYDAY=')[1] || 'MO';
    time.value = schedule.start.slice(11, 16);
    startDate.value = schedule.start.slice(0, 10);
    until.value = schedule.until || '';
    dates.value = schedule.dates.join(' ');
    submit.textContent = t('calendar.save_changes');
    showChoices();
    title.focus();
  }

  async function save(event) {
    event.preventDefault();
    error.hidden = true;
    const rule = when({ repeat: repeat.value, weekday: weekday.value, time: time.value, startDate: startDate.value,
      until: until.value, dates: dates.value });
    try {
      if (editing) {
        await api('PATCH', `/schedules/${editing.id}`, { title: title.value, body: body.value, when: rule });
      } else {
        await api('POST', '/schedules', { title: title.value, body: body.value, ...rule });
      }
      editing = null;
      form.reset();
      submit.textContent = t('calendar.save');
      showChoices();
      await load();
    } catch (e) {
      showError(error, e);
    }
  }

  async function act(schedule, method, path, payload) {
    try {
      await api(method, path, payload);
      await load();
    } catch (e) {
      showError(error, e);
    }
  }

  function scheduleRow(s) {
    const open = s.status === 'active' || s.status === 'paused';
    return h('div', { class: `schedule-row ${s.status}`, testid: 'schedule-row', dataset: { id: s.id, status: s.status } },
      h('div', { class: 'schedule-text' },
        h('strong', {}, s.title),
        h('span', { class: 'muted' }, ` ${t(`calendar.repeat.${repeatOf(s)}`)} ${s.start.slice(11, 16)} · ${t(`calendar.status.${s.status}`)}`)),
      open ? h('div', { class: 'actions' },
        s.status === 'active'
          ? h('button', { type: 'button', testid: 'schedule-pause', onclick: () => act(s, 'PATCH', `/schedules/${s.id}`, { status: 'paused' }) },
            t('calendar.pause'))
          : h('button', { type: 'button', testid: 'schedule-resume', onclick: () => act(s, 'PATCH', `/schedules/${s.id}`, { status: 'active' }) },
            t('calendar.resume')),
        h('button', { type: 'button', testid: 'schedule-edit', onclick: () => edit(s) }, t('calendar.edit')),
        h('button', { type: 'button', class: 'danger', testid: 'schedule-stop', onclick: () => {
          if (window.confirm(t('calendar.stop_confirm', { title: s.title }))) act(s, 'POST', `/schedules/${s.id}/stop`);
        } }, t('calendar.stop'))) : null);
  }

  async function load() {
    const [calendar, schedules] = await Promise.all([api('GET', '/schedules/calendar?days=14'), api('GET', '/schedules')]);
    if (stopped) return;
    replace(days, calendar.map((day) => h('div', { class: 'calendar-day', testid: 'calendar-day', dataset: { day: day.day } },
      h('h3', {}, formatDate(`${day.day}T12:00:00`)),
      day.occurrences.length
        ? h('ul', {}, day.occurrences.map((o) => h('li', { class: o.status, testid: 'calendar-occurrence' },
          h('span', { class: 'calendar-time' }, o.time), ` ${o.title}`,
          o.status === 'paused' ? h('span', { class: 'muted' }, ` (${t('calendar.status.paused')})`) : null)))
        : h('p', { class: 'muted' }, t('calendar.nothing')))));
    replace(list, schedules.length ? schedules.map(scheduleRow) : h('p', { class: 'muted' }, t('calendar.no_schedules')));
  }

  const form = h('form', { class: 'card schedule-form', testid: 'schedule-form', onsubmit: save },
    h('h2', {}, t('calendar.new')),
    field(t('calendar.title_label'), title, { wide: true }),
    field(t('calendar.body_label'), body, { wide: true }),
    field(t('calendar.repeat_label'), repeat), weekdayField, field(t('calendar.time_label'), time), startField,
    datesField, field(t('calendar.until_label'), until),
    error, h('div', { class: 'actions' }, submit));
  showChoices();
  load().catch((e) => showError(error, e));

  const el = h('section', { class: 'calendar', testid: 'page-calendar' },
    form,
    h('div', { class: 'card' }, h('h2', {}, t('calendar.coming')), days),
    h('div', { class: 'card' }, h('h2', {}, t('calendar.schedules')), list));
  return { el, stop() { stopped = true; } };
}
