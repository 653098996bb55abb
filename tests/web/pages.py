"""A browser page under watch: what a test must never see (CSP violations, page errors, dialogs),
and the WebSocket frames it exchanges."""

from __future__ import annotations

import asyncio
import json
import time

from playwright.async_api import TimeoutError as PlaywrightTimeoutError

# "Shown within a second" rests on the server pushing a new event to the hub right after its commit.
# The tests that check it set the hub's poll (event_poll_s, shipped 1 s) to POLL_S, so an event left
# for the poll arrives half a minute late, and allow PUSHED_WITHIN_S from the post to the display:
# far below the poll, with room for a loaded 2-core machine (a hard one-second limit there is flaky).
POLL_S = 30.0
PUSHED_WITHIN_S = 5.0
# Waiting for a page to connect and sync is not what any test measures: room for a fresh Chromium on a loaded 2-core box.
ONLINE_WITHIN_MS = 20_000


async def visible_within(locator, started: float, bound_s: float) -> float:
    """Wait until `locator` is visible; fail unless that is within `bound_s` of `started` (time.monotonic())."""
    remaining = started + bound_s - time.monotonic()
    try:
        await locator.wait_for(state="visible", timeout=max(1.0, remaining * 1000))  # a timeout of 0 means none
    except PlaywrightTimeoutError:
        raise AssertionError(f"not shown within {bound_s} s of the post (was it left for the hub's poll?)") from None
    elapsed = time.monotonic() - started
    assert elapsed < bound_s, f"shown {elapsed:.2f} s after the post, allowed {bound_s} s"
    return elapsed


class WatchedPage:
    """One page in its own browser context, collecting CSP violations, page errors, dialogs, request URLs
    and (in `frames`) the WebSocket frames it sends and receives.

    `IGNORED_ERRORS` names console errors that are expected for the page (a kiosk's refused
    reconnects while its server is down, say).
    """

    IGNORED_ERRORS: tuple[str, ...] = ()

    def __init__(self, context, page):
        self.context = context
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.urls: list[str] = []
        self.frames = SocketFrames()
        self._watch(page)

    def _watch(self, page) -> None:
        self.page = page
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("dialog", self._dialog)
        page.on("request", lambda request: self.urls.append(request.url))
        self.frames.watch(page)

    async def close_page(self) -> None:
        """Close the page (as a browser that is switched off); the context, with its storage, stays."""
        await self.page.close()

    async def open_page(self, url: str) -> None:
        """A new page in the same context (same storage), watched like the first, at `url`."""
        self._watch(await self.context.new_page())
        await self.page.goto(url)

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(f"CSP: {text}")
        elif message.type == "error" and not any(ignored in text for ignored in self.IGNORED_ERRORS):
            self.problems.append(f"console error: {text}")

    async def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def by(self, testid: str):
        return self.page.get_by_test_id(testid)


class Socket:
    """One WebSocket a page opened: the JSON frames it sent and received, in order."""

    def __init__(self, url: str):
        self.url = url
        self.sent: list[dict] = []
        self.received: list[dict] = []

    def received_of(self, *types: str) -> list[dict]:
        return [frame for frame in self.received if frame.get("type") in types]

    def announcement_ids(self) -> list[str]:
        """The ids of the announcement frames received, in order (a replay, then live ones)."""
        return [frame["announcement"]["id"] for frame in self.received_of("announcement")]

    def replay(self) -> list[dict]:
        """The frames between welcome and synced: what the server replayed after the hello."""
        types = [frame.get("type") for frame in self.received]
        if "welcome" not in types or "synced" not in types:
            return []
        return self.received[types.index("welcome") + 1 : types.index("synced")]

    def synced(self) -> dict | None:
        found = self.received_of("synced")
        return found[0] if found else None


