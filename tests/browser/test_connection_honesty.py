"""A page never looks live when it is not: a silent stream and a failed first connect
(the times measured are in docs/reliability.md, "Connection honesty")."""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlmodel import Session

from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.conftest import LiveServer
from tests.factories import add_tick, make_instrument

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
