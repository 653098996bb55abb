// The front page: the devices that have not played a live emergency in time (需要有人去现场), what waits for the
// clerk today (new, unassigned, overdue, nearly due, mine), the screens offline for too long, and what is on air,
// each a tap away from the page where it is dealt with.

import { api } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatNumber, formatTime, label, t } from '../../shared/i18n.js';
import { AnnouncementStatus } from '../../shared/vocabulary.js';
import { ago, describeError, formatDuration } from '../util.js';

const POSTERS = ['admin', 'committee'];

/** A figure that leads where it is dealt with; lit when there is something to do. */
function tile(key, n, href) {
  return h('a', { class: `home-tile${n ? ' lit' : ''}`, href, testid: `home-${key}`, dataset: { count: String(n) } },
    h('span', { class: 'home-count' }, formatNumber(n)),
    h('span', { class: 'home-label' }, t(`home.${key}`)));
}

/**
 * 需要有人去现场: the overdue devices (GET /deliveries/overdue) by emergency, each with its area, how long since it was
 * last heard from, and the way to the emergency's 回传 page; nothing at all when every device played in time.
 */
function overduePanel(ctx, overdue) {
  if (!overdue.total) return null;
  const byEmergency = new Map();
  for (const d of overdue.devices) {
    if (!byEmergency.has(d.announcement_id)) byEmergency.set(d.announcement_id, []);
    byEmergency.get(d.announcement_id).push(d);
  }
  const seen = (d) => (d.online ? t('home.go.online') : t('home.go.offline', { ago: d.last_seen ? ago(d.last_seen) : t('home.go.never') }));
  return h('section', { class: 'card home-go', 'aria-labelledby': 'home-go-heading', testid: 'home-go' },
    h('h2', { id: 'home-go-heading' }, t('home.go.heading')),
    h('p', {}, t('home.go.intro', { n: formatNumber(overdue.total), s: formatNumber(overdue.deadline_s) })),
    [...byEmergency.values()].map((devices) => {
      const first = devices[0];
      return h('div', { class: 'home-go-emergency', testid: 'home-go-emergency', dataset: { id: first.announcement_id } },
        h('p', { class: 'home-go-title' },
          h('strong', {}, t('home.go.emergency', { title: first.title })),
          first.drill ? h('span', { class: 'badge drill' }, t('ann.drill')) : null,
          h('span', { class: 'muted small' }, t('home.go.published', { time: formatTime(first.published_at, 'day') }))),
        h('ul', {}, devices.map((d) => h('li', { testid: 'home-go-device', dataset: { id: d.screen_id } },
          h('strong', {}, d.name), ` ${label('kind', d.kind)} · ${d.area_name || ctx.areaName(d.area)} · `,
          h('span', { class: d.online ? '' : 'bad' }, seen(d))))),
        h('a', { href: `#/deliveries/${encodeURIComponent(first.announcement_id)}`, class: 'button', testid: 'home-go-deliveries' },
          t('home.go.deliveries')));
    }),
    overdue.total > overdue.devices.length ? h('p', { class: 'muted' }, t('home.go.more', { n: overdue.total - overdue.devices.length })) : null);
}

export function render(ctx) {
  let stopped = false;
  const requests = h('div', { class: 'home-tiles', testid: 'home-requests' }, h('p', { class: 'muted' }, t('common.loading')));
  const screens = h('div', { testid: 'home-screens' });
  const onAir = h('div', { testid: 'home-on-air' });
  const goThere = h('div', { testid: 'home-go-slot' });
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
      if (poster) await loadDevices();
    } catch (e) {
      if (!stopped) replace(requests, h('p', { class: 'error', role: 'alert' }, describeError(e)));
    }
  }

  /** The devices that have not played a live emergency by its deadline (需要有人去现场). */
  async function loadOverdue() {
    const overdue = await api('GET', '/deliveries/overdue');
    if (!stopped) replace(goThere, overduePanel(ctx, overdue));
  }

  /** The devices and what is on air: the overdue panel, the screens offline too long, the live announcements. */
  async function loadDevices() {
    try {
      const [, devices, live] = await Promise.all([
        loadOverdue(),
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
        : h('p', { class: 'muted', testid: 'home-screens-ok' }, devices.every((d) => d.online)
          ? t('home.screens_ok', { n: devices.length })
          : t('home.screens_online', { n: devices.length, online: devices.filter((d) => d.online).length })));
      replace(onAir,
        h('p', {}, t('home.on_air', { n: live.items.length })),
        h('div', { class: 'actions' },
          h('a', { class: 'button', href: '#/announcements' }, t('home.to_announcements')),
          h('a', { class: 'button primary', href: '#/compose', testid: 'home-compose' }, t('home.compose'))));
    } catch (e) {
      if (!stopped) replace(screens, h('p', { class: 'error', role: 'alert' }, describeError(e)));
    }
  }

  // a new request comes in while the page is open (newrequests.js): the figures follow; and at each round of the
  // console's poll (emergencies.js, its `detail` the live emergencies) the overdue panel is looked at again, so a
  // device that missed its deadline shows up: with no live emergency there is none, and nothing need be asked
  const onNew = () => load();
  const onRound = (event) => {
    if (!event.detail.length) replace(goThere);
    else loadOverdue().catch(() => { /* offline or signed out: the next round tries again */ });
  };
  window.addEventListener('vb:new-requests', onNew);
  if (poster) window.addEventListener('vb:emergencies', onRound);
  load();

  const el = h('section', { class: 'home', testid: 'page-home' },
    goThere,
    h('div', { class: 'card' }, h('h2', {}, t('home.requests')), requests),
    poster ? h('div', { class: 'card' }, h('h2', {}, t('home.devices')), screens) : null,
    poster ? h('div', { class: 'card' }, h('h2', {}, t('home.announcements')), onAir) : null);
  return {
    el,
    stop() {
      stopped = true;
      window.removeEventListener('vb:new-requests', onNew);
      window.removeEventListener('vb:emergencies', onRound);
    },
  };
}
