"""What a price tile says, and what its colours and marks mean, as a person sees them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Locator, ViewportSize, expect
from sqlmodel import Session

from dashboard.models import utcnow
from tests.browser.conftest import NOTE_READY, log_in, prices_taken, ready_seen
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser


def colour(locator: Locator, prop: str) -> str:
    return str(locator.evaluate(f"el => getComputedStyle(el).{prop}"))


def test_regression_green_and_red_mean_one_thing_and_only_the_number_is_marked(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: the whole tile flashed on every tick in the tick's colour, which disagreed with
    # the change's colour ~46 % of the time, and the sparkline (40 s of ticks) took the 24 h
    # change's colour, so a green line often went down.
    acme = make_instrument(session, "ACME", ttl_seconds=3600)
    now = utcnow()
    for hours_ago, price in ((5, 100.0), (3, 120.0), (1, 90.0)):
        add_tick(session, acme, price, ts=now - timedelta(hours=hours_ago))
    add_tick(session, acme, 95.0)
    live_server.runtime.price_poller.wake()
    page = browser.new_page()
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator(".legend")).to_contain_text("Change since 24 h ago")
    quote, line = page.locator("#q-ACME"), page.locator("#s-ACME polyline")
    expect(quote).to_have_class("down")  # 95 against 100, the price at the window's start
    down = colour(quote.locator("i").first, "color")
    assert colour(line, "stroke") == down
    assert page.locator("#s-ACME line").count() == 1  # the reference level, dashed

    add_tick(session, acme, 130.0)
    expect(quote.locator("b")).to_have_text("130.00")
    expect(quote).to_have_class("up")
    up = colour(quote.locator("i").first, "color")
    assert up != down and colour(line, "stroke") == up
    # The mark is on the number that changed; the tile itself does not flash.
    expect(quote.locator("b")).to_have_css("animation-name", "mark")
    expect(page.locator("#tile-ACME")).to_have_css("animation-name", "none")
    page.close()


def test_regression_a_slow_clock_does_not_put_a_new_notification_in_the_future(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: a browser whose clock ran two minutes slow called a fresh notification
    # "in 2 minutes"; relative times now go by the server's clock.
    alice = make_user(session, "alice")
    assert alice.id is not None
    add_notification(session, "Fresh")
    context = browser.new_context()
    context.add_init_script(
        "(() => { const real = Date.now; Date.now = () => real() - 120000; })();"
    )
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    item = page.locator("#inbox li", has_text="Fresh")
    expect(item.locator("time.relative")).to_have_text("just now")
    context.close()


def test_a_stale_tile_says_how_old_its_price_is(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    quiet = make_instrument(session, "QUIET", ttl_seconds=60)
    add_tick(session, quiet, 10.0, ts=utcnow() - timedelta(minutes=10))
    prices_taken(live_server, session)
    page = browser.new_page()
    page.goto(live_server.base_url)
    expect(page.locator("#tile-QUIET .stale-marker")).to_have_text("stale · 10 minutes ago")
    page.close()


def _overlap(a: Locator, b: Locator) -> bool:
    first, second = a.bounding_box(), b.bounding_box()
    assert first is not None and second is not None
    return not (
        first["x"] + first["width"] <= second["x"]
        or second["x"] + second["width"] <= first["x"]
        or first["y"] + first["height"] <= second["y"]
        or second["y"] + second["height"] <= first["y"]
    )


@pytest.mark.parametrize(
    "viewport",
    [{"width": 1400, "height": 900}, {"width": 700, "height": 900}, {"width": 360, "height": 740}],
)
def test_regression_the_stale_marker_lies_over_neither_symbol_nor_name(
    browser: Browser, live_server: LiveServer, session: Session, viewport: ViewportSize
) -> None:
    # Was: the marker sat at the tile's top right, over "BTC-USD" as soon as it said
    # "stale · 2 minutes ago", and over any symbol of seven letters or more.
    for symbol in ("BTC-USD", "BTCUSDT", "VERYLONGSYMBOL.X"):
        add_tick(
            session,
            make_instrument(session, symbol, ttl_seconds=60),
            10.0,
            ts=utcnow() - timedelta(days=800),
        )
    prices_taken(live_server, session)
    page = browser.new_page(viewport=viewport)
    page.add_init_script(NOTE_READY)
    page.goto(live_server.base_url)
    ready_seen(page)  # the snapshot's whole tiles have replaced the page's
    for symbol in ("BTC-USD", "BTCUSDT", "VERYLONGSYMBOL.X"):
        tile = page.locator(f'[id="tile-{symbol}"]')
        marker = tile.locator(".stale-marker")
        expect(marker).to_have_text("stale · 2 years ago")
        assert not _overlap(marker, tile.locator(".tile-symbol"))
        assert not _overlap(marker, tile.locator(".tile-name"))
        head, card = tile.locator(".tile-head").bounding_box(), tile.bounding_box()
        assert head is not None and card is not None
        assert head["x"] + head["width"] <= card["x"] + card["width"]  # inside its tile
    page.close()


def test_regression_prices_in_one_row_of_tiles_line_up_stale_or_not(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: a stale mark beside a long symbol (BTC-USD) went to the next line, and pushed
    # that tile's price below its neighbours' (431 against 446 px, one row of tiles).
    for symbol, age in (("BTC-USD", 2400), ("ACME", 2400), ("SAP", 0), ("BTCUSDT", 2400)):
        instrument = make_instrument(session, symbol, ttl_seconds=60)
        add_tick(session, instrument, 10.0, ts=utcnow() - timedelta(seconds=age))
    prices_taken(live_server, session)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(NOTE_READY)
    page.goto(live_server.base_url)
    ready_seen(page)
    expect(page.locator("#tile-BTC-USD .stale-marker")).to_be_visible()
    expect(page.locator("#tile-SAP .stale-marker")).to_have_count(0)
    tops: list[tuple[float, float]] = page.locator("#tiles > .tile").evaluate_all(
        "tiles => tiles.map(t => [t.getBoundingClientRect().top,"
        " t.querySelector('p > b').getBoundingClientRect().top])"
    )
    assert len({round(tile) for tile, _ in tops}) == 1  # one row of tiles
    prices = [price for _, price in tops]
    assert max(prices) - min(prices) <= 2, prices
    page.close()


@pytest.mark.parametrize(
    "viewport", [{"width": 1440, "height": 900}, {"width": 360, "height": 740}]
)
def test_regression_a_huge_price_fits_its_tile(
    browser: Browser, live_server: LiveServer, session: Session, viewport: dict[str, int]
) -> None:
    # Was: 143,250,000.00 lost its last digit at the tile's edge. Now it is in compact
    # notation, the whole figure its tooltip.
    huge = make_instrument(session, "HUGE", ttl_seconds=3600)
    add_tick(session, huge, 143_250_000.0)
    live_server.runtime.price_poller.wake()
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(live_server.base_url)
    price = page.locator("#q-HUGE > b")
    expect(price).to_have_text("143.25M")
    expect(price).to_have_attribute("title", "143,250,000.00")
    # Measured in one step: a live swap between two reads would detach the element.
    inside, unclipped = page.evaluate(
        """() => {
            const b = document.querySelector("#q-HUGE > b");
            const tile = document.getElementById("tile-HUGE").getBoundingClientRect();
            const right = b.getBoundingClientRect().right;
            return [right <= tile.right - 4, b.scrollWidth <= b.clientWidth];
        }"""
    )
    assert inside and unclipped
    context.close()
