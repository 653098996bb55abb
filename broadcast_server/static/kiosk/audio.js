// Audio: one play queue in priority order, as screen_client/player.py. `repeat` is already rendered
// into the clip by the server, so a clip plays once; an emergency interrupts a non-emergency (which
// plays again after it). Emergencies are the exception to "once": the clip is played again every
// EMERGENCY_GAP_MS for as long as the emergency is live, and stops the moment it is retracted or
// expires. During the area's quiet hours (from welcome) only emergencies play; the rest waits for
// their end. Where the browser refuses to play without a touch, `blocked` is emitted once and
// `unlock()` (called from a tap) retries.
//
// A live call (实时喊话, `setLive`) plays its stream from its start to its end, on the same element: it
// cuts off any clip but an emergency's (an emergency call cuts off those too), and the clip it cut off
// plays again from the start after it, as after an emergency. An emergency clip that arrives during a
// non-emergency call plays first; the call's stream is taken up again after it. `live` is emitted each
// time the stream starts to sound (the element's `playing`), for the call's receipt.
import { Priority, priorityRank } from "../shared/vocabulary.js";

export const EMERGENCY_GAP_MS = 15000;
const QUIET_RECHECK_MS = 30000;
const LIVE_RETRY_MS = 3000; // a call's stream that broke off (network, a full server) is opened again after this
const EMERGENCY_RANK = priorityRank(Priority.EMERGENCY);

function minutesOf(hhmm) {
  const m = /^(\d{1,2}):(\d{2})/.exec(hhmm || "");
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** True when `now` falls inside quiet hours {start, end, timezone} (a span may cross midnight). */
export function isQuiet(quiet, now = new Date()) {
  if (!quiet) return false;
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === null || end === null || start === end) return false;
  let hour;
  let minute;
  try {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: quiet.timezone || undefined, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(now);
    hour = Number(parts.find((p) => p.type === "hour").value);
    minute = Number(parts.find((p) => p.type === "minute").value);
  } catch (_) {
    hour = now.getHours();
    minute = now.getMinutes();
  }
  const t = (hour % 24) * 60 + minute;
  return start < end ? t >= start && t < end : t >= start || t < end;
}

/** An emergency clip goes before a call, unless the call is an emergency too; every other clip goes after it. */
function clipBeforeCall(clip, call) {
  return clip.rank === EMERGENCY_RANK && call.rank > EMERGENCY_RANK;
}

export class Player extends EventTarget {
  /** lookup(id) gives the announcement's newest revision while it is held and unexpired, else null. */
  constructor({ lookup, getQuiet }) {
    super();
    this.lookup = lookup;
    this.getQuiet = getQuiet;
    this.audio = new Audio();
    this.audio.preload = "auto";
    this.queue = []; // {ann, rank, order}
    this.order = 0;
    this.live = null; // the call in progress: {live: true, id, url, rank, retryAt}
    this.current = null; // a queue entry, or `live`
    this.blocked = false;
    this.repeatTimers = new Map(); // emergency id -> timer for its next play
    this.audio.addEventListener("ended", () => this._finished(true));
    this.audio.addEventListener("error", () => {
      if (this.current) console.warn("kiosk: cannot play audio of", this._name(this.current), this.audio.error);
      this._finished(false);
    });
    this.audio.addEventListener("playing", () => {
      if (this.current && this.current.live) this._emit("live", this.current.id);
    });
    setInterval(() => this._next(), QUIET_RECHECK_MS);
  }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  isLive(id) { return !!this.lookup(id); }

  _name(entry) { return entry.live ? `call ${entry.id}` : entry.ann.id; }

  /** True while this announcement's clip (not a call) is the one playing. */
  _playing(id) { return !!this.current && !this.current.live && this.current.ann.id === id; }

  /** Stop what plays for something that goes first; a clip cut off plays again from the start after it. */
  _interrupt() {
    const entry = this.current;
    if (!entry.live && !this.queue.some((e) => e.ann.id === entry.ann.id)) this.queue.push(entry);
    this._stopCurrent();
  }

