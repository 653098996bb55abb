// The kiosk page at /screen: the browser twin of the Python screen client.
//
// Set-up: the device token comes once as /screen#token=..., is kept in localStorage and removed from
// the address bar. For tests and unusual devices, localStorage "vb.kiosk.timing" may hold a JSON
// object overriding intervals (see client.js DEFAULT_TIMING, plus cycleMs for the display cycle).
//
// Everything from the server or typed by a villager is put on the page with textContent only.
import { byTestId, h } from "../shared/dom.js";
import { t, setLang, otherLang, formatTime, formatDate, formatClock, translateStatic, useCatalogues } from "../shared/i18n.js";
import { Priority, Rating, ReceiptState, RequestStatus } from "../shared/vocabulary.js";
import zh from "./i18n/zh.js";
import en from "./i18n/en.js";
import { Store, loadToken, saveToken, clearAll } from "./store.js";
import { KioskClient } from "./client.js";
import { Player } from "./audio.js";
import { ReplyPanel, errorText } from "./reply.js";

useCatalogues({ zh, en }, { storageKey: "vb.kiosk.lang", titleKey: "page.title" });

const $ = (selector, root = document) => root.querySelector(selector);

/** Every text of the page that is not drawn from data: the data-i18n elements, and the language button. */
function translatePage() {
  translateStatic();
  byTestId("kiosk-lang").textContent = t("header.lang");
  byTestId("kiosk-lang").setAttribute("aria-label", t("header.lang.label"));
}

function takeTokenFromAddress() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = hash.get("token");
  if (!token) return loadToken();
  if (token !== loadToken()) clearAll(); // another screen's token: what we hold belongs to the old one
  saveToken(token);
  hash.delete("token");
  const rest = hash.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  return token;
}

function readTiming() {
  try {
    return JSON.parse(localStorage.getItem("vb.kiosk.timing") || "{}") || {};
  } catch (_) {
    return {};
  }
}

class Kiosk {
  constructor(token) {
    this.timing = readTiming();
    this.cycleMs = Number(this.timing.cycleMs) || 10000;
    this.store = new Store();
    this.client = new KioskClient({ token, store: this.store, timing: this.timing });
    this.player = new Player({
      lookup: (id) => (this.store.isLive(id) ? this.store.get(id) : null),
      getQuiet: () => this.store.state.quietHours,
    });
    this.reply = new ReplyPanel({ client: this.client, store: this.store, current: () => this.currentAnnouncement() });
    this.currentId = null;
    this.cycleTimer = null;
    this.liveKey = "";
    this.tapShown = false;
    this.feedbackNotes = new Map(); // ticket -> message shown under it
    this.root = byTestId("kiosk");
  }

  start() {
    this.root.hidden = false;
    this._wire();
    for (const ann of this.store.announcements()) if (this.store.needsPlaying(ann)) this.player.enqueue(ann);
    this.render();
    this._tick();
    setInterval(() => this._tick(), 1000);
    this._restartCycle();
    // A quiet offline mark, but not in the instant before the first connection opens.
    setTimeout(() => this._renderStatus(), 1500);
    this.client.start();
  }

  _wire() {
    const c = this.client;
    c.addEventListener("status", () => {
      this._renderStatus();
      if (c.status === "unauthorized") this._unauthorized();
    });
    c.addEventListener("welcome", () => this.render());
    c.addEventListener("synced", () => {
      this.render();
      for (const ann of this.store.announcements()) if (this.store.needsPlaying(ann)) this.player.enqueue(ann);
    });
    c.addEventListener("announcement", (ev) => {
      const ann = ev.detail;
      if (this.client.synced && this.store.isLive(ann.id)) {
        this.currentId = ann.id; // a new or corrected announcement is shown at once (a replay starts at the top)
        this._restartCycle();
      }
      if (this.store.needsPlaying(ann)) this.player.enqueue(ann);
      this.render();
    });
    c.addEventListener("retract", (ev) => {
      this.player.drop(ev.detail);
      this.render();
    });
    c.addEventListener("answers", () => this.renderAnswers());
    c.addEventListener("reply_result", (ev) => {
      this.reply.onResult(ev.detail);
      this.renderAnswers();
    });
    c.addEventListener("server_error", (ev) => {
      const msg = ev.detail;
      if (msg.ref == null) return;
      if (this.store.outboxEntry(msg.ref)) {
        this.reply.onError(msg);
        this.renderAnswers();
      } else if (msg.ref in this.store.state.answers) {
        this.feedbackNotes.set(msg.ref, errorText(msg));
        this.store.markRated(msg.ref, null); // not taken: ask again
        this.renderAnswers();
      }
    });
    this.player.addEventListener("played", (ev) => {
      const ann = ev.detail;
      this.store.markPlayed(ann.id, ann.audio.url);
      this.client.receipt(ann.id, ReceiptState.PLAYED);
    });
    this.player.addEventListener("blocked", () => {
      if (this.tapShown) return;
      this.tapShown = true;
      byTestId("kiosk-tap-to-enable").hidden = false;
    });
    const unlock = () => {
      byTestId("kiosk-tap-to-enable").hidden = true;
      if (this.player.blocked) this.player.unlock();
    };
    byTestId("kiosk-tap-to-enable").addEventListener("click", unlock);
    document.addEventListener("pointerdown", unlock, { capture: true });
    byTestId("kiosk-lang").addEventListener("click", () => {
      setLang(otherLang());
      translatePage();
      this.render();
      this._tick(); // the date under the clock
      this.reply.relabel();
    });
    byTestId("kiosk-reply-open").addEventListener("click", () => this.reply.open());
    this.reply.onClose = () => this.renderAnswers();
  }

