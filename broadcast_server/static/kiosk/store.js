// What the kiosk holds, kept in localStorage so a reload or a server outage keeps everything shown:
// the announcements, last_seq, answers to this screen's tickets, the reply outbox, receipts sent, and
// the live calls in progress (a reload mid-call resumes from last_seq, so its `started` is not sent again).
// One JSON value under one key, written whole: a crash between two writes never leaves half a state.
import { LiveState, RequestStatus, priorityRank } from "../shared/vocabulary.js";

const STATE_KEY = "vb.kiosk.state";
const TOKEN_KEY = "vb.kiosk.token";
const OUTBOX_KEEP = 20; // answered replies kept (their ticket is shown); older ones are forgotten

function emptyState() {
  return {
    lastSeq: null,
    replayFrom: undefined, // set while a replay is unfinished: the last_seq it started from
    identity: null,
    quietHours: null,
    announcements: {}, // id -> {ann, seq}
    answers: {}, // ticket -> {ticket, status, response, seq, rating}
    outbox: [], // {client_msg_id, reply, created, sentAt, retryAt, ticket, error}
    played: {}, // announcement id -> audio url played to the end
    receipts: {}, // "id:state" -> true, sent (id: an announcement's or a call's)
    calls: {}, // call_id -> {call_id, priority, stream_url, caller_name, seq}: live calls in progress
  };
}

export function loadToken() {
  try { return localStorage.getItem(TOKEN_KEY); } catch (_) { return null; }
}

export function saveToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function clearAll() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(STATE_KEY);
}

/** A ticket as compared: "a7k 3qx" and "A7K-3QX" are the same ticket (docs/protocol.md §2.11.2). */
function normalTicket(value) {
  return String(value ?? "").toUpperCase().replace(/[\s-]/g, "");
}

function expired(ann, now) {
  return ann.expires_at != null && Date.parse(ann.expires_at) <= now;
}

export class Store {
  constructor() {
    this.state = emptyState();
    try {
      const raw = localStorage.getItem(STATE_KEY);
      if (raw) this.state = Object.assign(emptyState(), JSON.parse(raw));
    } catch (err) {
      console.warn("kiosk: stored state unreadable, starting empty", err);
    }
  }

  save() {
    try {
      localStorage.setItem(STATE_KEY, JSON.stringify(this.state));
    } catch (err) {
      console.error("kiosk: could not save state", err);
    }
  }

  get lastSeq() { return this.state.lastSeq; }

  /** The last_seq for hello: while a replay is unfinished, the one it started from (so a cut-short reset is redone). */
  resumeSeq() {
    return this.state.replayFrom !== undefined ? this.state.replayFrom : this.state.lastSeq;
  }

  beginReplay(resumedFrom, welcome) {
    const s = this.state;
    s.identity = { screen_id: welcome.screen_id, area: welcome.area, area_name: welcome.area_name ?? null, kind: welcome.kind };
    s.quietHours = welcome.quiet_hours || null;
    if (s.lastSeq !== null && typeof welcome.head_seq === "number" && welcome.head_seq < s.lastSeq) {
      // The server's sequence is behind ours (its database was replaced): it replays everything (reset).
      s.lastSeq = null;
      s.replayFrom = null;
    } else if (s.replayFrom === undefined) {
      s.replayFrom = resumedFrom;
    }
    this.save();
  }

  /** `synced`: on a reset, drop what the replay did not mention (calls too: a reset replays those in progress).
   * Returns the dropped announcement ids. */
  finishReplay(reset, mentioned) {
    const dropped = [];
    if (reset) {
      for (const id of Object.keys(this.state.announcements)) {
        if (!mentioned.has(id)) {
          delete this.state.announcements[id];
          dropped.push(id);
        }
      }
      for (const id of Object.keys(this.state.calls)) if (!mentioned.has(id)) delete this.state.calls[id];
    }
    delete this.state.replayFrom;
    this.prune();
    this.save();
    return dropped;
  }

