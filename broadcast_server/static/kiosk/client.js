// The screen side of the WebSocket protocol (docs/protocol.md §3), the browser twin of
// screen_client/client.py: hello with last_seq, welcome, replay, synced (reset drops what the replay
// did not mention), live events stored before the cumulative ack, live calls (started to ended), receipts,
// replies through the outbox until reply_result, feedback, ping with a liveness timeout, and reconnecting
// with a jittered exponential back-off. The token goes in the hello frame, never in the page's URL; the
// one URL that carries it is a live call's stream (main.js: an <audio> element cannot send a header,
// and the server's log redacts it).

import { LiveState } from "../shared/vocabulary.js";

export const VERSION = "1.0.0";
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_REPLACED = 4409;
const TRANSIENT = new Set(["rate_limited", "internal"]);

// Reconnecting as the Python screen client does: the same numbers as screen_client/client.py's
// Timing (there in seconds, here in milliseconds), so a kiosk and a `village-screen` cut off together
// come back on the same schedule (docs/protocol.md §3.11). Change them there and here together
// (tests/web/test_kiosk.py compares them).
export const RECONNECT = Object.freeze({
  backoffInitial: 1000, // Timing.backoff_initial = 1.0: the first reconnect waits up to this long (random), ...
  backoffFactor: 2, // Timing.backoff_factor = 2.0: ... each failure after that up to this factor longer, ...
  backoffMax: 60000, // Timing.backoff_max = 60.0: ... never more than this
  replacedDelay: 30000, // Timing.replaced_delay = 30.0: closed with 4409 (another device has our token): wait 1 to 2 times this
});

export const DEFAULT_TIMING = {
  pingInterval: 20000, // send `ping` this often
  pingTimeout: 20000, // nothing heard for pingInterval + pingTimeout: the link is dead
  welcomeTimeout: 10000, // from opening the socket to `welcome`
  ...RECONNECT,
  outboxInterval: 2000, // look at the outbox this often
  outboxResend: 60000, // resend a reply with no ticket after this long
};

/** 32 hex digits from crypto.getRandomValues (crypto.randomUUID is missing on plain-http pages). */
export function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class Backoff {
  constructor(timing) { this.timing = timing; this.attempt = 0; }
  next() {
    const { backoffInitial, backoffFactor, backoffMax } = this.timing;
    const ceiling = Math.min(backoffMax, backoffInitial * backoffFactor ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 64);
    return Math.random() * ceiling; // full jitter: screens cut off together do not come back together
  }
  reset() { this.attempt = 0; }
}

export class KioskClient extends EventTarget {
  constructor({ token, store, timing = {} }) {
    super();
    this.token = token;
    this.store = store;
    this.timing = { ...DEFAULT_TIMING, ...timing };
    this.backoff = new Backoff(this.timing);
    this.link = null; // the open connection, once welcomed
    this.status = "connecting"; // connecting | online | offline | unauthorized
    this.pendingReceipts = [];
    this.reconnectTimer = null;
    this.stopped = false;
    setInterval(() => this._pumpOutbox(), this.timing.outboxInterval);
    window.addEventListener("online", () => this.reconnectNow());
  }