  _unauthorized() {
    this.root.hidden = true;
    byTestId("kiosk-emergency").hidden = true;
    this.reply.close();
    byTestId("kiosk-unauthorized").hidden = false;
  }

  currentAnnouncement() {
    return this.currentId ? this.store.get(this.currentId) : null;
  }

  _restartCycle() {
    clearInterval(this.cycleTimer);
    this.cycleTimer = setInterval(() => this._advance(), this.cycleMs);
  }

  _advance() {
    const list = this.store.announcements();
    if (!list.length) return;
    const at = list.findIndex((a) => a.id === this.currentId);
    this.currentId = list[(at + 1) % list.length].id;
    this.render();
  }

  /** Every second: the clock, and a redraw when an announcement has expired. */
  _tick() {
    const now = new Date();
    $(".clock-time").textContent = formatClock(now);
    $(".clock-date").textContent = formatDate(now);
    const list = this.store.announcements();
    const key = list.map((a) => `${a.id}:${a.revision}`).join(",");
    if (key !== this.liveKey) {
      if (this.player.playingId && !this.store.isLive(this.player.playingId)) this.player.drop(this.player.playingId);
      this.render();
    }
  }

  _renderStatus() {
    const status = this.client.status;
    this.root.dataset.status = status;
    byTestId("kiosk-offline").hidden = status === "online" || status === "unauthorized" || (status === "connecting" && !this._graceOver());
  }

  _graceOver() {
    if (!this.startedAt) this.startedAt = Date.now();
    return Date.now() - this.startedAt >= 1500;
  }

  render() {
    const list = this.store.announcements();
    this.liveKey = list.map((a) => `${a.id}:${a.revision}`).join(",");
    if (!list.some((a) => a.id === this.currentId)) this.currentId = list.length ? list[0].id : null;
    const identity = this.store.state.identity;
    byTestId("kiosk-area").textContent = identity ? identity.area : "";
    this.root.dataset.lastSeq = this.store.lastSeq ?? "";
    $(".list-title").textContent = t("list.title", { count: list.length });
    this.renderStage(list);
    this.renderList(list);
    this.renderEmergency(list);
    this.renderAnswers();
    this._renderStatus();
  }

  renderStage(list) {
    const stage = byTestId("kiosk-current");
    const ann = list.find((a) => a.id === this.currentId) || null;
    stage.classList.toggle("is-empty", !ann);
    for (const p of Object.values(Priority)) stage.classList.toggle(`p-${p}`, !!ann && ann.priority === p);
    if (!ann) {
      delete stage.dataset.id;
      delete stage.dataset.priority;
      for (const sel of [".stage-badge", ".stage-count", ".stage-title", ".stage-body", ".stage-meta"]) $(sel, stage).textContent = "";
      return;
    }
    stage.dataset.id = ann.id;
    stage.dataset.priority = ann.priority;
    $(".stage-badge", stage).textContent = t(`priority.${ann.priority}`);
    $(".stage-count", stage).textContent = list.length > 1 ? `${list.indexOf(ann) + 1} / ${list.length}` : "";
    $(".stage-title", stage).textContent = ann.title;
    $(".stage-body", stage).textContent = ann.body;
    const meta = [ann.published_at ? t("stage.published", { time: formatTime(ann.published_at, "day") }) : null,
      ann.expires_at ? t("stage.expires", { time: formatTime(ann.expires_at, "day") }) : null].filter(Boolean);
    $(".stage-meta", stage).textContent = meta.join("  ·  ");
    this.client.receipt(ann.id, ReceiptState.DISPLAYED);
  }

