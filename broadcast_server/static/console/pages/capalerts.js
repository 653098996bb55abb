// 收到的预警 (#/cap-alerts, admin): the CAP alerts county systems sent in (docs/protocol.md §2.16) and what each did.
// Those that matched no area come first, in red, with what they named: county IT gives that village its
// administrative division code on the areas page, and the next such alert reaches it.

import { api } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, label, t } from '../../shared/i18n.js';
import { errorLine, showError } from '../util.js';

const PAGE_SIZE = 50;
const UNMATCHED = 'unmatched';
const BROADCAST_STATUSES = ['Actual', 'Exercise', 'Test']; // the others are kept, never broadcast
const BROADCAST_TYPES = ['Alert', 'Update', 'Cancel'];

/**
 * Why an alert did nothing, in the reader's language. The server's `reason` is English for the log; the outcome, the
 * status and the type say the same, so the words come from them, and the server's text stays behind 技术信息.
 */
function reasonOf(alert) {
  if (alert.outcome === UNMATCHED) return t('cap.reason.unmatched');
  if (alert.outcome === 'stored') {
    if (!BROADCAST_STATUSES.includes(alert.status)) return t('cap.reason.status', { kind: label('capstatus', alert.status) });
    if (!BROADCAST_TYPES.includes(alert.msg_type)) return t('cap.reason.type', { type: label('captype', alert.msg_type) });
    return t('cap.reason.no_info');
  }
  if (alert.outcome === 'cancelled' && !alert.announcement_ids.length) return t('cap.reason.nothing_on');
  return null;
}

function alertItem(ctx, alert) {
  const unmatched = alert.outcome === UNMATCHED;
  const reason = reasonOf(alert);
  const drill = alert.status === 'Exercise' || alert.status === 'Test'; // broadcast as a drill (演练)
  return h('li', { class: `cap-alert${unmatched ? ' unmatched' : ''}`, testid: 'cap-alert', dataset: { id: alert.id, outcome: alert.outcome } },
    h('div', { class: 'cap-line' },
      h('span', { class: `badge cap-${alert.outcome}`, testid: 'cap-outcome' }, label('capoutcome', alert.outcome)),
      alert.status !== 'Actual' ? h('span', { class: drill ? 'badge drill' : 'badge note' }, label('capstatus', alert.status)) : null,
      alert.msg_type !== 'Alert' ? h('span', { class: 'badge note' }, label('captype', alert.msg_type)) : null,
      h('strong', { class: 'cap-headline', testid: 'cap-headline' }, alert.headline || t('cap.no_headline'))),
    h('p', { class: 'muted small cap-meta' },
      h('span', { testid: 'cap-sender' }, t('cap.sender', { sender: alert.sender })),
      h('span', {}, t('cap.sent', { time: formatTime(alert.sent) })),
      h('span', {}, t('cap.received', { time: formatTime(alert.received_at) }))),
    reason ? h('p', { class: unmatched ? 'cap-reason bad' : 'cap-reason', testid: 'cap-reason' }, reason) : null,
    unmatched ? h('p', { class: 'small', testid: 'cap-named' },
      alert.named_areas.length ? t('cap.reason.named', { areas: alert.named_areas.join('、') }) : t('cap.reason.named_none')) : null,
    unmatched ? h('a', { href: '#/areas', testid: 'cap-to-areas' }, t('cap.to_areas')) : null,
    alert.areas.length ? h('p', { class: 'small' }, t('cap.areas', { areas: alert.areas.map(ctx.areaName).join('、') })) : null,
    alert.announcement_ids.length
      ? h('p', { class: 'small cap-links' }, alert.announcement_ids.map((id, i) => h('a', {
        href: `#/deliveries/${encodeURIComponent(id)}`, testid: 'cap-deliveries',
      }, alert.announcement_ids.length > 1 ? t('cap.deliveries_n', { n: i + 1 }) : t('cap.deliveries'))))
      : null,
    alert.reason ? h('details', { class: 'muted small' }, h('summary', {}, t('cap.technical')), h('span', { lang: 'en' }, alert.reason)) : null);
}

export function render(ctx) {
  let stopped = false;
  let cursor = null;
  const alerts = [];
  const error = errorLine('cap-alerts-error');
  const warning = h('p', { class: 'warn', role: 'alert', testid: 'cap-unmatched', hidden: true });
  const list = h('ul', { class: 'cap-alerts', testid: 'cap-alert-list' });
  const empty = h('p', { class: 'muted', testid: 'cap-empty', hidden: true }, t('cap.empty'));
  const more = h('button', { type: 'button', testid: 'cap-more', hidden: true }, t('common.more'));

  const draw = () => {
    // unmatched first (someone has work to do), each group newest first as the server sends them
    const unmatched = alerts.filter((a) => a.outcome === UNMATCHED);
    warning.textContent = t('cap.unmatched_count', { n: unmatched.length });
    warning.hidden = !unmatched.length;
    empty.hidden = alerts.length > 0;
    replace(list, [...unmatched, ...alerts.filter((a) => a.outcome !== UNMATCHED)].map((a) => alertItem(ctx, a)));
  };

  async function load() {
    showError(error, null);
    try {
      const page = await api('GET', '/cap/alerts', { query: { limit: PAGE_SIZE, cursor } });
      if (stopped) return;
      alerts.push(...page.items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      draw();
    } catch (e) {
      if (!stopped) showError(error, e);
    }
  }
  more.addEventListener('click', load);
  load();

  const el = h('section', { class: 'card', testid: 'page-cap-alerts' },
    h('div', { class: 'head' }, h('h2', {}, t('cap.heading')), h('a', { href: '#/announcements' }, t('dlv.back'))),
    h('p', { class: 'muted' }, t('cap.intro')),
    error,
    warning,
    list,
    empty,
    more);
  return { el, stop() { stopped = true; } };
}
