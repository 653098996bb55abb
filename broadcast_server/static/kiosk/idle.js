// A public screen is left as the next villager should find it: after a while without a touch (or a
// key, or a scanner typing) `onIdle` runs once, and the kiosk goes back to Chinese and the notices.

export const DEFAULT_IDLE_MS = 60000;
const ACTIVITY = ["pointerdown", "keydown", "input", "wheel"];

export class IdleWatch {
  constructor({ idleMs = DEFAULT_IDLE_MS, onIdle }) {
    this.idleMs = idleMs;
    this.onIdle = onIdle;
    this.timer = null;
    for (const type of ACTIVITY) document.addEventListener(type, () => this.touched(), { capture: true, passive: true });
  }

  touched() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onIdle(), this.idleMs);
  }
}
