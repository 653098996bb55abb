// 喊话: the clerk talks into the phone and the chosen areas' loudspeakers play it as it is said (the WebSocket
// /api/v1/live, docs/protocol.md "Live calls"), and sees the calls going on in their scope; an admin may stop one.
// What was said is kept as an announcement: the announcements page lists past calls.

import { api, session } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { label, t } from '../../shared/i18n.js';
import { Priority } from '../../shared/vocabulary.js';
import { areaTree, clock, describeError, errorLine, showError } from '../util.js';

const PIECE_MS = 250; // MediaRecorder's timeslice: the loudspeakers lag the voice by about this and the server's decoding
const TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus']; // what the server takes, as browsers record it
const CALLS_POLL_MS = 3000;
const TICK_MS = 200; // the clock and the level meter
const STOP_WAIT_MS = 10000; // no `ended` by then after 结束喊话: the connection is gone
const SILENT_S = 5; // the server ends a call that sends nothing for this long (broadcast_server/live.py)

/** Whether area `outer` includes `inner` (itself, or an area below it). */
function covers(outer, inner) {
  return outer === inner || outer === '/' || inner.startsWith(`${outer}/`);
}

/** The `ended` frame in the clerk's words, by its `code` (broadcast_server/live.py `Ending`). */
function endedText(frame, seconds) {
  const time = clock(seconds);
  switch (frame.code) {
    case 'caller': return t('live.ended.self', { time });
    case 'stopped': return t('live.ended.stopped', { name: frame.by ?? '', time });
    case 'silent': return t('live.ended.silent', { seconds: SILENT_S });
    case 'lost': return t('live.ended.lost');
    case 'too_long': return t('live.ended.too_long');
    case 'shutdown': return t('live.ended.server');
    default: return t('live.ended.other', { time });
  }
}

/** Why the microphone cannot be had, from getUserMedia's refusal (or its absence: no https). */
function microphoneProblem(error) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return t(window.isSecureContext ? 'live.mic.unsupported' : 'live.mic.insecure');
  }
  const name = error && error.name;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return t('live.mic.missing');
  if (name === 'NotReadableError' || name === 'AbortError') return t('live.mic.in_use');
  return t('live.mic.denied');
}

