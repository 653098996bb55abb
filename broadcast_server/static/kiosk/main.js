// The kiosk page at /screen: the browser twin of the Python screen client.
//
// Set-up: the device token comes once as /screen#token=..., is kept in localStorage and removed from
// the address bar. For tests and unusual devices, localStorage "vb.kiosk.timing" may hold a JSON
// object overriding intervals (see client.js DEFAULT_TIMING, plus cycleMs for how long a notice, or
// one page of a long notice, stays on screen, and idleMs for the return to Chinese and the notices
// after no touch, idle.js DEFAULT_IDLE_MS).
//
// Everything from the server or typed by a villager is put on the page with textContent only.
import { byTestId, h } from "../shared/dom.js";
import { t, setLang, getLang, otherLang, formatTime, formatDate, formatClock, translateStatic, useCatalogues, DEFAULT_LANG } from "../shared/i18n.js";
import { Priority, ReceiptState } from "../shared/vocabulary.js";
import zh from "./i18n/zh.js";
import en from "./i18n/en.js";
import { Store, loadToken, saveToken, clearAll } from "./store.js";
import { KioskClient } from "./client.js";
import { Player } from "./audio.js";
import { ReplyPanel } from "./reply.js";
import { MattersPanel } from "./matters.js";
import { Pager } from "./pager.js";
import { IdleWatch, DEFAULT_IDLE_MS } from "./idle.js";

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

const DEFAULT_DWELL_MS = 10000; // how long each notice stays, unless the area sets welcome `kiosk_dwell_s`

class Kiosk {
  constructor(token) {
    this.token = token;
    this.timing = readTiming();
    this.cycleMs = Number(this.timing.cycleMs) || DEFAULT_DWELL_MS;
    this.store = new Store();
    this.client = new KioskClient({ token, store: this.store, timing: this.timing });
    this.player = new Player({
      lookup: (id) => (this.store.isLive(id) ? this.store.get(id) : null),
      getQuiet: () => this.store.state.quietHours,
    });
    this.reply = new ReplyPanel({ client: this.client, store: this.store, current: () => this.currentAnnouncement() });
    this.matters = new MattersPanel({ client: this.client, store: this.store });
    this.idle = new IdleWatch({ idleMs: Number(this.timing.idleMs) || DEFAULT_IDLE_MS, onIdle: () => this._backToStart() });
    this.stagePager = new Pager($(".stage-page"), $(".stage-body"));
    this.emergencyPager = new Pager($(".emergency-page"), $(".emergency-body"));
    this.stageKey = ""; // what the stage pager was laid out for: a new notice, revision or language lays it out again
    this.emergencyKey = "";
    this.currentId = null;
    this.cycleTimer = null;
    this.liveKey = "";
    this.tapShown = false;
    this.root = byTestId("kiosk");
  }