  /** Queue an announcement's audio; a newer revision replaces a queued one; an emergency preempts. */
  enqueue(ann) {
    if (!ann || !ann.audio || !ann.audio.url) return;
    const rank = priorityRank(ann.priority);
    if (this._playing(ann.id) && this.current.ann.audio.url === ann.audio.url) {
      this.current.ann = ann;
      return;
    }
    const queued = this.queue.findIndex((e) => e.ann.id === ann.id);
    const order = queued >= 0 ? this.queue[queued].order : this.order++;
    if (queued >= 0) this.queue.splice(queued, 1);
    this.queue.push({ ann, rank, order });
    if (this.current && rank === EMERGENCY_RANK && this.current.rank > EMERGENCY_RANK) {
      this._interrupt(); // an emergency goes first, before a clip or a call
    } else if (this._playing(ann.id)) {
      this._stopCurrent(); // new audio for the one playing: play the new clip
    }
    this._next();
  }

  /** Retracted (or expired): out of the queue, stopped if playing, no more emergency repeats. */
  drop(id) {
    this.queue = this.queue.filter((e) => e.ann.id !== id);
    clearTimeout(this.repeatTimers.get(id));
    this.repeatTimers.delete(id);
    if (this._playing(id)) {
      this._stopCurrent();
      this._next();
    }
  }

  /** The call to play now, {id, url, priority}, or null once it has ended: its stream plays until then. */
  setLive(call) {
    if ((call ? call.id : null) === (this.live ? this.live.id : null)) return;
    const current = this.current;
    this.live = call ? { live: true, id: call.id, url: call.url, rank: priorityRank(call.priority), retryAt: 0 } : null;
    if (current && current.live) this._stopCurrent(); // the call it played has ended (or another took its place)
    else if (current && this.live && !this._held(this.live) && !clipBeforeCall(current, this.live)) this._interrupt();
    this._next();
  }

  /** Called from a tap: the browser now allows sound. */
  unlock() {
    this.blocked = false;
    this._next();
  }

  /** The announcement whose clip is playing (a call is not one), or null. */
  get playingId() { return this.current && !this.current.live ? this.current.ann.id : null; }

  _stopCurrent() {
    this.current = null;
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
  }

  _held(entry) {
    return entry.rank !== EMERGENCY_RANK && isQuiet(this.getQuiet());
  }

  _next() {
    if (this.current || this.blocked) return;
    this.queue = this.queue.filter((e) => this.isLive(e.ann.id)); // expired or retracted while queued
    const playable = this.queue.filter((e) => !this._held(e));
    playable.sort((a, b) => a.rank - b.rank || a.order - b.order);
    const live = this.live && !this._held(this.live) ? this.live : null;
    if (live && !(playable.length && clipBeforeCall(playable[0], live))) {
      if (live.retryAt <= Date.now()) this._play(live); // else its stream broke off: no clip slips in before the retry
      return;
    }
    if (!playable.length) return;
    const entry = playable[0];
    this.queue.splice(this.queue.indexOf(entry), 1);
    this._play(entry);
  }

  _play(entry) {
    this.current = entry;
    const url = entry.live ? entry.url : entry.ann.audio.url;
    this.audio.src = url;
    const started = this.audio.play();
    if (started && typeof started.catch === "function") {
      started.catch((err) => {
        if (this.current !== entry) return; // stopped meanwhile (AbortError)
        if (err && err.name === "NotAllowedError") {
          // Autoplay refused: keep it first in line (a call stays in `live`) and ask for one touch.
          this.current = null;
          if (!entry.live) this.queue.push(entry);
          this.blocked = true;
          this._emit("blocked");
        } else {
          console.warn("kiosk: cannot play", url, err);
          this._finished(false);
        }
      });
    }
  }

  _finished(completed) {
    const entry = this.current;
    if (!entry) return;
    this.current = null;
    if (entry.live) {
      // A call's stream ends only with the call, which stops it first: it broke off. Listen again shortly.
      entry.retryAt = Date.now() + LIVE_RETRY_MS;
      setTimeout(() => this._next(), LIVE_RETRY_MS);
      return;
    }
    if (completed) this._emit("played", entry.ann);
    if (entry.rank === EMERGENCY_RANK && this.isLive(entry.ann.id)) {
      clearTimeout(this.repeatTimers.get(entry.ann.id));
      this.repeatTimers.set(entry.ann.id, setTimeout(() => {
        this.repeatTimers.delete(entry.ann.id);
        const latest = this.lookup(entry.ann.id);
        if (latest) this.enqueue(latest);
      }, completed ? EMERGENCY_GAP_MS : EMERGENCY_GAP_MS * 2));
    }
    this._next();
  }
}
