"""A page never looks live when it is not: a silent stream, a failed first connect, a page
opened in the background, a login that expired while the server was down (the times
measured are in docs/reliability.md, "Connection honesty")."""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlmodel import Session, select

from dashboard.models import LoginSession, utcnow
from dashboard.runtime import lifetimes_from
from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.browser.conftest import log_in
from tests.conftest import LiveServer, wait_until
from tests.factories import PASSWORD, add_notification, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser

# The server's keep-alive interval here (seconds), short so that silence shows quickly.
KEEPALIVE = 1.0
# What a loaded 2-core machine may add to a deadline the page itself keeps.
SLACK = 1.5
STREAM = re.compile(r"/events\?")


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(
        lambda: create_app(settings.model_copy(update={"keepalive_interval": KEEPALIVE}))
    )
    server.start()
    yield server
    server.stop()


def open_dashboard(browser: Browser, server: LiveServer) -> Page:
    """The dashboard, its #live element naming this server's keep-alive interval as the
    page must for its watchdog (data-keepalive, in seconds)."""
    page = browser.new_page()

    def with_interval(route: Route) -> None:
        response = route.fetch()
        html = response.text().replace(
            '<div id="live" ', f'<div id="live" data-keepalive="{KEEPALIVE}" ', 1
        )
        route.fulfill(response=response, body=html)

    page.route(f"{server.base_url}/", with_interval)
    page.goto(server.base_url)
    assert page.locator("#live").get_attribute("data-keepalive") == str(KEEPALIVE)
    return page


@contextlib.contextmanager
def paused(server: LiveServer) -> Iterator[None]:
    """The server stopped as a suspended process or a sleeping laptop is: its event loop
    runs nothing, so open streams stay open and send nothing, and new connections wait in
    the kernel's queue unanswered."""
    loop = server.runtime.hub.loop
    assert loop is not None
    stopped, resume = threading.Event(), threading.Event()

    def hold() -> None:
        stopped.set()
        resume.wait(30)  # never longer, should the test fail first

    loop.call_soon_threadsafe(hold)
    assert stopped.wait(5), "the server's loop did not stop"
    try:
        yield
    finally:
        resume.set()