export function render(ctx) {
  let stopped = false;
  let call = null; // from 开始喊话 to the end: {ws, stream, recorder, audio, analyser, started, ending, meterTimer, stopTimer, lock}
  let pollTimer = null;

  const areaBoxes = [];
  const treeList = (nodes) => h('ul', { class: 'tree' }, nodes.map((node) => {
    const box = h('input', { type: 'checkbox', value: node.path, testid: 'live-area', dataset: { path: node.path },
      checked: node.path === ctx.scope });
    box.defaultChecked = box.checked;
    areaBoxes.push(box);
    return h('li', {},
      h('label', { class: 'check' }, box, h('span', {}, ctx.areaName(node.path))),
      node.children.length ? treeList(node.children) : null);
  }));
  /** The ticked areas, without those a ticked area includes already. */
  const chosenAreas = () => {
    const ticked = areaBoxes.filter((b) => b.checked).map((b) => b.value);
    return ticked.filter((a) => !ticked.some((other) => other !== a && covers(other, a)));
  };

  const emergency = h('input', { type: 'checkbox', testid: 'live-emergency' });
  const error = errorLine('live-error');
  const result = h('p', { class: 'success', testid: 'live-result', role: 'status', hidden: true });
  const startButton = h('button', { type: 'button', class: 'live-start', testid: 'live-start' }, t('live.start'));

  const setup = h('div', { class: 'live-setup', testid: 'live-setup' },
    h('fieldset', { class: 'live-areas' },
      h('legend', {}, t('live.areas')),
      ctx.areas.length ? treeList(areaTree(ctx.areas)) : h('p', { class: 'muted' }, t('live.areas.none'))),
    h('label', { class: 'check live-emergency' }, emergency,
      h('span', {}, h('strong', {}, t('live.emergency')), h('br'), h('span', { class: 'muted small' }, t('live.emergency.hint')))),
    startButton);

  // said once as the call goes on air; the clock beside it is outside the live region, or it would be read every second
  const onAirState = h('span', { role: 'status', testid: 'live-state' });
  const onAirTime = h('span', { class: 'live-clock', testid: 'live-clock' }, '0:00');
  const onAirAreas = h('p', { class: 'live-where', testid: 'live-areas' });
  const level = h('meter', { class: 'live-level', min: 0, max: 1, low: 0.05, high: 0.9, optimum: 0.5, value: 0,
    testid: 'live-level', 'aria-label': t('live.level') });
  const endButton = h('button', { type: 'button', class: 'live-end', testid: 'live-end' }, t('live.end'));
  const onAir = h('div', { class: 'live-on-air', testid: 'live-on-air', hidden: true },
    h('p', { class: 'live-state' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), onAirState, ' ', onAirTime),
    onAirAreas,
    level,
    h('p', { class: 'muted small' }, t('live.on_air.hint')),
    endButton);

  const callsError = errorLine('live-calls-error');
  const callsList = h('ul', { class: 'live-calls', testid: 'live-calls' });
  const callsEmpty = h('p', { class: 'muted', testid: 'live-calls-empty', hidden: true }, t('live.calls.none'));

  /** Who is talking where, for the list and for `busy`: the areas by name. */
  const areaNames = (paths) => paths.map((p) => ctx.areaName(p)).join('、');

  const show = (state) => {
    setup.hidden = state === 'live';
    onAir.hidden = state !== 'live';
    startButton.disabled = state === 'connecting';
    startButton.textContent = t(state === 'connecting' ? 'live.connecting' : 'live.start');
    const ending = Boolean(call && call.ending);
    endButton.disabled = ending;
    endButton.textContent = t(ending ? 'live.ending' : 'live.end');
  };

  /** Let go of the microphone, the meter and the screen lock; the socket is closed too. */
  const release = (c) => {
    clearInterval(c.meterTimer);
    clearTimeout(c.stopTimer);
    if (c.recorder && c.recorder.state !== 'inactive') c.recorder.stop();
    c.stream.getTracks().forEach((track) => track.stop());
    if (c.audio) c.audio.close().catch(() => {});
    if (c.lock) c.lock.release().catch(() => {});
    if (c.ws.readyState <= WebSocket.OPEN) c.ws.close();
  };

  /** The call is over (ended, refused, or its connection lost): back to the start, saying why. */
  const finish = (c, { message = null, problem = null } = {}) => {
    if (call !== c) return;
    call = null;
    release(c);
    if (stopped) return;
    onAirState.textContent = '';
    showError(error, problem);
    result.textContent = message || '';
    result.hidden = !message;
    show('idle');
    loadCalls();
  };

  /** A refusal of `start` by its code, in the clerk's words. */
  const refusal = (frame, areas) => {
    if (frame.code === 'busy') {
      // the busy call's areas, seen from the clerk's: the ones chosen that it covers, or its own below them
      const overlap = areas.filter((a) => (frame.areas || []).some((b) => covers(b, a)));
      const below = (frame.areas || []).filter((b) => areas.some((a) => covers(a, b)));
      return t('live.error.busy', { name: frame.caller_name, areas: areaNames(overlap.length ? overlap : below) });
    }
    if (frame.code === 'forbidden') return t('live.error.forbidden', { areas: areaNames(frame.areas || areas) });
    if (frame.code === 'not_found') return t('live.error.not_found');
    return t('live.error.invalid');
  };

  const goLive = (c, frame) => {
    c.started = Date.now();
    const names = frame.areas.map((a) => a.name || ctx.areaName(a.path));
    onAirAreas.textContent = t('live.on_air.areas', { areas: names.join('、') });
    onAirState.textContent = t('live.on_air');
    onAirTime.textContent = clock(0);
    c.recorder.addEventListener('dataavailable', (event) => {
      if (event.data.size && c.ws.readyState === WebSocket.OPEN) c.ws.send(event.data);
    });
    // after 结束喊话 the last piece goes out first, then stop
    c.recorder.addEventListener('stop', () => {
      if (c.ending && c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify({ type: 'stop' }));
    });
    c.recorder.start(PIECE_MS);
    const samples = c.analyser ? new Float32Array(c.analyser.fftSize) : null;
    c.meterTimer = setInterval(() => {
      onAirTime.textContent = clock((Date.now() - c.started) / 1000);
      if (!samples) return;
      c.analyser.getFloatTimeDomainData(samples);
      const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
      level.value = Math.min(1, Math.sqrt(rms) * 2); // the square root: a quiet voice still moves the bar
    }, TICK_MS);
    if (navigator.wakeLock) navigator.wakeLock.request('screen').then((lock) => { c.lock = lock; }).catch(() => {});
    show('live');
    loadCalls();
  };

  const start = async () => {
    showError(error, null);
    result.hidden = true;
    const areas = chosenAreas();
    if (!areas.length) {
      showError(error, t('live.error.no_area'));
      return;
    }
    const type = window.MediaRecorder && TYPES.find((mime) => MediaRecorder.isTypeSupported(mime));
    if (!type) {
      showError(error, t('live.mic.unsupported'));
      return;
    }
    show('connecting');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      show('idle');
      showError(error, microphoneProblem(e));
      return;
    }
    if (stopped) {
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const c = {
      // the session cookie goes with it; a page cannot give a socket a header, so a token goes in the URL
      ws: new WebSocket(`${scheme}//${location.host}/api/v1/live${session.token ? `?token=${encodeURIComponent(session.token)}` : ''}`),
      stream,
      recorder: new MediaRecorder(stream, { mimeType: type }),
      audio: null,
      analyser: null,
      ending: false,
      started: null,
    };
    call = c;
    try { // the level meter is a help, not a need: without Web Audio the call goes on
      c.audio = new AudioContext();
      c.analyser = c.audio.createAnalyser();
      c.audio.createMediaStreamSource(stream).connect(c.analyser);
      c.audio.resume().catch(() => {});
    } catch (_) {
      c.analyser = null;
    }
    const priority = emergency.checked ? Priority.EMERGENCY : Priority.HIGH;
    c.ws.addEventListener('open', () => c.ws.send(JSON.stringify({ type: 'start', areas, priority })));
    c.ws.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      const frame = JSON.parse(event.data);
      if (frame.type === 'started') goLive(c, frame);
      if (frame.type === 'error' && c.started === null) finish(c, { problem: refusal(frame, areas) });
      if (frame.type === 'ended') {
        const text = endedText(frame, (Date.now() - c.started) / 1000);
        finish(c, frame.code === 'caller' ? { message: text } : { problem: text }); // ended by anything but 结束喊话: a problem
      }
    });
    c.ws.addEventListener('close', () => {
      finish(c, { problem: t(c.started === null ? 'live.error.connect' : 'live.ended.lost') });
    });
  };

  /** 结束喊话: the recorder hands over its last piece, then stop; the server answers `ended`. */
  const end = () => {
    if (!call || call.ending) return;
    const c = call;
    c.ending = true;
    show('live');
    c.recorder.stop();
    c.stopTimer = setTimeout(() => finish(c, { problem: t('live.ended.lost') }), STOP_WAIT_MS);
  };

  startButton.addEventListener('click', start);
  endButton.addEventListener('click', end);

  const callItem = (c) => {
    const stop = ctx.role === 'admin'
      ? h('button', { type: 'button', class: 'danger', testid: 'live-call-stop', onclick: () => stopCall(c) }, t('live.calls.stop'))
      : null;
    return h('li', { class: 'live-call', testid: 'live-call', dataset: { id: c.call_id } },
      h('span', { class: 'live-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'live-call-text' },
        h('strong', { testid: 'live-call-who' }, t('live.calls.who', { name: c.caller_name, areas: areaNames(c.areas) })),
        ' ',
        c.priority === Priority.EMERGENCY ? h('span', { class: 'badge prio-emergency' }, label('priority', c.priority)) : null,
        h('span', { class: 'muted small' }, t('live.calls.time', { time: clock(c.seconds) }))),
      stop);
  };

  async function loadCalls() {
    clearTimeout(pollTimer);
    try {
      const calls = await api('GET', '/live/calls');
      if (stopped) return;
      showError(callsError, null);
      replace(callsList, calls.map(callItem));
      callsEmpty.hidden = calls.length > 0;
    } catch (e) {
      if (!stopped) showError(callsError, e);
    }
    if (!stopped) pollTimer = setTimeout(loadCalls, CALLS_POLL_MS);
  }

  async function stopCall(c) {
    const who = { name: c.caller_name, areas: areaNames(c.areas) };
    if (!(await ctx.confirm(t('live.calls.stop.confirm', who), { yes: t('live.calls.stop.yes') }))) return;
    try {
      await api('DELETE', `/live/calls/${encodeURIComponent(c.call_id)}`);
      ctx.notify(t('live.calls.stopped', who));
    } catch (e) {
      ctx.notify(describeError(e), 'bad');
    }
    loadCalls();
  }

  loadCalls();

  const el = h('section', { class: 'live', testid: 'page-live' },
    h('div', { class: 'card live-card' },
      h('h2', {}, t('live.heading')),
      h('p', { class: 'muted' }, t('live.intro')),
      error,
      result,
      setup,
      onAir),
    h('div', { class: 'card' },
      h('h2', {}, t('live.calls.heading')),
      callsError,
      callsList,
      callsEmpty,
      h('p', {}, h('a', { href: '#/announcements', testid: 'live-history' }, t('live.history')))));
  return {
    el,
    /** Leaving the page ends the call: stop goes out at once, and the microphone is let go. */
    stop() {
      stopped = true;
      clearTimeout(pollTimer);
      if (call) {
        if (call.ws.readyState === WebSocket.OPEN && call.started !== null) call.ws.send(JSON.stringify({ type: 'stop' }));
        release(call);
        call = null;
      }
    },
  };
}