  start() {
    this.root.hidden = false;
    this._wire();
    for (const ann of this.store.announcements()) if (this.store.needsPlaying(ann)) this.player.enqueue(ann);
    this._playLive(); // a call that was going on when the page was reloaded
    this.render();
    this._tick();
    setInterval(() => this._tick(), 1000);
    this._restartCycle();
    document.fonts?.ready.then(() => this._layoutPagers()); // line heights are known once the fonts are
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
    c.addEventListener("welcome", (event) => {
      this._useDwell(event.detail.kiosk_dwell_s);
      this.render();
    });
    c.addEventListener("synced", () => {
      this._playLive(); // a reset replay may have dropped a call that ended while we were away
      this.render();
      for (const ann of this.store.announcements()) if (this.store.needsPlaying(ann)) this.player.enqueue(ann);
    });
    c.addEventListener("live", () => {
      this._playLive();
      this.render();
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
    c.addEventListener("area", (event) => { // renamed, or a new dwell: no reconnect needed
      this._useDwell(event.detail.kiosk_dwell_s);
      this.render();
    });
    c.addEventListener("answers", () => this.matters.render());
    c.addEventListener("reply_result", (ev) => this.reply.onResult(ev.detail));
    c.addEventListener("server_error", (ev) => {
      const msg = ev.detail;
      if (msg.ref == null) return;
      if (this.store.outboxEntry(msg.ref)) this.reply.onError(msg);
      else if (msg.ref in this.store.state.answers) this.matters.onRefused(msg); // a rating not taken: ask again
    });
    this.player.addEventListener("played", (ev) => {
      const ann = ev.detail;
      this.store.markPlayed(ann.id, ann.audio.url);
      this.client.receipt(ann.id, ReceiptState.PLAYED);
    });
    this.player.addEventListener("live", (ev) => this.client.callReceipt(ev.detail, ReceiptState.PLAYED));
    this.player.addEventListener("blocked", () => {
      if (this.tapShown) return;
      this.tapShown = true;
      byTestId("kiosk-tap-to-enable").hidden = false;
      document.body.classList.add("has-tap"); // the pages make room for it: it covers no button
      this._layoutPagers();
    });
    const unlock = () => {
      if (!byTestId("kiosk-tap-to-enable").hidden) {
        byTestId("kiosk-tap-to-enable").hidden = true;
        document.body.classList.remove("has-tap");
        this._layoutPagers();
      }
      if (this.player.blocked) this.player.unlock();
    };
    byTestId("kiosk-tap-to-enable").addEventListener("click", unlock);
    document.addEventListener("pointerdown", unlock, { capture: true });
    byTestId("kiosk-lang").addEventListener("click", () => this._switchLang(otherLang()));
    byTestId("kiosk-reply-open").addEventListener("click", () => this.reply.open());
    byTestId("kiosk-matters-open").addEventListener("click", () => this.matters.open());
    window.addEventListener("resize", () => this._layoutPagers());
  }

  _switchLang(lang) {
    setLang(lang);
    translatePage();
    this.render();
    this._tick(); // the date under the clock
    this.reply.relabel();
    this.matters.render();
  }

  /** Nobody has touched the screen for a while: the next villager finds Chinese and the notices. */
  _backToStart() {
    this.reply.close();
    this.matters.close();
    if (getLang() !== DEFAULT_LANG) this._switchLang(DEFAULT_LANG);
  }

  /** The room for the text changed (a resize, the sound prompt): page the notices again from their first page. */
  _layoutPagers() {
    this.stageKey = "";
    this.emergencyKey = "";
    this.render();
  }

  _unauthorized() {
    this.root.hidden = true;
    byTestId("kiosk-emergency").hidden = true;
    byTestId("kiosk-live").hidden = true;
    this.player.setLive(null);
    this.reply.close();
    byTestId("kiosk-unauthorized").hidden = false;
  }

  /** The first call in progress plays its stream, or none. The URL carries this screen's token, as streams
   * need where media are not public (docs/protocol.md): an <audio> element cannot send a header. */
  _playLive() {
    const [call] = this.store.calls();
    if (!call) {
      this.player.setLive(null);
      return;
    }
    const url = new URL(call.stream_url, location.origin);
    url.searchParams.set("token", this.token);
    this.player.setLive({ id: call.call_id, url: url.pathname + url.search, priority: call.priority });
  }

  currentAnnouncement() {
    return this.currentId ? this.store.get(this.currentId) : null;
  }

  /** The area's dwell from the welcome or an `area` event; the localStorage `cycleMs` override (tests) still wins. */
  _useDwell(seconds) {
    const dwellMs = Number(this.timing.cycleMs) || (seconds > 0 ? seconds * 1000 : DEFAULT_DWELL_MS);
    if (dwellMs === this.cycleMs) return;
    this.cycleMs = dwellMs;
    if (this.cycleTimer) this._restartCycle();
  }

  _restartCycle() {
    clearInterval(this.cycleTimer);
    this.cycleTimer = setInterval(() => this._advance(), this.cycleMs);
  }

  /** Every cycleMs: the next page of a long notice, else the next notice (and the emergency's next page, or its first again). */
  _advance() {
    if (!byTestId("kiosk-emergency").hidden && !this.emergencyPager.next()) this.emergencyPager.show(0);
    this._markPage(byTestId("kiosk-emergency-page"), this.emergencyPager);
    if (this.stagePager.next()) {
      this._markPage(byTestId("kiosk-page"), this.stagePager);
      return;
    }
    const list = this.store.announcements();
    if (!list.length) return;
    const at = list.findIndex((a) => a.id === this.currentId);
    this.currentId = list[(at + 1) % list.length].id;
    this.stageKey = ""; // even when it is the only one: from its first page again
    this.render();
  }

  _markPage(mark, pager) {
    mark.hidden = pager.pages < 2;
    mark.textContent = t("page.mark", { page: pager.page + 1, pages: pager.pages });
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
    byTestId("kiosk-area").textContent = identity?.area_name || ""; // a name, never the area's path
    this.root.dataset.lastSeq = this.store.lastSeq ?? "";
    $(".list-title").textContent = t("list.title", { count: list.length });
    this.renderLive(); // first: its banner takes room from the notices, paged after it
    this.renderStage(list);
    this.renderList(list);
    this.renderEmergency(list);
    this._renderStatus();
  }

  renderStage(list) {
    const stage = byTestId("kiosk-current");
    const ann = list.find((a) => a.id === this.currentId) || null;
    stage.classList.toggle("is-empty", !ann);
    for (const p of Object.values(Priority)) stage.classList.toggle(`p-${p}`, !!ann && ann.priority === p);
    if (!ann) {
      this.renderPictures([]);
      delete stage.dataset.id;
      delete stage.dataset.priority;
      for (const sel of [".stage-badge", ".stage-count", ".stage-title", ".stage-body", ".stage-meta"]) $(sel, stage).textContent = "";
      this.stageKey = "";
      byTestId("kiosk-page").hidden = true;
      return;
    }
    stage.dataset.id = ann.id;
    stage.dataset.priority = ann.priority;
    $(".stage-badge", stage).textContent = t(`priority.${ann.priority}`);
    $(".stage-count", stage).textContent = list.length > 1 ? t("stage.count", { n: list.indexOf(ann) + 1, count: list.length }) : "";
    $(".stage-title", stage).textContent = ann.title;
    $(".stage-body", stage).textContent = ann.body;
    const meta = [ann.published_at ? t("stage.published", { time: formatTime(ann.published_at, "day") }) : null,
      ann.expires_at ? t("stage.expires", { time: formatTime(ann.expires_at, "day") }) : null].filter(Boolean);
    $(".stage-meta", stage).textContent = meta.join("  ·  ");
    const key = `${ann.id}:${ann.revision}:${getLang()}`;
    if (key !== this.stageKey) {
      this.stageKey = key;
      this.renderPictures(ann.images || []); // before the pager measures: they take room from the text
      this.stagePager.layout();
    }
    this._markPage(byTestId("kiosk-page"), this.stagePager);
    this.client.receipt(ann.id, ReceiptState.DISPLAYED);
  }

  /** The notice's pictures beside its text (under it in portrait), each whole (object-fit: contain). */
  renderPictures(images) {
    const box = byTestId("kiosk-pictures");
    const shown = images.slice(0, 4);
    box.hidden = !shown.length;
    box.dataset.count = shown.length;
    box.replaceChildren(...shown.map((image, i) => h("img", {
      src: image.url, alt: t("stage.picture", { n: i + 1, count: shown.length }), testid: "kiosk-picture",
      width: image.width, height: image.height, decoding: "async",
    })));
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

  /** While a call goes on, a banner across the top says the committee is speaking and who: big, and pulsing. */
  renderLive() {
    const [call] = this.store.calls();
    const banner = byTestId("kiosk-live");
    if (!!call === banner.hidden) { // it comes or goes: the notices have less room, or more again, so page them anew
      document.body.classList.toggle("has-live", !!call);
      this.stageKey = "";
      this.emergencyKey = "";
    }
    banner.hidden = !call;
    if (!call) {
      delete banner.dataset.callId;
      return;
    }
    const emergency = call.priority === Priority.EMERGENCY;
    banner.dataset.callId = call.call_id;
    banner.classList.toggle("p-emergency", emergency);
    $(".live-title", banner).textContent = t(emergency ? "live.title.emergency" : "live.title");
    $(".live-caller", banner).textContent = call.caller_name ? t("live.caller", { name: call.caller_name }) : t("live.listen");
    // Its height (a narrow screen or English wraps it) is the room the page and its overlays leave at the top.
    document.documentElement.style.setProperty("--live-room", `${banner.offsetHeight}px`);
  }

  renderEmergency(list) {
    const overlay = byTestId("kiosk-emergency");
    const emergencies = list.filter((a) => a.priority === Priority.EMERGENCY);
    if (!emergencies.length) {
      overlay.hidden = true;
      delete overlay.dataset.id;
      this.emergencyKey = "";
      document.body.classList.remove("has-emergency");
      return;
    }
    const ann = emergencies[0];
    overlay.hidden = false;
    overlay.dataset.id = ann.id;
    document.body.classList.add("has-emergency");
    byTestId("kiosk-emergency-drill").hidden = !ann.drill; // the title says 【演练】 too (docs/protocol.md §2.9.10)
    $(".emergency-title", overlay).textContent = ann.title;
    $(".emergency-body", overlay).textContent = ann.body;
    $(".emergency-meta", overlay).textContent = ann.published_at ? t("stage.published", { time: formatTime(ann.published_at, "day") }) : "";
    $(".emergency-more", overlay).replaceChildren(...emergencies.slice(1).map((a) => h("li", { text: a.title })));
    const key = `${emergencies.map((a) => `${a.id}:${a.revision}`).join(",")}:${getLang()}`;
    if (key !== this.emergencyKey) {
      this.emergencyKey = key;
      this.emergencyPager.layout();
    }
    this._markPage(byTestId("kiosk-emergency-page"), this.emergencyPager);
    for (const a of emergencies) this.client.receipt(a.id, ReceiptState.DISPLAYED);
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