  get synced() { return !!(this.link && this.link.synced); }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this._emit("status", status);
  }

  start() { this._connect(); }

  reconnectNow() {
    if (this.stopped || this.link || !this.reconnectTimer) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this._connect();
  }

  _connect() {
    this.reconnectTimer = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws`);
    } catch (err) {
      console.warn("kiosk: cannot open the WebSocket", err);
      this._scheduleReconnect(this.backoff.next());
      return;
    }
    const link = { ws, welcomed: false, synced: false, mentioned: new Set(), acked: null, lastRx: Date.now(), timers: [], done: false };
    link.timers.push(setTimeout(() => {
      if (!link.welcomed) this._drop(link, "no welcome in time");
    }, this.timing.welcomeTimeout));
    ws.onopen = () => {
      const resumedFrom = this.store.resumeSeq();
      link.resumedFrom = resumedFrom;
      ws.send(JSON.stringify({
        type: "hello", token: this.token, last_seq: resumedFrom ?? null,
        client: { name: "browser-kiosk", version: VERSION },
      }));
    };
    ws.onmessage = (ev) => {
      link.lastRx = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (_) {
        console.warn("kiosk: ignoring a frame that is not JSON");
        return;
      }
      if (!msg || typeof msg.type !== "string") return;
      try {
        this._dispatch(link, msg);
      } catch (err) {
        console.error("kiosk: failed to handle", msg.type, err);
      }
    };
    ws.onclose = (ev) => this._closed(link, ev.code);
    ws.onerror = () => { /* a close event follows */ };
  }

  /** Give up on a link at once (dead or stuck): do not wait for a closing handshake that may never come. */
  _drop(link, why) {
    console.warn(`kiosk: ${why}; reconnecting`);
    try { link.ws.close(4000, why.slice(0, 100)); } catch (_) { /* already closed */ }
    this._closed(link, null);
  }

  _closed(link, code) {
    if (link.done) return;
    link.done = true;
    link.ws.onopen = link.ws.onmessage = link.ws.onclose = null;
    for (const timer of link.timers) { clearTimeout(timer); clearInterval(timer); }
    if (this.link === link) this.link = null;
    if (this.stopped) return;
    if (code === CLOSE_UNAUTHORIZED) {
      this.stopped = true;
      this._setStatus("unauthorized");
      return;
    }
    this._setStatus("offline");
    let delay;
    if (code === CLOSE_REPLACED) {
      delay = this.timing.replacedDelay * (1 + Math.random());
      console.warn(`kiosk: another connection with this screen's token replaced us (4409); waiting ${Math.round(delay / 1000)} s`);
    } else {
      delay = this.backoff.next();
    }
    this._scheduleReconnect(delay);
  }

  _scheduleReconnect(delay) {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this._connect(), delay);
  }

  _send(link, obj) {
    if (!link || link.done || link.ws.readyState !== WebSocket.OPEN) return false;
    link.ws.send(JSON.stringify(obj));
    return true;
  }

  // ---------------------------------------------------------------- frames from the server

  _dispatch(link, msg) {
    if (!link.welcomed) {
      if (msg.type === "welcome") return this._onWelcome(link, msg);
      if (msg.type === "error") console.error("kiosk: the server refused hello:", msg.code, msg.message);
      return;
    }
    switch (msg.type) {
      case "announcement": return this._onAnnouncement(link, msg);
      case "retract": return this._onRetract(link, msg);
      case "request_update": return this._onRequestUpdate(link, msg);
      case "area": return this._onArea(link, msg);
      case "live": return this._onLive(link, msg);
      case "synced": return this._onSynced(link, msg);
      case "reply_result": return this._onReplyResult(msg);
      case "error": return this._onError(msg);
      default: return undefined; // pong, and types added after this page was written
    }
  }

  _onWelcome(link, msg) {
    link.welcomed = true;
    this.store.beginReplay(link.resumedFrom ?? null, msg);
    this.link = link;
    link.timers.push(setInterval(() => this._keepalive(link), this.timing.pingInterval));
    this._emit("welcome", msg);
  }

  _onAnnouncement(link, msg) {
    const ann = msg.announcement;
    if (!ann) return;
    link.mentioned.add(ann.id);
    if (this.store.applyAnnouncement(msg.seq, ann)) this._emit("announcement", ann);
    this._ack(link);
  }

  _onRetract(link, msg) {
    link.mentioned.delete(msg.announcement_id);
    if (this.store.applyRetract(msg.seq, msg.announcement_id)) this._emit("retract", msg.announcement_id);
    this._ack(link);
  }

  _onRequestUpdate(link, msg) {
    if (this.store.applyRequestUpdate(msg)) this._emit("answers", msg);
    this._ack(link);
  }

  _onArea(link, msg) {
    const mine = this.store.applyArea(msg);
    if (mine) this._emit("area", mine);
    this._ack(link);
  }

  /** A live call started or ended (PROTOCOL.md §5); a reset replay drops the calls it does not mention. */
  _onLive(link, msg) {
    if (msg.state === LiveState.STARTED) link.mentioned.add(msg.call_id);
    if (this.store.applyLive(msg)) this._emit("live", msg);
    this._ack(link);
  }

  _onSynced(link, msg) {
    if (link.synced) return;
    const dropped = this.store.finishReplay(!!msg.reset, link.mentioned);
    for (const id of dropped) this._emit("retract", id);
    link.synced = true;
    this.backoff.reset();
    this._setStatus("online");
    this._ack(link);
    this._sendReplies(link, this.store.unanswered());
    this._flushReceipts(link);
    this._emit("synced", msg);
  }

  _onReplyResult(msg) {
    if (this.store.markAnswered(msg.client_msg_id, msg.ticket)) this._emit("reply_result", msg);
  }

  _onError(msg) {
    console.warn("kiosk: the server answered with an error:", msg.code, msg.message);
    if (msg.ref != null && this.store.outboxEntry(msg.ref)) {
      if (TRANSIENT.has(msg.code)) {
        const wait = (Number(msg.retry_after_s) || 30) * 1000;
        this.store.markRetry(msg.ref, Date.now() + wait, msg.code);
      } else {
        this.store.markFailed(msg.ref, { code: msg.code, message: msg.message || "" });
      }
    }
    this._emit("server_error", msg);
  }

  _ack(link) {
    const seq = this.store.lastSeq;
    if (link.synced && seq !== null && seq !== link.acked && this._send(link, { type: "ack", seq })) link.acked = seq;
  }

  // ---------------------------------------------------------------- what the kiosk sends on its own

  _keepalive(link) {
    if (Date.now() - link.lastRx > this.timing.pingInterval + this.timing.pingTimeout) {
      this._drop(link, "nothing from the server");
      return;
    }
    this._send(link, { type: "ping" });
  }

  _sendReplies(link, entries) {
    const sent = [];
    for (const entry of entries) {
      if (this._send(link, { type: "reply", ...entry.reply })) sent.push(entry.client_msg_id);
    }
    if (sent.length) this.store.markSent(sent);
  }

  _pumpOutbox() {
    if (this.synced) this._sendReplies(this.link, this.store.unanswered(Date.now(), this.timing.outboxResend));
  }

  /** A `displayed` or `played` receipt, once per announcement and state; held while offline. */
  receipt(id, state) { this._queueReceipt({ id, state, call: false }); }

  /** A live call's receipt (named by call_id), once per call and state; held while offline, sent even if the
   * call has ended meanwhile (the server counts it as long as the call was sent to this screen). */
  callReceipt(callId, state) { this._queueReceipt({ id: callId, state, call: true }); }

  _queueReceipt(receipt) {
    const { id, state } = receipt;
    if (this.store.receiptSent(id, state) || this.pendingReceipts.some((r) => r.id === id && r.state === state)) return;
    this.pendingReceipts.push(receipt);
    if (this.synced) this._flushReceipts(this.link);
  }

  _flushReceipts(link) {
    while (this.pendingReceipts.length) {
      const { id, state, call } = this.pendingReceipts[0];
      if (!call && !this.store.get(id)) { this.pendingReceipts.shift(); continue; }
      const frame = call ? { type: "receipt", call_id: id, state } : { type: "receipt", announcement_id: id, state };
      if (!this._send(link, frame)) return;
      this.store.markReceipt(id, state);
      this.pendingReceipts.shift();
    }
  }

  // ---------------------------------------------------------------- what a villager does

  /** Into the outbox first (it survives a reload), then sent if online; the ticket comes as reply_result. */
  reply({ category, text, announcementId = null, name = "", phone = "" }) {
    const reply = { client_msg_id: randomId(), announcement_id: announcementId, category, text };
    const contact = {};
    if (name.trim()) contact.name = name.trim();
    if (phone.trim()) contact.phone = phone.trim();
    if (Object.keys(contact).length) reply.contact = contact;
    this.store.addReply(reply);
    if (this.synced) this._sendReplies(this.link, [this.store.outboxEntry(reply.client_msg_id)]);
    return reply.client_msg_id;
  }

  /** The villager's verdict on a resolved request; false when offline (feedback has no idempotency key). */
  feedback(ticket, rating) {
    if (!this.synced) return false;
    return this._send(this.link, { type: "feedback", ticket, rating });
  }
}