  _advance(seq) {
    if (typeof seq !== "number") return false;
    if (this.state.lastSeq !== null && seq <= this.state.lastSeq) return false; // a repeat
    this.state.lastSeq = seq;
    return true;
  }

  /** Store an announcement event; true when it changed what is shown (dedupe by seq and (id, revision)). */
  applyAnnouncement(seq, ann) {
    if (!ann || typeof ann.id !== "string") return false;
    if (!this._advance(seq)) return false;
    const held = this.state.announcements[ann.id];
    if (held && held.ann.revision >= ann.revision) {
      this.save();
      return false;
    }
    this.state.announcements[ann.id] = { ann, seq };
    this.save();
    return true;
  }

  applyRetract(seq, id) {
    if (!this._advance(seq)) return false;
    const had = id in this.state.announcements;
    delete this.state.announcements[id];
    this.prune();
    this.save();
    return had;
  }

  /** An `area` event: this kiosk's own area's entry (its name and dwell as they now are), or null if not named. */
  applyArea(msg) {
    if (!this._advance(msg.seq)) return null;
    const mine = (msg.areas || {})[this.state.identity?.area];
    if (mine) this.state.identity = { ...this.state.identity, area_name: mine.area_name ?? null };
    this.save();
    return mine || null;
  }

  /** A `live` event: a call started (held until it ends) or ended; true when the calls in progress changed. */
  applyLive(msg) {
    if (!this._advance(msg.seq)) return false;
    let changed = false;
    if (msg.state === LiveState.STARTED && typeof msg.stream_url === "string") {
      const { call_id, priority, stream_url, caller_name = null, seq } = msg;
      this.state.calls[call_id] = { call_id, priority, stream_url, caller_name, seq };
      changed = true;
    } else if (msg.state === LiveState.ENDED && msg.call_id in this.state.calls) {
      delete this.state.calls[msg.call_id];
      this.prune();
      changed = true;
    }
    this.save();
    return changed;
  }

  /** The live calls in progress, first started first: the first is played and shown, the next waits for its end. */
  calls() {
    return Object.values(this.state.calls).sort((a, b) => a.seq - b.seq);
  }

  applyRequestUpdate(msg) {
    if (!this._advance(msg.seq)) return false;
    const old = this.state.answers[msg.ticket] || {};
    const resolvedAgain = msg.status === RequestStatus.RESOLVED && old.status !== RequestStatus.RESOLVED; // ask again
    const rating = resolvedAgain ? null : old.rating ?? null;
    this.state.answers[msg.ticket] = {
      ...old, rating, ticket: msg.ticket, status: msg.status, response: msg.response ?? null, seq: msg.seq, at: Date.now(),
    };
    this.save();
    return true;
  }

  /** Live announcements: emergency > high > normal > low, newest first within; expired ones left out. */
  announcements(now = Date.now()) {
    return Object.values(this.state.announcements)
      .filter(({ ann }) => !expired(ann, now))
      .sort((a, b) => {
        const ra = priorityRank(a.ann.priority);
        const rb = priorityRank(b.ann.priority);
        if (ra !== rb) return ra - rb;
        const pa = Date.parse(a.ann.published_at) || 0;
        const pb = Date.parse(b.ann.published_at) || 0;
        if (pa !== pb) return pb - pa;
        return b.seq - a.seq;
      })
      .map(({ ann }) => ann);
  }

  isLive(id, now = Date.now()) {
    const held = this.state.announcements[id];
    return !!held && !expired(held.ann, now);
  }

  get(id) {
    const held = this.state.announcements[id];
    return held ? held.ann : null;
  }

  /** The next moment an announcement expires (to redraw then), or null. */
  nextExpiry(now = Date.now()) {
    let next = null;
    for (const { ann } of Object.values(this.state.announcements)) {
      const at = ann.expires_at != null ? Date.parse(ann.expires_at) : NaN;
      if (at > now && (next === null || at < next)) next = at;
    }
    return next;
  }

