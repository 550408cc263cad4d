"""Browser fixtures: Debian's Chromium driven by Playwright's sync API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, Response, expect, sync_playwright
from sqlalchemy import func
from sqlmodel import Session, select

from dashboard.models import Tick
from tests.conftest import LiveServer, wait_until

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is open, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


def prices_taken(live_server: LiveServer, session: Session) -> None:
    """Wake the server's price poller and wait until it has taken every tick written so far.

    The dashboard page lists the tiles the poller holds: a page loaded before that poll
    shows none of the instruments just added (CI once loaded one that fast).
    """
    newest = session.exec(select(func.max(Tick.id))).one()
    poller = live_server.runtime.price_poller
    poller.wake()
    wait_until(lambda: newest is None or poller.cursor >= newest)


# Counts the stream's "ready" events on the page (each connection's snapshot and replay
# are applied before it): add with page.add_init_script, then wait with ready_seen().
NOTE_READY = """
window.__ready = 0;
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("live").addEventListener("ready", () => { window.__ready += 1; });
});
"""


def ready_seen(page: Page, times: int = 1) -> None:
    """Wait until the page's stream has said "ready" ``times`` times (needs NOTE_READY)."""
    page.wait_for_function(f"() => window.__ready >= {times}")  # a function: no eval (CSP)


class StreamWatch:
    """What a page's ``/events`` requests got, and what its console said, for a failure
    message: a page whose chip never goes live should say why."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.events: list[str] = []
        page.on("response", self._response)
        page.on("requestfailed", self._failed)
        page.on("console", lambda message: self.events.append(f"console {message.text}"))
        page.on("pageerror", lambda error: self.events.append(f"page error {error}"))

    def _response(self, response: Response) -> None:
        if "/events" in response.url:
            content_type = response.headers.get("content-type", "")
            self.events.append(f"{response.status} {content_type} {response.url}")

    def _failed(self, request: Request) -> None:
        if "/events" in request.url:
            self.events.append(f"failed {request.failure} {request.url}")

    def expect_live(self) -> None:
        try:
            expect(self.page.locator("#connection")).to_have_text("live")
        except AssertionError as error:
            raise AssertionError(f"{error}\n/events and console: {self.events}") from None