def test_a_silent_stream_says_reconnecting_shows_stale_prices_and_reconnects(
    browser: Browser, server: LiveServer, session: Session
) -> None:
    acme, beta = make_instrument(session, "ACME"), make_instrument(session, "BETA")
    add_tick(session, acme, 100.0)
    add_tick(session, beta, 50.0)
    page = open_dashboard(browser, server)
    chip = page.locator("#connection")
    stale = page.locator("#tiles > .tile.is-stale")
    expect(chip).to_have_text("live")
    expect(page.locator("#q-ACME > b")).to_have_text("100.00")
    expect(stale).to_have_count(0)
    page.evaluate("window.__sameDocument = true")

    with paused(server):
        # Only the page's own watchdog can notice: no error, no close, the socket is open.
        with page.expect_request(STREAM, timeout=(2 * KEEPALIVE + SLACK) * 1000):
            expect(chip).to_have_text("reconnecting", timeout=(2 * KEEPALIVE + SLACK) * 1000)
        expect(stale).to_have_count(2)
        expect(page.locator("#tile-ACME .stale-marker")).to_have_text("stale")
        expect(chip).to_have_text("reconnecting")  # the new request waits, unanswered

    add_tick(session, acme, 123.45)
    expect(chip).to_have_text("live", timeout=(KEEPALIVE + SLACK) * 1000)
    expect(page.locator("#q-ACME > b")).to_have_text("123.45")
    expect(stale).to_have_count(0)  # the new stream's whole tiles say their true state
    expect(page.locator("#tiles .stale-marker")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    page.close()


def fail_first(page: Page, failures: int, fail: Callable[[Route], None]) -> list[float]:
    """Routes the page's stream: the first ``failures`` requests fail, later ones reach
    the server. Returns when each request was made (time.monotonic)."""
    made: list[float] = []

    def route(route: Route) -> None:
        made.append(time.monotonic())
        if len(made) <= failures:
            fail(route)
        else:
            route.continue_()

    page.route(STREAM, route)
    return made


def unavailable(route: Route) -> None:
    route.fulfill(status=503, body="Service Unavailable", content_type="text/plain")


def reset(route: Route) -> None:
    route.abort("connectionreset")


@pytest.mark.parametrize("fail", [unavailable, reset], ids=["503", "reset"])
def test_a_failed_first_connect_is_retried_and_the_page_goes_live_without_a_reload(
    browser: Browser, live_server: LiveServer, session: Session, fail: Callable[[Route], None]
) -> None:
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    page = browser.new_page()
    made = fail_first(page, 1, fail)
    page.goto(live_server.base_url)
    page.evaluate("window.__sameDocument = true")
    # The first retry comes after 0.5 s.
    expect(page.locator("#connection")).to_have_text("live", timeout=(0.5 + SLACK) * 1000)
    assert len(made) == 2
    add_tick(session, acme, 123.45)
    expect(page.locator("#q-ACME > b")).to_have_text("123.45")
    assert page.evaluate("window.__sameDocument") is True
    page.close()


def test_first_connect_retries_back_off_from_half_a_second_doubling(
    browser: Browser, live_server: LiveServer
) -> None:
    page = browser.new_page()
    made = fail_first(page, 3, unavailable)
    page.goto(live_server.base_url)
    chip = page.locator("#connection")
    expect(chip).to_have_text("reconnecting")
    expect(chip).to_have_text("live", timeout=(0.5 + 1 + 2 + SLACK) * 1000)
    assert len(made) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(made)]
    for gap, delay in zip(gaps, [0.5, 1.0, 2.0], strict=True):
        assert delay <= gap < delay + SLACK, gaps
    page.close()


# A page opened in a background tab is hidden from its first script on. Headless Chromium
# shows every page (a background or minimized target still says "visible"), so the page's
# document.hidden and visibilityState are overridden before any of its scripts run, and
# window.__show() makes it visible and fires visibilitychange, as choosing the tab does.
# window.__chip lists what the chip said, window.__lastMessage when the stream last spoke.
OPENED_HIDDEN = """
(() => {
  let hidden = true;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true,
    get: () => (hidden ? "hidden" : "visible"),
  });
  window.__show = () => {
    hidden = false;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  window.__chip = [];
  window.__lastMessage = 0;
  document.addEventListener("htmx:sse:after:message", () => (window.__lastMessage = Date.now()));
  document.addEventListener("DOMContentLoaded", () => {
    const chip = document.getElementById("connection");
    const note = () => window.__chip.push(chip.textContent);
    const changes = { childList: true, characterData: true, subtree: true };
    new MutationObserver(note).observe(chip, changes);
  });
})();
"""


def open_hidden(browser: Browser, url: str) -> Page:
    """A page opened in the background, connected while hidden."""
    page = browser.new_page()
    page.add_init_script(OPENED_HIDDEN)
    page.goto(url)
    expect(page.locator("#connection")).to_have_text("live")
    assert page.evaluate("document.hidden") is True
    return page


@contextlib.contextmanager
def serving(settings: Settings, **changes: object) -> Iterator[LiveServer]:
    server = LiveServer(lambda: create_app(settings.model_copy(update=changes)))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_page_opened_in_the_background_is_live_at_once_when_shown(
    browser: Browser, settings: Settings, session: Session
) -> None:
    """Its stream ran while it was hidden and runs on: shown, it says "live" at once. It
    used to say "reconnecting" until its next message, a whole keep-alive interval on a
    quiet page (here 30 s: no tick comes, only the keep-alive)."""
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    with serving(settings, keepalive_interval=30.0) as server:
        page = open_hidden(browser, server.base_url)
        page.evaluate("window.__chip = []")
        page.evaluate("window.__show()")
        expect(page.locator("#connection")).to_have_text("live")
        assert page.evaluate("window.__chip") in ([], ["live"])  # never "reconnecting"
        add_tick(session, acme, 123.45)
        expect(page.locator("#q-ACME > b")).to_have_text("123.45")
        expect(page.locator("#connection")).to_have_text("live")
        page.close()