  // ---------------------------------------------------------------- audio and receipts

  needsPlaying(ann) {
    return !!(ann && ann.audio && ann.audio.url && this.state.played[ann.id] !== ann.audio.url);
  }

  markPlayed(id, url) {
    this.state.played[id] = url;
    this.save();
  }

  receiptSent(id, state) { return !!this.state.receipts[`${id}:${state}`]; }

  markReceipt(id, state) {
    this.state.receipts[`${id}:${state}`] = true;
    this.save();
  }

  /** Forget playback and receipt marks of announcements (and calls) no longer held. */
  prune() {
    const held = this.state.announcements;
    for (const id of Object.keys(this.state.played)) if (!(id in held)) delete this.state.played[id];
    for (const key of Object.keys(this.state.receipts)) {
      const id = key.slice(0, key.lastIndexOf(":"));
      if (!(id in held) && !(id in this.state.calls)) delete this.state.receipts[key];
    }
  }

  // ---------------------------------------------------------------- replies and answers

  addReply(reply) {
    this.state.outbox.push({ client_msg_id: reply.client_msg_id, reply, created: Date.now(), sentAt: null, retryAt: 0, ticket: null, error: null });
    this.save();
  }

  outboxEntry(id) { return this.state.outbox.find((e) => e.client_msg_id === id) || null; }

  /** Replies still waiting for a ticket that may be sent now. */
  unanswered(now = Date.now(), resendAfterMs = null) {
    return this.state.outbox.filter((e) => !e.ticket && !e.error && (e.retryAt || 0) <= now
      && (resendAfterMs === null || e.sentAt === null || now - e.sentAt >= resendAfterMs));
  }

  markSent(ids, now = Date.now()) {
    for (const e of this.state.outbox) if (ids.includes(e.client_msg_id)) e.sentAt = now;
    this.save();
  }

  markAnswered(id, ticket) {
    const entry = this.outboxEntry(id);
    if (!entry || entry.ticket === ticket) return false;
    entry.ticket = ticket;
    entry.notice = null;
    // Keep only what the screen shows: the ticket. The villager's text and phone leave the browser's storage.
    entry.reply = { client_msg_id: id, category: entry.reply.category };
    const answered = this.state.outbox.filter((e) => e.ticket);
    if (answered.length > OUTBOX_KEEP) {
      const drop = new Set(answered.slice(0, answered.length - OUTBOX_KEEP).map((e) => e.client_msg_id));
      this.state.outbox = this.state.outbox.filter((e) => !drop.has(e.client_msg_id));
    }
    this.save();
    return true;
  }

  /** A transient refusal (rate limited): try again at `retryAt`, and say why meanwhile. */
  markRetry(id, retryAt, notice) {
    const entry = this.outboxEntry(id);
    if (!entry || entry.ticket) return false;
    entry.retryAt = retryAt;
    entry.sentAt = null; // resend as soon as retryAt has passed
    entry.notice = notice;
    this.save();
    return true;
  }

  markFailed(id, error) {
    const entry = this.outboxEntry(id);
    if (!entry || entry.ticket) return false;
    entry.error = error;
    this.save();
    return true;
  }

  markRated(ticket, rating) {
    const answer = this.state.answers[ticket];
    if (!answer) return;
    answer.rating = rating;
    this.save();
  }

  /** The matter with this ticket, as a villager typed or scanned it (case, spaces and dashes ignored, as the
   * server's lookups), from this screen's answers and its own replies; null for a ticket this screen never had. */
  matter(typed) {
    const wanted = normalTicket(typed);
    if (!wanted) return null;
    const answer = Object.values(this.state.answers).find((a) => normalTicket(a.ticket) === wanted);
    if (answer) return answer;
    const sent = this.state.outbox.find((e) => e.ticket && normalTicket(e.ticket) === wanted);
    return sent ? { ticket: sent.ticket, status: RequestStatus.RECEIVED, response: null, rating: null } : null;
  }
}
