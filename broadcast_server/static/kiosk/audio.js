// Audio: one play queue in priority order, as screen_client/player.py. `repeat` is already rendered
// into the clip by the server, so a clip plays once; an emergency interrupts a non-emergency (which
// plays again after it). Emergencies are the exception to "once": the clip is played again every
// EMERGENCY_GAP_MS for as long as the emergency is live, and stops the moment it is retracted or
// expires. During the area's quiet hours (from welcome) only emergencies play; the rest waits for
// their end. Where the browser refuses to play without a touch, `blocked` is emitted once and
// `unlock()` (called from a tap) retries.
import { Priority, priorityRank } from "../shared/vocabulary.js";

export const EMERGENCY_GAP_MS = 15000;
const QUIET_RECHECK_MS = 30000;
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
    this.current = null;
    this.blocked = false;
    this.repeatTimers = new Map(); // emergency id -> timer for its next play
    this.audio.addEventListener("ended", () => this._finished(true));
    this.audio.addEventListener("error", () => {
      if (this.current) console.warn("kiosk: cannot play audio of", this.current.ann.id, this.audio.error);
      this._finished(false);
    });
    setInterval(() => this._next(), QUIET_RECHECK_MS);
  }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  isLive(id) { return !!this.lookup(id); }

  /** Queue an announcement's audio; a newer revision replaces a queued one; an emergency preempts. */
  enqueue(ann) {
    if (!ann || !ann.audio || !ann.audio.url) return;
    const rank = priorityRank(ann.priority);
    if (this.current && this.current.ann.id === ann.id) {
      if (this.current.ann.audio.url === ann.audio.url) { this.current.ann = ann; return; }
    }
    const queued = this.queue.findIndex((e) => e.ann.id === ann.id);
    const order = queued >= 0 ? this.queue[queued].order : this.order++;
    if (queued >= 0) this.queue.splice(queued, 1);
    this.queue.push({ ann, rank, order });
    if (this.current && rank === EMERGENCY_RANK && this.current.rank > EMERGENCY_RANK) {
      // An emergency interrupts; the interrupted clip plays again from the start after it.
      if (!this.queue.some((e) => e.ann.id === this.current.ann.id)) this.queue.push(this.current);
      this._stopCurrent();
    } else if (this.current && this.current.ann.id === ann.id) {
      this._stopCurrent(); // new audio for the one playing: play the new clip
    }
    this._next();
  }

  /** Retracted (or expired): out of the queue, stopped if playing, no more emergency repeats. */
  drop(id) {
    this.queue = this.queue.filter((e) => e.ann.id !== id);
    clearTimeout(this.repeatTimers.get(id));
    this.repeatTimers.delete(id);
    if (this.current && this.current.ann.id === id) {
      this._stopCurrent();
      this._next();
    }
  }

  /** Called from a tap: the browser now allows sound. */
  unlock() {
    this.blocked = false;
    this._next();
  }

  get playingId() { return this.current ? this.current.ann.id : null; }

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
    if (!playable.length) return;
    playable.sort((a, b) => a.rank - b.rank || a.order - b.order);
    const entry = playable[0];
    this.queue.splice(this.queue.indexOf(entry), 1);
    this.current = entry;
    this.audio.src = entry.ann.audio.url;
    const started = this.audio.play();
    if (started && typeof started.catch === "function") {
      started.catch((err) => {
        if (this.current !== entry) return; // stopped meanwhile (AbortError)
        if (err && err.name === "NotAllowedError") {
          // Autoplay refused: keep it first in line and ask for one touch.
          this.current = null;
          this.queue.push(entry);
          this.blocked = true;
          this._emit("blocked");
        } else {
          console.warn("kiosk: cannot play", entry.ann.audio.url, err);
          this._finished(false);
        }
      });
    }
  }

  _finished(completed) {
    const entry = this.current;
    if (!entry) return;
    this.current = null;
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