def test_a_page_opened_in_the_background_whose_stream_died_says_so_when_shown(
    browser: Browser, server: LiveServer, session: Session
) -> None:
    """Hidden, nothing watches the stream; shown, the page judges it at once by its last
    message, as the watchdog does: silent for two intervals is dead (the chip, stale
    tiles, a new request), not two more intervals of "live" hope."""
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    page = open_hidden(browser, server.base_url)
    stale = page.locator("#tiles > .tile.is-stale")
    with paused(server):
        page.wait_for_function(
            "(limit) => Date.now() - window.__lastMessage > limit",
            arg=2 * KEEPALIVE * 1000,
            timeout=(2 * KEEPALIVE + SLACK) * 1000,
        )
        expect(page.locator("#connection")).to_have_text("live")  # hidden: nobody looked
        with page.expect_request(STREAM, timeout=(0.5 * 1.3 + SLACK) * 1000):
            page.evaluate("window.__show()")
            # At once: the watchdog's own limit, 2 s here, would be later than SLACK.
            expect(stale).to_have_count(1, timeout=SLACK * 1000)
            expect(page.locator("#connection")).to_have_text("reconnecting")
    add_tick(session, acme, 123.45)
    expect(page.locator("#connection")).to_have_text("live", timeout=(KEEPALIVE + SLACK) * 1000)
    expect(page.locator("#q-ACME > b")).to_have_text("123.45")
    expect(stale).to_have_count(0)
    page.close()


# A login this short: long enough to sign in and see the page live, short enough to wait.
LIFETIME = 4.0


@pytest.mark.parametrize("lifetime", ["absolute", "idle"])
def test_a_stream_back_after_its_login_expired_shows_signed_out_not_an_anonymous_page(
    browser: Browser, settings: Settings, session: Session, lifetime: str
) -> None:
    """The server is down while the login expires; the stream that comes back would be an
    anonymous visitor's. It is only ``end: signed-out`` (the page names its user), and the
    page says so and stops. "absolute": the browser drops the cookie too (it lasts as long
    as a login can), so the stream comes without one; "idle": the cookie is sent and the
    store finds its login expired."""
    alice = make_user(session, "alice")
    add_notification(session, "private to alice")
    hours = LIFETIME / 3600
    changes = {"session_absolute_hours" if lifetime == "absolute" else "session_idle_hours": hours}
    lifetimes = lifetimes_from(settings.model_copy(update=changes))
    server = LiveServer(lambda: create_app(settings.model_copy(update=changes)))
    server.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, server.base_url, "alice", PASSWORD)
        chip = page.locator("#connection")
        expect(chip).to_have_text("live")
        expect(page.locator("#inbox")).to_contain_text("private to alice")
        [login] = session.exec(select(LoginSession).where(LoginSession.user_id == alice.id)).all()
        server.stop()
        expect(chip).to_have_text("reconnecting")
        wait_until(lambda: lifetimes.expired(login, utcnow()), timeout=LIFETIME + SLACK)
        if lifetime == "absolute":
            wait_until(lambda: not context.cookies(), timeout=SLACK)
        else:
            assert context.cookies()
        server.start()
        expect(chip).to_have_text("signed out")
        expect(page.get_by_role("alert").filter(has_text="You are signed out")).to_be_visible()
        expect(page.locator("#inbox")).to_be_hidden()
        # Nothing reconnects: the extension's connection is gone for good.
        page.wait_for_function("() => !document.getElementById('live')._htmx?.sse")
        expect(chip).to_have_text("signed out")
    finally:
        context.close()
        server.stop()
