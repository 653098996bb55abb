"""The Content-Security-Policy in a real Chromium: a page's WebSocket reaches this origin and no other."""

from __future__ import annotations

from urllib.parse import urlsplit

# Opens a WebSocket and says what became of it: opened, refused by the CSP (as a violation event or a
# SecurityError, depending on the browser), or failed otherwise.
TRY_WEBSOCKET = """url => new Promise(resolve => {
  document.addEventListener('securitypolicyviolation',
    e => resolve(`blocked by ${e.effectiveDirective}`), {once: true});
  try {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve('opened'); };
    ws.onerror = () => setTimeout(() => resolve('failed'), 500);
  } catch (e) {
    resolve(e.name === 'SecurityError' ? 'blocked by connect-src' : `threw ${e.name}`);
  }
})"""


async def test_a_page_may_open_a_websocket_to_its_own_origin_only(village, browser):
    """From the kiosk page at 127.0.0.1, ws:// to the same host and port opens; to another host (the same server as
    `localhost`) is blocked."""
    port = urlsplit(village.url).port
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(village.url + "/screen")
        assert await page.evaluate(TRY_WEBSOCKET, f"ws://127.0.0.1:{port}/ws") == "opened"
        assert await page.evaluate(TRY_WEBSOCKET, f"ws://localhost:{port}/ws") == "blocked by connect-src"
    finally:
        await context.close()
