// The front page: what waits for the clerk today (new, unassigned, overdue, nearly due, mine), the screens
// offline for too long, and what is on air, each a tap away from the page where it is dealt with.

import { api } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatNumber, t } from '../../shared/i18n.js';
import { AnnouncementStatus } from '../../shared/vocabulary.js';
import { describeError, formatDuration } from '../util.js';

const POSTERS = ['admin', 'committee'];

/** A figure that leads where it is dealt with; lit when there is something to do. */
function tile(key, n, href) {
  return h('a', { class: `home-tile${n ? ' lit' : ''}`, href, testid: `home-${key}`, dataset: { count: String(n) } },
    h('span', { class: 'home-count' }, formatNumber(n)),
    h('span', { class: 'home-label' }, t(`home.${key}`)));
}

export function render(ctx) {
  let stopped = false;
  const requests = h('div', { class: 'home-tiles', testid: 'home-requests' }, h('p', { class: 'muted' }, t('common.loading')));
  const screens = h('div', { testid: 'home-screens' });
  const onAir = h('div', { testid: 'home-on-air' });
  const poster = POSTERS.includes(ctx.role);

  async function load() {
    try {
      const summary = await api('GET', '/requests/summary');
      if (stopped) return;
      replace(requests,
        tile('waiting', summary.waiting, '#/requests'),
        tile('overdue', summary.overdue, '#/requests'),
        tile('due_soon', summary.due_soon, '#/requests'),
        ctx.role === 'worker' || summary.mine ? tile('mine', summary.mine, '#/requests') : null);
      if (!poster) return;
      const [devices, live] = await Promise.all([
        api('GET', '/screens'),
        api('GET', `/announcements?status=${AnnouncementStatus.LIVE}&limit=100`),
      ]);
      if (stopped) return;
      const late = devices.filter((d) => d.offline_alert);
      replace(screens, late.length
        ? h('div', { class: 'home-alert', role: 'alert', testid: 'home-offline' },
          h('p', {}, t('home.offline', { n: late.length })),
          h('ul', {}, late.map((d) => h('li', { testid: 'home-offline-screen' },
            `${d.name} · ${d.area_name || ctx.areaName(d.area)} · ${t('home.offline_for', { time: formatDuration(d.offline_s) })}`))),
          h('a', { href: '#/screens' }, t('home.to_screens')))
        : h('p', { class: 'muted', testid: 'home-screens-ok' }, t('home.screens_ok', { n: devices.length })));
      replace(onAir,
        h('p', {}, t('home.on_air', { n: live.items.length })),
        h('div', { class: 'actions' },
          h('a', { class: 'button', href: '#/announcements' }, t('home.to_announcements')),
          h('a', { class: 'button primary', href: '#/compose', testid: 'home-compose' }, t('home.compose'))));
    } catch (e) {
      if (!stopped) replace(requests, h('p', { class: 'error', role: 'alert' }, describeError(e)));
    }
  }

  // a new request comes in while the page is open (newrequests.js): the figures follow
  const onNew = () => load();
  window.addEventListener('vb:new-requests', onNew);
  load();

  const el = h('section', { class: 'home', testid: 'page-home' },
    h('div', { class: 'card' }, h('h2', {}, t('home.requests')), requests),
    poster ? h('div', { class: 'card' }, h('h2', {}, t('home.devices')), screens) : null,
    poster ? h('div', { class: 'card' }, h('h2', {}, t('home.announcements')), onAir) : null);
  return { el, stop() { stopped = true; window.removeEventListener('vb:new-requests', onNew); } };
}
