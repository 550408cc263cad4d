"""The dashboard's list view sorted by price, for browser tests of its live re-sort."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from dashboard.models import Instrument
from tests.conftest import LiveServer
from tests.factories import add_tick, make_instrument


def priced_instruments(
    session: Session, live_server: LiveServer, prices: dict[str, float]
) -> dict[str, Instrument]:
    """One instrument per symbol (fresh for an hour) with its first tick at that price."""
    instruments = {}
    for symbol, price in prices.items():
        instruments[symbol] = make_instrument(session, symbol, ttl_seconds=3600)
        add_tick(session, instruments[symbol], price)
    live_server.runtime.price_poller.wake()
    return instruments


def open_list_by_price(browser: Browser, live_server: LiveServer, init_script: str = "") -> Page:
    """A new page on the dashboard, live, in the list view sorted by last price (ascending);
    ``init_script`` runs before the page's own scripts."""
    page = browser.new_page()
    if init_script:
        page.add_init_script(init_script)
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    page.get_by_role("button", name="List").click()
    page.locator(".list-head [data-sort=last]").click()
    return page


def rows_in_order(page: Page) -> list[str]:
    """The list's symbols in document order (a live re-sort moves the rows themselves)."""
    symbols: list[str] = page.locator("#tiles > .tile").evaluate_all(
        "rows => rows.map(row => row.dataset.symbol)"
    )
    return symbols
