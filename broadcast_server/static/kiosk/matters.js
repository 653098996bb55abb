// "我的事项" on a public screen: a villager types (or scans) the ticket they were given and sees that one
// request's status and answer, and rates it when it is resolved. Nothing is listed: without its ticket
// nobody sees another villager's matter. The answers come from this screen's `request_update` events
// (docs/protocol.md §3.4), which the kiosk already holds, so looking up works offline too.
import { h } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { Rating, RequestStatus } from "../shared/vocabulary.js";
import { errorText } from "./reply.js";

const $ = (selector, root) => root.querySelector(selector);
const RATINGS = [
  [Rating.SATISFIED, "kiosk-feedback-satisfied"],
  [Rating.BASICALLY_SATISFIED, "kiosk-feedback-basically"],
  [Rating.DISSATISFIED, "kiosk-feedback-dissatisfied"],
];

export class MattersPanel {
  constructor({ client, store }) {
    this.client = client;
    this.store = store;
    this.root = document.querySelector('[data-testid="kiosk-matters"]');
    this.form = $(".matters-form", this.root);
    this.input = $('[data-testid="kiosk-matters-ticket"]', this.root);
    this.message = $('[data-testid="kiosk-matters-message"]', this.root);
    this.result = $('[data-testid="kiosk-answer"]', this.root);
    this.ticket = null; // the ticket this villager entered, the only one shown
    this.note = null; // a refused rating's reason, for that ticket
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this._lookUp(); });
    $('[data-testid="kiosk-matters-close"]', this.root).addEventListener("click", () => this.close());
  }

  open() {
    this._forget();
    this.root.hidden = false;
    this.input.focus();
  }

  /** Closed, and forgotten: the next villager starts from an empty box. */
  close() {
    this.root.hidden = true;
    this._forget();
  }

  get isOpen() { return !this.root.hidden; }

  _forget() {
    this.ticket = null;
    this.note = null;
    this.form.reset();
    this.message.textContent = "";
    this.result.replaceChildren();
    this.result.hidden = true;
  }

  _lookUp() {
    const typed = this.input.value.normalize("NFKC").trim(); // full-width digits and dashes from a Chinese keyboard
    this.ticket = null;
    this.note = null;
    if (!typed) {
      this.message.textContent = t("matters.need.ticket");
    } else if (!this.store.matter(typed)) {
      this.message.textContent = t("matters.unknown", { ticket: typed.toUpperCase() });
    } else {
      this.ticket = this.store.matter(typed).ticket;
      this.message.textContent = "";
      document.activeElement?.blur?.(); // let the on-screen keyboard go away
    }
    this.render();
  }

  /** Draw the entered ticket's matter (again: an update came, the language changed, a rating was refused). */
  render() {
    const m = this.ticket ? this.store.matter(this.ticket) : null;
    this.result.hidden = !m;
    if (!m) { this.result.replaceChildren(); return; }
    const parts = [
      h("div", { class: "answer-head" },
        h("span", { class: "answer-ticket", text: t("answers.ticket", { ticket: m.ticket }) }),
        h("span", { class: "answer-status", testid: "kiosk-answer-status", text: t(`status.${m.status}`) })),
      h("p", { class: "answer-response", testid: "kiosk-answer-response", text: m.response || t("matters.no.response") }),
    ];
    if (m.status === RequestStatus.RESOLVED && !m.rating) {
      parts.push(h("div", { class: "feedback" },
        h("span", { class: "feedback-ask", text: t("answers.ask") }),
        RATINGS.map(([rating, testid]) => h("button", {
          type: "button", class: `feedback-button r-${rating}`, testid, text: t(`rating.${rating}`),
          onclick: () => this._rate(m.ticket, rating),
        }))));
    } else if (m.rating) {
      parts.push(h("p", { class: "feedback-done", testid: "kiosk-feedback-done", text: `${t(`rating.${m.rating}`)} · ${t("answers.thanks")}` }));
    }
    if (this.note) parts.push(h("p", { class: "answer-note", testid: "kiosk-answer-note", text: this.note }));
    this.result.className = `matters-result answer s-${m.status}`;
    this.result.dataset.ticket = m.ticket;
    this.result.dataset.status = m.status;
    this.result.replaceChildren(...parts);
  }

  _rate(ticket, rating) {
    if (this.client.feedback(ticket, rating)) {
      this.note = null;
      this.store.markRated(ticket, rating);
    } else {
      this.note = t("feedback.offline");
    }
    this.render();
  }

  /** The server refused a rating (`error` with the ticket as `ref`): say why, and ask again. */
  onRefused(msg) {
    this.store.markRated(msg.ref, null);
    if (this.ticket === msg.ref) {
      this.note = errorText(msg);
      this.render();
    }
  }
}
