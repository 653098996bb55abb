"""A browser page under watch: what a test must never see (CSP violations, page errors, dialogs)."""

from __future__ import annotations


class WatchedPage:
    """One page in its own browser context, collecting CSP violations, page errors, dialogs and request URLs.

    `IGNORED_ERRORS` names console errors that are expected for the page (a kiosk's refused
    reconnects while its server is down, say).
    """

    IGNORED_ERRORS: tuple[str, ...] = ()

    def __init__(self, context, page):
        self.context = context
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.urls: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("dialog", self._dialog)
        page.on("request", lambda request: self.urls.append(request.url))

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