class SocketFrames:
    """Every WebSocket a page opens, in order, with its frames (Playwright's websocket events).

    Watch a page before it connects: `frames.watch(page)`, then navigate.
    """

    def __init__(self):
        self.sockets: list[Socket] = []

    def watch(self, page) -> None:
        page.on("websocket", self._opened)

    def _opened(self, ws) -> None:
        socket = Socket(ws.url)
        self.sockets.append(socket)
        ws.on("framesent", lambda payload: socket.sent.append(_decode(payload)))
        ws.on("framereceived", lambda payload: socket.received.append(_decode(payload)))

    async def wait_for(self, check, timeout: float = 15.0, what: str = "the frames expected"):
        """Poll `check()` (a plain function of the recorded frames) until it is truthy, or fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen within {timeout} s: {what}; sockets: {self.summary()}")
            await asyncio.sleep(0.02)

    def summary(self) -> list[dict]:
        return [
            {"sent": [f.get("type") for f in s.sent], "received": [(f.get("type"), f.get("seq")) for f in s.received]}
            for s in self.sockets
        ]


def _decode(payload) -> dict:
    try:
        value = json.loads(payload)
    except (TypeError, ValueError):
        return {"type": None, "raw": payload if isinstance(payload, str) else repr(payload)}
    return value if isinstance(value, dict) else {"type": None, "raw": value}


# For every rendered control under `root` (a CSS selector): scrolled as far down its scroller as it goes
# (its bottom edge at the bottom of the view, the hardest place), its centre and edges must hit the
# control itself, not something drawn over it (a fixed prompt, a neighbour); and no two controls' boxes
# may overlap. Answers a list of problems, each naming the control and what is in the way.
COVERED_CONTROLS = """root => {
  const name = (el) => el ? `${el.tagName.toLowerCase()}${el.dataset.testid ? `[${el.dataset.testid}]` : ""}`
    + ` "${(el.textContent || el.placeholder || "").trim().slice(0, 20)}"` : "nothing";
  const controls = [...document.querySelectorAll(`${root} :is(button, input, textarea, select, a[href])`)]
    .filter((el) => el.checkVisibility() && el.getBoundingClientRect().width > 0);
  const problems = [];
  for (const el of controls) {
    el.scrollIntoView({ block: "end", inline: "nearest" });
    const r = el.getBoundingClientRect();
    const inset = Math.min(3, r.width / 4, r.height / 4);
    const [cx, cy] = [(r.left + r.right) / 2, (r.top + r.bottom) / 2]; // the centre and each edge's middle (corners are rounded)
    const points = [[cx, cy], [cx, r.top + inset], [cx, r.bottom - inset], [r.left + inset, cy], [r.right - inset, cy]];
    for (const [x, y] of points) {
      if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) { problems.push(`${name(el)} off screen at ${x},${y}`); break; }
      const top = document.elementFromPoint(x, y);
      if (top !== el && !el.contains(top)) {
        problems.push(`${name(el)} covered at ${Math.round(x)},${Math.round(y)} by ${name(top)}`);
        break;
      }
    }
  }
  const boxes = controls.map((el) => [el, el.getBoundingClientRect()]);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, ra] = boxes[i];
      const [b, rb] = boxes[j];
      if (ra.left < rb.right - 0.5 && rb.left < ra.right - 0.5 && ra.top < rb.bottom - 0.5 && rb.top < ra.bottom - 0.5) {
        problems.push(`${name(a)} and ${name(b)} overlap`);
      }
    }
  }
  return problems;
}"""


async def covered_controls(page, root: str) -> list[str]:
    """What is wrong with the reachability of the controls under `root` (empty: every one can be touched)."""
    return await page.evaluate(COVERED_CONTROLS, root)


async def sign_in_with_password(watched: WatchedPage, name: str, password: str) -> None:
    """Type a name and a password into the console's sign-in form (the page is at the console) and submit it."""
    await watched.by("signin-name").fill(name)
    await watched.by("signin-password").fill(password)
    await watched.by("signin-password-submit").click()
