"""Layout a person sees: the narrow-screen drawer, reflow, themes, steady numbers, weight."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, FloatRect, Page, Request, expect
from sqlmodel import Session, select

from dashboard.models import Instrument, Severity
from tests.browser.conftest import ARTIFACTS, StreamWatch, log_in
from tests.browser.test_accessibility import serious_violations
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser

PAGE_WEIGHT_LIMIT = 150_000


@pytest.fixture
def market(session: Session) -> None:
    make_user(session, "alice")
    for i, symbol in enumerate(("ACME", "GLBX", "INTC", "UMBR", "BTC-USD", "ETH-USD")):
        instrument = make_instrument(session, symbol)
        add_tick(session, instrument, 100.0 + i)
        add_tick(session, instrument, 101.0 + i)
    add_notification(session, "Markets open", body="Trading resumed.")


def laid_out(page: Page, selector: str) -> FloatRect:
    """The box of the first element matching ``selector``, once it has one (5 s at most)."""
    deadline = time.monotonic() + 5
    while (box := page.locator(selector).first.bounding_box()) is None:
        assert time.monotonic() < deadline, f"{selector} was never laid out"
        page.wait_for_timeout(20)
    return box


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_on_a_phone_tiles_reflow_and_the_inbox_is_a_drawer(
    browser: Browser, live_server: LiveServer, market: None
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, bypass_csp=True)
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    tiles = page.locator(".tile")
    expect(tiles).to_have_count(6)
    assert no_horizontal_scroll(page)
    boxes = [tiles.nth(i).bounding_box() for i in range(6)]
    assert all(b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 360 for b in boxes)

    panel, toggle = page.locator("#inbox-panel"), page.locator("#inbox-toggle")
    expect(toggle).to_be_visible()
    expect(panel).to_be_hidden()
    toggle.click()
    expect(panel).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Close the inbox")).to_be_focused()
    expect(panel).to_contain_text("Markets open")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "mobile-drawer.png"))
    assert serious_violations(page) == []
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()
    context.close()


def test_on_a_wide_screen_the_inbox_sits_beside_the_tiles(
    browser: Browser, live_server: LiveServer, market: None
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#inbox-toggle")).to_be_hidden()
    panel = laid_out(page, "#inbox-panel")
    # The stream's first message swaps every tile for its live copy: a tile measured in
    # that moment is detached (no box), so measure once one is in place.
    first_tile = laid_out(page, ".tile")
    assert panel["x"] > first_tile["x"] + first_tile["width"]  # to the right, same screen
    assert no_horizontal_scroll(page)
    context.close()


def test_without_javascript_a_phone_shows_the_inbox_in_the_page(
    browser: Browser, live_server: LiveServer, market: None
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#inbox-panel")).to_be_visible()
    expect(page.locator("#inbox-toggle")).to_be_hidden()
    context.close()


def test_themes_steady_numbers_and_calm_motion(
    browser: Browser, live_server: LiveServer, market: None, session: Session
) -> None:
    for scheme, background in (("light", "rgb(245, 246, 248)"), ("dark", "rgb(15, 17, 21)")):
        context = browser.new_context(color_scheme=scheme)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(live_server.base_url)
        body = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert body == background, (scheme, body)
        context.close()

    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    watch = StreamWatch(page)
    page.goto(live_server.base_url)
    watch.expect_live()
    price = page.locator("#q-ACME > b")
    assert "tabular-nums" in price.evaluate("el => getComputedStyle(el).fontVariantNumeric")
    acme = session.exec(select(Instrument).where(Instrument.symbol == "ACME")).one()
    add_tick(session, acme, 250.0)
    expect(price).to_have_text("250.00")
    # Retried, not read once: a part the stream swaps in that instant is detached, and a
    # detached element's computed style is empty. A page that ignored reduced motion would
    # keep the mark's animation and fail here.
    expect(price).to_have_css("animation-name", "none")
    context.close()


def test_the_first_load_of_the_dashboard_weighs_under_150_kb(
    browser: Browser, live_server: LiveServer, market: None, session: Session
) -> None:
    add_notification(session, "Critical", severity=Severity.critical)
    login = browser.new_context()
    log_in(login.new_page(), live_server.base_url, "alice", PASSWORD)
    # A new context has an empty cache: only the session cookie comes along.
    fresh = browser.new_context(storage_state=login.storage_state())
    login.close()
    page = fresh.new_page()
    transferred: dict[str, int] = {}

    def count(request: Request) -> None:
        if "/events" in request.url:
            return  # the stream never finishes; it is live data, not page weight
        sizes = request.sizes()
        transferred[request.url] = sizes["responseHeadersSize"] + sizes["responseBodySize"]

    page.on("requestfinished", count)
    watch = StreamWatch(page)
    page.goto(live_server.base_url)
    watch.expect_live()
    expect(page.locator("#inbox .notification")).to_have_count(2)
    total = sum(transferred.values())
    print(f"dashboard first load: {total} bytes in {len(transferred)} responses")
    for url, size in sorted(transferred.items(), key=lambda kv: -kv[1]):
        print(f"  {size:>7}  {url}")
    assert any("htmx.min.js?v=" in url and size > 5000 for url, size in transferred.items())
    assert total < PAGE_WEIGHT_LIMIT
    fresh.close()
