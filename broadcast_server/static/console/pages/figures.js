// Figures: GET /stats as the charts of a committee's monthly report, printable.

import { api } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatMonth, formatMonthShort, formatNumber, formatPercent, formatTime, label, t } from '../../shared/i18n.js';
import { RequestCategory, RequestStatus } from '../../shared/vocabulary.js';
import { barChart, columnChart, rateLines } from '../charts.js';
import { areaName, dateToRfc3339, describeError, formatDuration } from '../util.js';

const TREND_MONTHS = 6;

function monthValue(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

function monthRange(value) {
  const [y, m] = value.split('-').map(Number);
  return [new Date(y, m - 1, 1), new Date(y, m, 1)];
}

export function render(ctx) {
  let stopped = false;
  const month = h('input', { type: 'month', testid: 'figures-month', value: monthValue(new Date()) });
  const printButton = h('button', { type: 'button', class: 'primary', testid: 'figures-print', onclick: () => window.print() }, t('fig.print'));
  const body = h('div', { testid: 'figures-body' }, h('p', { class: 'muted' }, t('common.loading')));

  const rateCard = (key, rate) => h('div', { class: 'stat', testid: `rate-${key}` },
    h('div', { class: 'stat-label' }, t(`fig.rate.${key}`)),
    h('div', { class: 'stat-value', testid: `rate-${key}-value` }, formatPercent(rate.rate)),
    h('div', { class: 'muted', testid: `rate-${key}-fraction` }, t('fig.fraction', { n: formatNumber(rate.numerator), d: formatNumber(rate.denominator) })),
    h('div', { class: 'muted small' }, t(`fig.rate.${key}.hint`)));

  const durationRow = (key, d) => h('tr', { testid: `duration-${key}` },
    h('th', {}, t(`fig.duration.${key}`)),
    h('td', { class: 'num', testid: `duration-${key}-median` }, formatDuration(d.median_s)),
    h('td', { class: 'num', testid: `duration-${key}-p90` }, formatDuration(d.p90_s)),
    h('td', { class: 'num' }, formatNumber(d.count)));

  const deliveryRow = (a) => {
    const pct = (n) => (a.targeted ? ` (${formatPercent(n / a.targeted)})` : '');
    return h('tr', { testid: 'figures-announcement', dataset: { id: a.id } },
      h('td', {}, h('div', { class: 'title' }, a.title), h('div', { class: 'muted' }, formatTime(a.published_at), ' · ', label('annstatus', a.status))),
      h('td', { class: 'num' }, formatNumber(a.targeted)),
      h('td', { class: 'num' }, formatNumber(a.received), pct(a.received)),
      h('td', { class: 'num' }, formatNumber(a.displayed), pct(a.displayed)),
      h('td', { class: 'num' }, formatNumber(a.played), pct(a.played)));
  };

  async function load() {
    replace(body, h('p', { class: 'muted' }, t('common.loading')));
    const [start, end] = monthRange(month.value || monthValue(new Date()));
    const months = [];
    for (let i = TREND_MONTHS - 1; i >= 0; i -= 1) {
      months.push([new Date(start.getFullYear(), start.getMonth() - i, 1), new Date(start.getFullYear(), start.getMonth() - i + 1, 1)]);
    }
    try {
      const [stats, ...trend] = await Promise.all([
        api('GET', '/stats', { query: { since: dateToRfc3339(start), until: dateToRfc3339(end) } }),
        ...months.map(([a, b]) => api('GET', '/stats', { query: { since: dateToRfc3339(a), until: dateToRfc3339(b) } })),
      ]);
      if (stopped) return;
      draw(stats, trend, months, start);
    } catch (e) {
      if (!stopped) replace(body, h('p', { class: 'error', role: 'alert', testid: 'figures-error' }, describeError(e)));
    }
  }

  function draw(stats, trend, months, start) {
    const byCategory = Object.values(RequestCategory).map((c) => [label('rqcat', c), stats.totals.by_category[c] || 0]);
    const byStatus = Object.values(RequestStatus).map((st) => [label('rqstatus', st), stats.totals.by_status[st] || 0, `rq-${st}`]);
    const byArea = Object.entries(stats.totals.by_area).map(([path, n]) => [areaName(ctx.areas, path), n]);
    const monthLabels = months.map(([a]) => formatMonthShort(a));
    const recent = stats.announcements.slice(0, 10);
    replace(body,
      h('header', { class: 'report-head' },
        h('h2', { testid: 'figures-title' }, t('fig.report', { month: formatMonth(start) })),
        h('p', { class: 'muted' }, t('fig.report.scope', { scope: areaName(ctx.areas, stats.scope), at: formatTime(stats.generated_at) }))),
      h('div', { class: 'stats-row' },
        h('div', { class: 'stat', testid: 'total-requests' },
          h('div', { class: 'stat-label' }, t('fig.total')),
          h('div', { class: 'stat-value', testid: 'total-requests-value' }, formatNumber(stats.totals.all)),
          h('div', { class: 'muted' }, t('fig.total.extra', { overdue: stats.overdue, reopened: stats.reopened, none: stats.no_follow_up }))),
        rateCard('response', stats.response_rate),
        rateCard('resolution', stats.resolution_rate),
        rateCard('satisfaction', stats.satisfaction_rate)),
      h('div', { class: 'chart-grid' },
        h('figure', { class: 'card inner' }, h('figcaption', {}, t('fig.by_category')), barChart(byCategory, { testid: 'chart-category', format: formatNumber })),
        h('figure', { class: 'card inner' }, h('figcaption', {}, t('fig.by_status')), barChart(byStatus, { testid: 'chart-status', format: formatNumber })),
        byArea.length > 1
          ? h('figure', { class: 'card inner' }, h('figcaption', {}, t('fig.by_area')), barChart(byArea, { testid: 'chart-area', format: formatNumber }))
          : null,
        h('figure', { class: 'card inner' },
          h('figcaption', {}, t('fig.trend.rates')),
          rateLines([
            { name: t('fig.rate.response'), cls: 's1', values: trend.map((x) => x.response_rate.rate) },
            { name: t('fig.rate.resolution'), cls: 's2', values: trend.map((x) => x.resolution_rate.rate) },
            { name: t('fig.rate.satisfaction'), cls: 's3', values: trend.map((x) => x.satisfaction_rate.rate) },
          ], monthLabels, { testid: 'chart-trend-rates', format: (v) => formatPercent(v) }),
          h('div', { class: 'legend' },
            ['response', 'resolution', 'satisfaction'].map((k, i) => h('span', { class: `key s${i + 1}` }, t(`fig.rate.${k}`))))),
        h('figure', { class: 'card inner' },
          h('figcaption', {}, t('fig.trend.response_time')),
          columnChart(trend.map((x, i) => [monthLabels[i], x.time_to_first_response.median_s]),
            { testid: 'chart-trend-time', format: formatDuration }))),
      h('div', { class: 'card inner' },
        h('h3', {}, t('fig.durations')),
        h('table', { class: 'list compact', testid: 'figures-durations' },
          h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', { class: 'num' }, t('fig.median')), h('th', { class: 'num' }, t('fig.p90')), h('th', { class: 'num' }, t('fig.count')))),
          h('tbody', {}, durationRow('response', stats.time_to_first_response), durationRow('resolution', stats.time_to_resolution)))),
      h('div', { class: 'card inner' },
        h('h3', {}, t('fig.deliveries')),
        recent.length
          ? h('table', { class: 'list compact', testid: 'figures-deliveries' },
            h('thead', {}, h('tr', {}, h('th', {}, t('ann.col.title')), h('th', { class: 'num' }, t('ann.col.targeted')),
              h('th', { class: 'num' }, t('ann.col.received')), h('th', { class: 'num' }, t('ann.col.displayed')), h('th', { class: 'num' }, t('ann.col.played')))),
            h('tbody', {}, recent.map(deliveryRow)))
          : h('p', { class: 'muted' }, t('ann.empty'))));
  }

  month.addEventListener('change', load);
  load();

  const el = h('section', { class: 'card figures', testid: 'page-figures' },
    h('div', { class: 'head no-print' },
      h('h2', {}, t('fig.heading')),
      h('label', { class: 'inline' }, h('span', {}, t('fig.month')), month),
      printButton),
    body);
  return { el, stop() { stopped = true; } };
}
