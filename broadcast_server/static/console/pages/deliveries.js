// 回传 (#/deliveries/<id>): which loudspeakers and screens have played one announcement and which have not, so that
// someone goes to those that have not. The figures in plain words first, then every device, those not played first
// (in red); refreshed every few seconds while the announcement is on, and downloadable as the spreadsheet the county
// asks for (docs/protocol.md §2.12.1).

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatNumber, formatTime, getLang, label, t } from '../../shared/i18n.js';
import { AnnouncementStatus, ScreenKind } from '../../shared/vocabulary.js';
import { deliveriesOpened } from '../emergencies.js';
import { ago, cell, download, errorLine, showError } from '../util.js';

const REFRESH_MS = 3000;
const PAGE_SIZE = 200; // devices drawn at first; 显示更多 draws more (the spreadsheet always holds them all)
// what the page says while it refreshes, by status; any other status has ended, and the page stops asking
const REFRESHING = { [AnnouncementStatus.LIVE]: 'dlv.refreshing', [AnnouncementStatus.SCHEDULED]: 'dlv.waiting' };

/** Seconds as a clerk says them: "不到 1 秒", "4 秒", "1 分 12 秒"; a dash while not reached. */
function seconds(value) {
  if (value === null || value === undefined) return '—';
  if (value < 1) return t('dlv.under_a_second');
  const s = Math.round(value);
  return s < 60 ? t('dlv.seconds', { n: s }) : t('dlv.minutes_seconds', { m: Math.floor(s / 60), s: s % 60 });
}

