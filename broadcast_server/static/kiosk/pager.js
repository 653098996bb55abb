// Pages a long text instead of cutting it off: the text sits in a frame that shows a whole number of
// lines; a notice longer than the frame is moved up one frame at a time, and the page indicator says
// which page is shown ("第 2 / 3 页"). Nothing is ever clipped mid-line, and the last line is reachable.

export class Pager {
  /** `frame` clips, `text` is the element inside it holding the words. */
  constructor(frame, text) {
    this.frame = frame;
    this.text = text;
    this.page = 0;
    this.pages = 1;
    this.pageHeight = 0;
  }

  /** Measure again (new text, a resize or another language) and show the first page. */
  layout() {
    this.frame.style.maxHeight = ""; // measure the room the layout gives, not the last page height
    this.text.style.transform = "";
    const room = this.frame.clientHeight;
    const lineHeight = parseFloat(getComputedStyle(this.text).lineHeight) || 1;
    const lines = Math.max(1, Math.floor((room + 1) / lineHeight));
    this.pageHeight = lines * lineHeight;
    const needed = this.text.scrollHeight;
    this.pages = needed > room + 1 ? Math.ceil((needed - 1) / this.pageHeight) : 1;
    if (this.pages > 1) this.frame.style.maxHeight = `${this.pageHeight}px`; // no half line under the last whole one
    this.show(0);
  }

  show(page) {
    this.page = Math.min(Math.max(0, page), this.pages - 1);
    this.text.style.transform = this.page ? `translateY(${-this.page * this.pageHeight}px)` : "";
  }

  /** Turn to the next page; false when the last page was already shown. */
  next() {
    if (this.page + 1 >= this.pages) return false;
    this.show(this.page + 1);
    return true;
  }
}
