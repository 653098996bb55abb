// 录音: a recording the loudspeakers play instead of reading the text, recorded in the browser or uploaded from a
// phone. Compose and the timed broadcasts (定时广播) use it.

import { api } from './api.js';
import { h } from '../shared/dom.js';
import { t } from '../shared/i18n.js';
import { clock, describeError } from './util.js';

const RECORDING_MAX_S = 600; // docs/protocol.md §4.2: the server refuses a longer recording, so recording stops there
const RECORDING_MAX_BYTES = 50 * 1024 * 1024;
const RECORDING_TYPES = 'audio/*,.amr,.m4a'; // some phones label voice messages with no audio type

/**
 * Record in the browser (MediaRecorder; the button shows the time while recording, then a player to listen back
 * and 重录) or 上传录音文件. Either is uploaded at once (POST /media) and, once the server has checked and kept it,
 * `url()` is what the form sends as `recording`. A recording is for the loudspeakers (the server refuses one with
 * speak off): while one is attached the form's `speak` checkbox stays ticked. `changed(attached)` is told of every
 * change.
 */
export function recordingPicker({ speak, changed = () => {} }) {
  let url = null; // what the server kept
  let uploading = false;
  let attempt = 0; // an upload answered after the form moved on (set, 移除, 重录) attaches nothing
  let capture = null; // {recorder, stream, started, timer} while recording
  let localUrl = null; // the blob being listened to
  const error = h('p', { class: 'field-error', testid: 'error-recording', role: 'alert', hidden: true });
  const status = h('p', { class: 'recording-status', testid: 'recording-status', role: 'status', hidden: true });
  const record = h('button', { type: 'button', testid: 'recording-record' }, t('recording.record'));
  const input = h('input', { type: 'file', accept: RECORDING_TYPES, class: 'file-input', testid: 'recording-input' });
  const pick = h('label', { class: 'file-button', testid: 'recording-upload' }, input, h('span', {}, t('recording.upload')));
  const player = h('audio', { controls: true, preload: 'metadata', testid: 'recording-player', hidden: true });
  const remove = h('button', { type: 'button', class: 'small danger', testid: 'recording-remove', hidden: true },
    t('recording.remove'));
  const hint = h('span', { class: 'muted small' }, t('recording.hint'));

  const say = (message) => {
    error.textContent = message || '';
    error.hidden = !message;
  };
  const show = (text) => {
    status.textContent = text || '';
    status.hidden = !text;
  };
  const listenTo = (src) => {
    if (localUrl && localUrl !== src) URL.revokeObjectURL(localUrl);
    localUrl = src && src.startsWith('blob:') ? src : null;
    if (src) player.src = src;
    else player.removeAttribute('src');
    player.hidden = !src;
  };
  const draw = () => {
    const recording = capture !== null;
    record.textContent = recording
      ? t('recording.stop', { time: clock((Date.now() - capture.started) / 1000) })
      : t(url || player.src ? 'recording.again' : 'recording.record');
    record.classList.toggle('danger', recording);
    record.setAttribute('aria-pressed', String(recording));
    record.disabled = uploading;
    input.disabled = uploading || recording;
    pick.classList.toggle('disabled', input.disabled);
    remove.hidden = !url || recording;
    status.classList.toggle('attached', url !== null);
    hint.hidden = url !== null; // how to record matters before there is a recording; then the status says what plays
  };

  // every change reaches the form; its speak box follows
  const tellForm = (attached) => {
    if (attached) speak.checked = true;
    speak.disabled = attached;
    changed(attached);
  };

  const release = () => {
    if (!capture) return;
    clearInterval(capture.timer);
    capture.stream.getTracks().forEach((track) => track.stop());
    capture = null;
  };

  /** Let go of the attached recording and of an upload under way. */
  const forget = () => {
    attempt += 1;
    uploading = false;
    url = null;
  };

  const keep = async (blob, name, seconds) => {
    forget();
    const mine = attempt;
    uploading = true;
    say(null);
    show(t('recording.uploading'));
    draw();
    tellForm(false);
    const form = new FormData();
    form.append('file', blob, name);
    try {
      const stored = await api('POST', '/media', { form });
      if (mine !== attempt) return;
      if (stored.kind !== 'audio') throw new Error(t('error.code.recording_not_audio')); // a picture: 图片 takes those
      url = stored.url;
      show(t('recording.attached', { time: clock(stored.duration_s ?? seconds) }));
    } catch (e) {
      if (mine !== attempt) return;
      listenTo(null);
      show(null);
      say(t('recording.failed', { error: describeError(e) }));
    } finally {
      if (mine === attempt) {
        uploading = false;
        draw();
        tellForm(url !== null);
      }
    }
  };

  const start = async () => {
    say(null);
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      say(t('recording.no_mic'));
      return;
    }
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recorder.addEventListener('dataavailable', (event) => { if (event.data.size) chunks.push(event.data); });
    recorder.addEventListener('stop', () => {
      if (!capture || capture.recorder !== recorder) return; // let go of (the page was left, the form refilled)
      const seconds = (Date.now() - capture.started) / 1000;
      release();
      const blob = new Blob(chunks, { type: recorder.mimeType });
      listenTo(URL.createObjectURL(blob));
      keep(blob, recorder.mimeType.includes('ogg') ? 'recording.ogg' : 'recording.webm', seconds);
    });
    listenTo(null);
    forget();
    show(null);
    tellForm(false);
    capture = { recorder, stream, started: Date.now(), timer: null };
    capture.timer = setInterval(() => {
      if (Date.now() - capture.started >= RECORDING_MAX_S * 1000) recorder.stop();
      else draw();
    }, 250);
    recorder.start(1000);
    draw();
  };

  record.addEventListener('click', () => {
    if (capture) capture.recorder.stop();
    else start();
  });
  input.addEventListener('change', () => {
    const [file] = input.files;
    input.value = ''; // the same file may be chosen again
    if (!file) return;
    if (file.size > RECORDING_MAX_BYTES) {
      say(t('recording.failed', { error: t('error.code.recording_too_large') }));
      return;
    }
    listenTo(URL.createObjectURL(file));
    keep(file, file.name, null);
  });
  remove.addEventListener('click', () => {
    forget();
    listenTo(null);
    show(null);
    say(null);
    draw();
    tellForm(false);
  });
  // a stored recording (a copied notice's, a timed broadcast's being edited) says its length once the player knows it
  player.addEventListener('loadedmetadata', () => {
    if (url && player.src === new URL(url, location.href).href && Number.isFinite(player.duration)) {
      show(t('recording.attached', { time: clock(player.duration) }));
    }
  });
  draw();

  const el = h('div', { class: 'field wide recording', dataset: { field: 'recording' } },
    h('span', { class: 'label' }, t('recording')),
    h('div', { class: 'pictures-add' }, record, pick, remove, hint),
    status,
    player,
    error);
  return {
    el,
    url: () => url,
    busy: () => uploading || capture !== null,
    /** Attach this stored recording (a copied notice's, an edited timed broadcast's), or none. */
    set(stored) {
      release();
      forget();
      url = stored;
      listenTo(stored);
      show(stored ? t('recording.attached.stored') : null);
      say(null);
      draw();
      tellForm(url !== null);
    },
    /** Leaving the page: the microphone is let go. */
    stop() {
      release();
      listenTo(null);
    },
  };
}
