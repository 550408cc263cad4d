"""Keyboard focus on a tile survives the tile's live updates."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from tests.browser.price_list import open_list_by_price, priced_instruments, rows_in_order
from tests.conftest import LiveServer, wait_until
from tests.factories import add_tick, make_instrument

pytestmark = pytest.mark.browser


def focused_link(page: Page) -> list[str]:
    """[the id of the tile holding the focus, the focused element's text]."""
    focused: list[str] = page.evaluate(
        "[document.activeElement.closest('.tile')?.id, document.activeElement.textContent]"
    )
    return focused


def test_regression_focus_on_a_tiles_link_survives_ticks_and_enter_follows_it(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: each tick replaced the tile and the focused link with it; focus fell back to the
    # page, and Enter a second later did nothing 4 times in 5. Ticks now swap only the
    # quote, but the whole tile is still replaced when it goes stale or fresh again.
    acme = make_instrument(session, "ACME", ttl_seconds=1)
    add_tick(session, acme, 100.0)
    live_server.runtime.price_poller.wake()
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/")
    expect(page.locator("#connection")).to_have_text("live")
    tile = page.locator("#tile-ACME")
    link = tile.get_by_role("link", name="ACME", exact=True)
    link.focus()
    for price in (101.0, 102.0, 103.0):
        tick = add_tick(session, acme, price)
        # Fresh again, the whole tile was replaced (a quote part has no tick id); within a
        # second it goes stale and is replaced once more.
        expect(tile).to_have_attribute("data-tick-id", str(tick.id))
        expect(tile).to_have_class(re.compile("is-stale"), timeout=10_000)
        assert focused_link(page) == ["tile-ACME", "ACME"]
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.base_url}/instruments/ACME")
    page.close()


def test_regression_focus_stays_on_a_list_row_that_a_live_re_sort_moves(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: a live re-sort moved a row by taking it out of the document and putting it back
    # (insertBefore), and the link in it that had focus lost it to the page.
    instruments = priced_instruments(
        session, live_server, {"ACME": 10.0, "BOLT": 20.0, "CRAB": 30.0}
    )
    page = open_list_by_price(browser, live_server)
    assert rows_in_order(page) == ["ACME", "BOLT", "CRAB"]
    page.locator("#tile-ACME").get_by_role("link", name="ACME", exact=True).focus()

    add_tick(session, instruments["ACME"], 500.0)
    wait_until(lambda: rows_in_order(page) == ["BOLT", "CRAB", "ACME"])
    assert focused_link(page) == ["tile-ACME", "ACME"]
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.base_url}/instruments/ACME")
    page.close()
