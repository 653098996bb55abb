// New requests while the console is open: every `poll_s` (the server says how often) it asks GET /requests/summary for what came in since the
// newest request it has seen; when that grows it chimes, shows the count on the worklist's nav link and tells the
// open page (the event `vb:new-requests`, so the worklist reloads). Opening the worklist clears the badge. This is
// the console's one poll: `onPoll` runs on each round too (emergencies.js), rather than a loop of its own.

import { api } from './api.js';
import { t } from '../shared/i18n.js';

const DEFAULT_POLL_S = 20; // until the server's first answer says `poll_s` (docs/protocol.md §2.11.5)

let audio = null;

/** Two short soft tones (WebAudio: no sound file to fetch); a browser that refuses to play stays silent. */
function chime() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    audio = audio || new Context();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const start = audio.currentTime;
    [880, 660].forEach((frequency, i) => {
      const at = start + i * 0.25;
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      tone.frequency.value = frequency;
      volume.gain.setValueAtTime(0.0001, at);
      volume.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
      volume.gain.exponentialRampToValueAtTime(0.0001, at + 0.4);
      tone.connect(volume).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.45);
    });
  } catch (e) { /* no sound on this device: the badge still shows */ }
}

const onWorklist = () => /^#\/requests\/?$/.test(location.hash);

/**
 * Watch for new requests; `badge` is the element on the nav link that shows the count, `notify` the page's
 * notice line, `onPoll` what else to do each round. Returns a function that stops watching.
 */
export function watchNewRequests({ badge, notify, onPoll = async () => {} }) {
  let seen = null; // the newest creation time the person has seen (the server's clock, not this browser's)
  let latest = null;
  let count = 0;
  let timer = null;
  let stopped = false;
  let pollS = DEFAULT_POLL_S;

  const show = () => {
    badge.textContent = count ? String(count) : '';
    badge.hidden = !count;
    badge.title = count ? t('rq.new_badge', { n: count }) : '';
  };
  const markSeen = () => {
    if (latest) seen = latest;
    count = 0;
    show();
  };

  async function poll() {
    try {
      const summary = await api('GET', '/requests/summary', { query: { since: seen } });
      if (stopped) return;
      latest = summary.latest_created_at || latest;
      pollS = summary.poll_s || pollS;
      if (seen === null) {
        seen = latest || new Date(0).toISOString(); // the first look: what is there already is not new
      } else if (summary.new > count) {
        chime();
        notify(t('rq.new_arrived', { n: summary.new - count }));
        count = summary.new;
        show();
        window.dispatchEvent(new CustomEvent('vb:new-requests', { detail: summary }));
      }
    } catch (e) { /* offline or signed out: try again next time */ }
    if (!stopped) await onPoll();
    if (!stopped) timer = setTimeout(poll, pollS * 1000);
  }

  const onHash = () => { if (onWorklist()) markSeen(); };
  window.addEventListener('hashchange', onHash);
  show();
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
    window.removeEventListener('hashchange', onHash);
  };
}