  renderList(list) {
    const items = list.map((ann) => h("li", {
      class: `item p-${ann.priority}${ann.id === this.currentId ? " current" : ""}`,
      testid: "kiosk-announcement", "data-id": ann.id, "data-priority": ann.priority,
      "aria-current": ann.id === this.currentId ? "true" : null,
    },
    h("span", { class: "badge", text: t(`priority.${ann.priority}`) }),
    h("span", { class: "item-title", text: ann.title })));
    $(".list").replaceChildren(...items);
  }

  renderEmergency(list) {
    const overlay = byTestId("kiosk-emergency");
    const emergencies = list.filter((a) => a.priority === Priority.EMERGENCY);
    if (!emergencies.length) {
      overlay.hidden = true;
      delete overlay.dataset.id;
      document.body.classList.remove("has-emergency");
      return;
    }
    const ann = emergencies[0];
    overlay.hidden = false;
    overlay.dataset.id = ann.id;
    document.body.classList.add("has-emergency");
    $(".emergency-title", overlay).textContent = ann.title;
    $(".emergency-body", overlay).textContent = ann.body;
    $(".emergency-meta", overlay).textContent = ann.published_at ? t("stage.published", { time: formatTime(ann.published_at, "day") }) : "";
    $(".emergency-more", overlay).replaceChildren(...emergencies.slice(1).map((a) => h("li", { text: a.title })));
    for (const a of emergencies) this.client.receipt(a.id, ReceiptState.DISPLAYED);
  }

  renderAnswers() {
    const matters = this.store.matters().slice(0, 10);
    const section = byTestId("kiosk-answers");
    section.hidden = matters.length === 0;
    const items = matters.map((m) => this._answerItem(m));
    $(".answers-list", section).replaceChildren(...items);
  }

  _answerItem(m) {
    if (!m.ticket) {
      const e = m.outbox;
      const state = e.error ? t("answers.failed", { message: errorText(e.error) }) : (e.notice ? t("reply.retrying") : t("answers.pending"));
      return h("li", { class: "answer pending", testid: "kiosk-answer-pending", "data-client-msg-id": e.client_msg_id },
        h("span", { class: "answer-category", text: t(`category.${e.reply.category}`) }),
        h("span", { class: "answer-status", text: state }));
    }
    const li = h("li", { class: `answer s-${m.status}`, testid: "kiosk-answer", "data-ticket": m.ticket, "data-status": m.status || "" },
      h("div", { class: "answer-head" },
        h("span", { class: "answer-ticket", text: t("answers.ticket", { ticket: m.ticket }) }),
        h("span", { class: "answer-status", testid: "kiosk-answer-status", text: m.status ? t(`status.${m.status}`) : "" })),
      m.response ? h("p", { class: "answer-response", testid: "kiosk-answer-response", text: m.response }) : null);
    const note = this.feedbackNotes.get(m.ticket);
    if (m.status === RequestStatus.RESOLVED && !m.rating) {
      const row = h("div", { class: "feedback" }, h("span", { class: "feedback-ask", text: t("answers.ask") }));
      for (const [rating, testid] of [[Rating.SATISFIED, "kiosk-feedback-satisfied"], [Rating.BASICALLY_SATISFIED, "kiosk-feedback-basically"], [Rating.DISSATISFIED, "kiosk-feedback-dissatisfied"]]) {
        const button = h("button", { type: "button", class: `feedback-button r-${rating}`, testid, text: t(`rating.${rating}`) });
        button.addEventListener("click", () => this._feedback(m.ticket, rating));
        row.append(button);
      }
      li.append(row);
    } else if (m.rating) {
      li.append(h("p", { class: "feedback-done", testid: "kiosk-feedback-done", text: `${t(`rating.${m.rating}`)} · ${t("answers.thanks")}` }));
    }
    if (note) li.append(h("p", { class: "answer-note", testid: "kiosk-answer-note", text: note }));
    return li;
  }

  _feedback(ticket, rating) {
    if (this.client.feedback(ticket, rating)) {
      this.feedbackNotes.delete(ticket);
      this.store.markRated(ticket, rating);
    } else {
      this.feedbackNotes.set(ticket, t("feedback.offline"));
    }
    this.renderAnswers();
  }
}

function main() {
  translatePage();
  const token = takeTokenFromAddress();
  if (!token) {
    byTestId("kiosk-setup").hidden = false;
    return;
  }
  const kiosk = new Kiosk(token);
  kiosk.startedAt = Date.now();
  kiosk.start();
}

main();
