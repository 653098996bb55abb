// A new emergency while the console is open: whoever has it open is taken to its 回传 page (pages/deliveries.js), to
// see which loudspeakers and screens have played it and which have not. It rides on the console's one poll (the
// new-requests summary, newrequests.js, every console_poll_s): each round asks for the live emergencies whose report
// this person may read (posted in the scope, or a county's warning reaching the village), and tells the open page
// what is live (the event `vb:emergencies`, so the front page re-reads its overdue devices).

import { api } from './api.js';
import { t } from '../shared/i18n.js';

// pages where jumping away would lose something (a draft being written, a call on air): there the person is told
const BUSY = /^#\/(compose|live)(\/|$)/;

const opened = new Set(); // emergencies whose 回传 page has been open in this tab: never jumped to again

/** The 回传 page of `id` is on screen: the watch need not take anyone there. */
export function deliveriesOpened(id) {
  opened.add(id);
}

/**
 * Watch for emergencies going live (drills too: they are posted as emergencies). `navigate(hash)` changes page,
 * `notify(message)` shows the notice line. Answers `check()`, to run once each poll.
 */
export function watchEmergencies({ navigate, notify }) {
  let known = null; // the live emergencies seen so far (the first look: those live already are not new)

  async function check() {
    let live;
    try {
      live = await api('GET', '/deliveries/emergencies');
    } catch (e) {
      return; // offline or signed out: the next poll tries again
    }
    window.dispatchEvent(new CustomEvent('vb:emergencies', { detail: live }));
    if (known === null) {
      known = new Set(live.map((a) => a.id));
      return;
    }
    const fresh = live.filter((a) => !known.has(a.id) && !opened.has(a.id)); // newest first
    for (const a of live) known.add(a.id);
    if (!fresh.length) return;
    const newest = fresh[0];
    if (BUSY.test(location.hash)) notify(t('dlv.new_elsewhere', { title: newest.title }), 'bad');
    else navigate(`#/deliveries/${encodeURIComponent(newest.id)}`);
  }

  return { check };
}
