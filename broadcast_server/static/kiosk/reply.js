// A villager's reply by touch: category, text (on-screen keyboard friendly, 1,000 characters at
// most, with a counter), optional name and phone, and optionally the notice it is about: about no
// notice unless the villager picks one (the notice on screen when the form opened is only offered first). On submit the reply goes into the outbox first
// (client.reply), then over the WebSocket; the ticket is shown, large, when reply_result comes.
import { h } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { RequestCategory } from "../shared/vocabulary.js";

const MAX = 1000;
const ABOUT_CHOICES = 6; // notices offered to pick from, the one on screen first
const $ = (selector, root) => root.querySelector(selector);

/** A server `error` (or a stored failure) as words for the villager. */
export function errorText(error) {
  const known = {
    rate_limited: "error.rate_limited", invalid: "error.invalid", not_found: "error.not_found",
    conflict: "error.conflict", forbidden: "error.forbidden", internal: "error.internal",
  };
  const key = known[error.code];
  return key ? t(key, { message: error.message || "" }) : t("error.generic", { message: error.message || error.code || "" });
}

export class ReplyPanel {
  constructor({ client, store, current }) {
    this.client = client;
    this.store = store;
    this.current = current; // the notice on screen: offered first
    this.root = document.querySelector('[data-testid="kiosk-reply"]');
    this.form = $(".reply-form", this.root);
    this.text = $('[data-testid="kiosk-reply-text"]', this.root);
    this.name = $('[data-testid="kiosk-reply-name"]', this.root);
    this.phone = $('[data-testid="kiosk-reply-phone"]', this.root);
    this.message = $('[data-testid="kiosk-reply-message"]', this.root);
    this.result = $('[data-testid="kiosk-reply-result"]', this.root);
    this.category = null;
    this.aboutId = null;
    this.offered = []; // the notices the villager may say the reply is about
    this.waitingFor = null; // client_msg_id whose ticket we show

    $(".categories", this.root).replaceChildren(...Object.values(RequestCategory).map((category) => h("button", {
      type: "button", class: "category", testid: "kiosk-reply-category", "data-category": category,
      "data-i18n": `category.${category}`, "aria-pressed": "false", text: t(`category.${category}`),
      onclick: () => this._choose(category),
    })));
    this.text.addEventListener("input", () => this._count());
    this.text.addEventListener("focus", () => this.text.scrollIntoView({ block: "start", behavior: "smooth" }));
    for (const input of [this.name, this.phone]) {
      input.addEventListener("focus", () => input.scrollIntoView({ block: "center", behavior: "smooth" }));
    }
    this.name.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") { ev.preventDefault(); this.phone.focus(); }
    });
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this._submit(); });
    $('[data-testid="kiosk-reply-cancel"]', this.root).addEventListener("click", () => this.close());
    $('[data-testid="kiosk-reply-done"]', this.root).addEventListener("click", () => this.close());
  }

  open() {
    this._reset();
    const current = this.current();
    const live = this.store.announcements().filter((a) => !current || a.id !== current.id);
    this.offered = (current ? [current, ...live] : live).slice(0, ABOUT_CHOICES);
    this._drawAbout();
    this.root.hidden = false;
  }

  close() {
    this.root.hidden = true;
    this._reset();
  }

  get isOpen() { return !this.root.hidden; }

  /** The language changed: redraw what was set from code. */
  relabel() {
    this._count();
    if (!this.root.hidden) this._drawAbout();
    if (this.waitingFor) this._showState();
  }

  /** "About which notice?": "none" (chosen until the villager picks one) and the live notices by title. */
  _drawAbout() {
    const choice = (id, text) => h("button", {
      type: "button", class: "about-choice", testid: "kiosk-reply-about", "data-id": id ?? "",
      "aria-pressed": String(this.aboutId === id), text,
      onclick: () => { this.aboutId = id; this._drawAbout(); },
    });
    $(".about-choices", this.root).replaceChildren(
      choice(null, t("reply.about.none")), ...this.offered.map((ann) => choice(ann.id, ann.title)));
    $(".about-step", this.root).hidden = this.offered.length === 0;
  }

  _reset() {
    this.category = null;
    this.aboutId = null;
    this.offered = [];
    this.waitingFor = null;
    this.form.reset();
    this.form.hidden = false;
    this.result.hidden = true;
    $('[data-testid="kiosk-ticket"]', this.root).textContent = ""; // never the last villager's ticket
    this.message.textContent = "";
    for (const b of this.root.querySelectorAll('[data-testid="kiosk-reply-category"]')) b.setAttribute("aria-pressed", "false");
    this._count();
  }

  _choose(category) {
    this.category = category;
    for (const b of this.root.querySelectorAll('[data-testid="kiosk-reply-category"]')) {
      b.setAttribute("aria-pressed", b.dataset.category === category ? "true" : "false");
    }
    this.message.textContent = "";
  }

  _count() {
    const counter = $('[data-testid="kiosk-reply-counter"]', this.root);
    counter.textContent = t("reply.counter", { count: [...this.text.value].length, max: MAX });
  }

  _submit() {
    const text = this.text.value.trim();
    if (!this.category) { this.message.textContent = t("reply.need.category"); return; }
    if (!text) { this.message.textContent = t("reply.need.text"); this.text.focus(); return; }
    this.waitingFor = this.client.reply({
      category: this.category, text: text.slice(0, MAX), announcementId: this.aboutId,
      name: this.name.value.slice(0, 100), phone: this.phone.value.slice(0, 30),
    });
    this.form.hidden = true;
    this.result.hidden = false;
    document.activeElement?.blur?.(); // let the on-screen keyboard go away
    this._showState();
  }

  _showState() {
    const entry = this.store.outboxEntry(this.waitingFor);
    const status = $('[data-testid="kiosk-reply-status"]', this.root);
    const box = $(".ticket-box", this.root);
    if (!entry) return;
    if (entry.ticket) {
      status.textContent = "";
      box.hidden = false;
      $('[data-testid="kiosk-ticket"]', this.root).textContent = entry.ticket;
    } else if (entry.error) {
      box.hidden = true;
      status.textContent = t("answers.failed", { message: errorText(entry.error) });
    } else if (entry.notice) {
      box.hidden = true;
      status.textContent = t("reply.retrying");
    } else {
      box.hidden = true;
      status.textContent = this.client.synced ? t("reply.sending") : t("reply.queued");
    }
  }

  onResult(msg) {
    if (msg.client_msg_id === this.waitingFor) this._showState();
  }

  onError(msg) {
    if (msg.ref === this.waitingFor) this._showState();
  }
}