/** A receipt's time, short: the time of day with seconds today, with the day otherwise; a dash for none. */
function when(value) {
  if (!value) return '—';
  const d = new Date(value);
  if (d.toDateString() !== new Date().toDateString()) return formatTime(value, 'day');
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** What a file name may not hold on Windows or a phone. */
const fileName = (text) => text.replace(/[\\/:*?"<>|\s]+/g, '_').slice(0, 60);

export function render(ctx) {
  const id = ctx.params[0] || '';
  let stopped = false;
  let timer = null;
  let limit = PAGE_SIZE;
  let speaks = true; // the report's `audible`: a notice without audio is never "played", then receiving it is what counts
  deliveriesOpened(id);

  const error = errorLine('deliveries-error');
  const heading = h('div', { class: 'head' }, h('h2', {}, t('dlv.heading')));
  const summary = h('div', { class: 'dlv-summary', testid: 'deliveries-summary', role: 'status' }, h('p', { class: 'muted' }, t('common.loading')));
  const refreshing = h('p', { class: 'muted small', testid: 'deliveries-refresh' });
  const tbody = h('tbody', { testid: 'delivery-rows' });
  const more = h('button', { type: 'button', testid: 'deliveries-more', hidden: true }, t('common.more'));
  const csv = h('button', { type: 'button', testid: 'deliveries-csv' }, t('dlv.csv'));
  const table = h('div', { class: 'table-wrap', hidden: true },
    h('table', { class: 'list deliveries' },
      h('thead', {}, h('tr', {},
        h('th', {}, t('dlv.col.device')), h('th', {}, t('dlv.col.area')),
        h('th', {}, t('dlv.col.received')), h('th', {}, t('dlv.col.displayed')), h('th', {}, t('dlv.col.played')),
        h('th', {}, t('dlv.col.state')))),
      tbody));
  let title = '';

  const drawHeading = (report) => {
    title = report.title;
    replace(heading,
      h('h2', { testid: 'deliveries-title' }, t('dlv.heading_of', { title: report.title })),
      h('span', {},
        h('span', { class: `badge prio-${report.priority}` }, label('priority', report.priority)),
        report.drill ? h('span', { class: 'badge drill' }, t('ann.drill')) : null,
        h('span', { class: `badge st-${report.status}`, testid: 'deliveries-status' }, label('annstatus', report.status))));
  };

  /** 已播放 37/40 台，未播放 3 台，离线 2 台；一半设备用时 4 秒，九成 9 秒，全部 —. */
  const drawSummary = (report) => {
    const s = report.summary;
    const drawn = JSON.stringify([s, speaks, report.published_at]);
    if (summary.dataset.drawn === drawn) return; // unchanged: a screen reader is not told the same figures again
    summary.dataset.drawn = drawn;
    const done = speaks ? s.played : s.received;
    const missing = s.targeted - done;
    summary.dataset.done = String(done);
    summary.dataset.targeted = String(s.targeted);
    if (!s.targeted) {
      replace(summary, h('p', { class: 'dlv-big' }, t('dlv.no_devices')));
      return;
    }
    replace(summary,
      h('p', { class: 'dlv-big' },
        h('strong', { testid: 'deliveries-done' }, t(speaks ? 'dlv.played' : 'dlv.received', { n: formatNumber(done), of: formatNumber(s.targeted) })),
        h('span', { class: missing ? 'dlv-missing' : 'dlv-all', testid: 'deliveries-missing' },
          missing ? t(speaks ? 'dlv.not_played' : 'dlv.not_received', { n: formatNumber(missing) }) : t('dlv.all_done')),
        s.offline ? h('span', { class: 'dlv-missing', testid: 'deliveries-offline' }, t('dlv.offline', { n: formatNumber(s.offline) })) : null),
      speaks
        ? h('p', { class: 'dlv-times', testid: 'deliveries-times' },
          t('dlv.times', { half: seconds(s.played_50_s), ninety: seconds(s.played_90_s), all: seconds(s.played_all_s) }))
        : h('p', { class: 'muted' }, t('dlv.no_audio')),
      h('p', { class: 'muted small' }, t('dlv.also', { received: formatNumber(s.received), displayed: formatNumber(s.displayed) }),
        ' ', report.published_at ? t('dlv.published', { time: formatTime(report.published_at) }) : null));
  };

  const deviceRow = (d) => {
    const done = speaks ? d.played_at : d.received_at;
    const speaker = d.kind === ScreenKind.SPEAKER;
    const state = d.online
      ? h('span', { class: 'badge ok' }, t('screens.online'))
      : [h('span', { class: 'badge overdue' }, t('screens.offline')),
        h('span', { class: 'muted small', testid: 'delivery-last-seen' },
          d.last_seen ? t('dlv.last_seen', { ago: ago(d.last_seen) }) : t('dlv.never_seen'))];
    return h('tr', { class: done ? 'dlv-done' : 'dlv-not-done', testid: 'delivery-row', dataset: { id: d.screen_id, done: done ? 'true' : 'false' } },
      cell(null, { class: 'lead' },
        h('span', { class: 'title', testid: 'delivery-name' }, d.name), ' ',
        h('span', { class: 'badge', testid: 'delivery-kind' }, label('kind', d.kind)),
        done ? null : h('span', { class: 'badge overdue', testid: 'delivery-missing' }, t(speaks ? 'dlv.row.not_played' : 'dlv.row.not_received'))),
      cell(t('dlv.col.area'), { testid: 'delivery-area' }, d.area_name || ctx.areaName(d.area)),
      cell(t('dlv.col.received'), { class: 'time t' }, when(d.received_at)),
      cell(t('dlv.col.displayed'), { class: 'time t', title: speaker ? t('dlv.speaker_shows_nothing') : null }, speaker ? '—' : when(d.displayed_at)),
      cell(t('dlv.col.played'), { class: 'time t', testid: 'delivery-played' }, when(d.played_at)),
      cell(t('dlv.col.state'), { testid: 'delivery-state' }, state));
  };

  const again = () => {
    clearTimeout(timer); // one chain of refreshes, however many loads were under way
    timer = setTimeout(refresh, REFRESH_MS);
  };

  async function load() {
    try {
      const report = await api('GET', `/announcements/${encodeURIComponent(id)}/deliveries`, { query: { limit } });
      if (stopped) return;
      speaks = report.audible;
      showError(error, null);
      drawHeading(report);
      drawSummary(report);
      replace(tbody, report.devices.map(deviceRow));
      table.hidden = !report.devices.length;
      more.hidden = report.next_offset === null;
      const on = REFRESHING[report.status];
      refreshing.textContent = t(on || 'dlv.ended', { s: REFRESH_MS / 1000 });
      if (on) again();
    } catch (e) {
      if (stopped) return;
      if (e instanceof ApiError && e.status === 404) {
        replace(summary, h('p', {}, t('dlv.not_found')));
        refreshing.textContent = '';
        return;
      }
      showError(error, e);
      again(); // a dropped connection: the figures come back with it
    }
  }
  // a tab in the background asks nothing; it catches up when shown again
  const refresh = () => {
    if (!document.hidden) load();
    else again();
  };

  more.addEventListener('click', () => {
    limit += PAGE_SIZE;
    load();
  });

  csv.addEventListener('click', async () => {
    csv.disabled = true;
    try {
      const blob = await api('GET', `/announcements/${encodeURIComponent(id)}/deliveries.csv`, { query: { lang: getLang() }, as: 'blob' });
      download(blob, `${fileName(t('dlv.csv_file', { title: title || id }))}.csv`);
    } catch (e) {
      showError(error, e);
    } finally {
      csv.disabled = false;
    }
  });

  load();

  const el = h('section', { class: 'card', testid: 'page-deliveries' },
    heading,
    error,
    summary,
    h('div', { class: 'actions dlv-actions' },
      h('a', { href: '#/announcements', class: 'button', testid: 'deliveries-back' }, t('dlv.back')),
      csv),
    refreshing,
    table,
    more);
  return {
    el,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
