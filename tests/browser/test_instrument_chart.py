"""The instrument page's chart gains points while the page is open."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from tests.browser.conftest import ARTIFACTS
from tests.conftest import LiveServer
from tests.factories import add_tick, make_instrument

pytestmark = pytest.mark.browser


def test_the_chart_is_preloaded_and_gains_points_live(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    acme = make_instrument(session, "ACME")
    for price in (100.0, 101.5, 100.75):
        add_tick(session, acme, price)
    live_server.runtime.price_poller.wake()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.base_url}/")
    page.get_by_role("link", name="ACME", exact=True).click()
    page.wait_for_url(f"{live_server.base_url}/instruments/ACME")
    expect(page.locator("#chart-state")).to_have_text("live")
    expect(page.locator("#chart canvas")).to_have_count(1)
    assert page.evaluate("document.querySelector('#chart .u-over') !== null")

    expect(page.locator("#chart")).to_have_attribute("data-count", "3")  # the preloaded history
    # Price messages are conflated per poll (latest per symbol), so tick at a live pace.
    for count, price in ((4, 102.0), (5, 103.25)):
        tick = add_tick(session, acme, price)
        expect(page.locator("#chart")).to_have_attribute("data-last-tick-id", str(tick.id))
        expect(page.locator("#chart")).to_have_attribute("data-count", str(count))
    expect(page.locator("#instrument-price")).to_have_text("103.25")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "instrument.png"), full_page=True)
    assert errors == []
    page.close()
