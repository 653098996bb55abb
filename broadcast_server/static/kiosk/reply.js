// A villager's reply by touch: category, text (on-screen keyboard friendly, 1,000 characters at
// most, with a counter), optional name and phone. On submit the reply goes into the outbox first
// (client.reply), then over the WebSocket; the ticket is shown, large, when reply_result comes.
import { h } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { RequestCategory } from "../shared/vocabulary.js";

const MAX = 1000;
const IDLE_CLOSE_MS = 180000; // an abandoned form closes itself (a public screen)
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
    this.current = current;
    this.root = document.querySelector('[data-testid="kiosk-reply"]');
    this.form = $(".reply-form", this.root);
    this.text = $('[data-testid="kiosk-reply-text"]', this.root);
    this.name = $('[data-testid="kiosk-reply-name"]', this.root);
    this.phone = $('[data-testid="kiosk-reply-phone"]', this.root);
    this.message = $('[data-testid="kiosk-reply-message"]', this.root);
    this.result = $('[data-testid="kiosk-reply-result"]', this.root);
    this.category = null;
    this.aboutId = null;
    this.waitingFor = null; // client_msg_id whose ticket we show
    this.idleTimer = null;
    this.onClose = null;

    $(".categories", this.root).replaceChildren(...Object.values(RequestCategory).map((category) => h("button", {
      type: "button", class: "category", testid: "kiosk-reply-category", "data-category": category,
      "data-i18n": `category.${category}`, "aria-pressed": "false", text: t(`category.${category}`),
      onclick: () => this._choose(category),
    })));
    this.text.addEventListener("input", () => { this._count(); this._touch(); });
    this.text.addEventListener("focus", () => this.text.scrollIntoView({ block: "start", behavior: "smooth" }));
    for (const input of [this.name, this.phone]) {
      input.addEventListener("input", () => this._touch());
      input.addEventListener("focus", () => input.scrollIntoView({ block: "center", behavior: "smooth" }));
    }
    this.name.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") { ev.preventDefault(); this.phone.focus(); }
    });
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this._submit(); });
    $('[data-testid="kiosk-reply-cancel"]', this.root).addEventListener("click", () => this.close());
    $('[data-testid="kiosk-reply-done"]', this.root).addEventListener("click", () => this.close());
    $('[data-testid="kiosk-reply-about-clear"]', this.root).addEventListener("click", () => {
      this.aboutId = null;
      $('[data-testid="kiosk-reply-about"]', this.root).hidden = true;
    });
  }

  open() {
    this._reset();
    const ann = this.current();
    this.aboutId = ann ? ann.id : null;
    const about = $('[data-testid="kiosk-reply-about"]', this.root);
    about.hidden = !ann;
    $(".reply-about-text", about).textContent = ann ? t("reply.about", { title: ann.title }) : "";
    this.root.hidden = false;
    this._touch();
  }

  close() {
    clearTimeout(this.idleTimer);
    this.root.hidden = true;
    this._reset();
    if (this.onClose) this.onClose();
  }

  /** The language changed: redraw what was set from code. */
  relabel() {
    this._count();
    if (!this.root.hidden && this.aboutId) {
      const ann = this.store.get(this.aboutId);
      if (ann) $(".reply-about-text", this.root).textContent = t("reply.about", { title: ann.title });
    }
    if (this.waitingFor) this._showState();
  }

  _reset() {
    this.category = null;
    this.waitingFor = null;
    this.form.reset();
    this.form.hidden = false;
    this.result.hidden = true;
    this.message.textContent = "";
    for (const b of this.root.querySelectorAll('[data-testid="kiosk-reply-category"]')) b.setAttribute("aria-pressed", "false");
    this._count();
  }

  _touch() {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(), IDLE_CLOSE_MS);
  }

  _choose(category) {
    this.category = category;
    for (const b of this.root.querySelectorAll('[data-testid="kiosk-reply-category"]')) {
      b.setAttribute("aria-pressed", b.dataset.category === category ? "true" : "false");
    }
    this.message.textContent = "";
    this._touch();
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
    this._touch();
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
    if (msg.client_msg_id === this.waitingFor) { this._showState(); this._touch(); }
  }

  onError(msg) {
    if (msg.ref === this.waitingFor) this._showState();
  }
}
