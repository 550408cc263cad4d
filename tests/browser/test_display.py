"""Numbers and times in the viewer's choice (static/format.js, dashboard.display): one rule
on the server and in the browser, for what a page renders and what streams swap in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from dashboard import display
from dashboard.models import utcnow
from dashboard.prices import tiles
from tests.browser.conftest import log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser

# Prices and decimals the tiles show, awkward ones included: grouping, rounding, tiny
# prices' significant digits, huge ones' compact notation.
PRICES = [
    (97186.54, 2),
    (0.00001299, 2),
    (0.000004, 5),
    (1.005, 2),
    (1234567.891, 3),
    (0.5, 0),
    (12.0, 0),
]
COMPACT = [143_250_000.0, 999_994_999.0, 999_999_999.0, 1.5e13, 123_456_789_012_345_678.0]
PERCENTS = [0.4142, -2.0, 0.0, 1234.56, -0.004]
TIMES = [
    datetime(2026, 12, 6, 8, 5, 59, tzinfo=UTC),
    datetime(2025, 1, 31, 23, 59, tzinfo=UTC),
    datetime(2026, 7, 4, 0, 0, tzinfo=UTC),
]


def test_the_browser_and_the_server_write_the_same_canonical_form(
    browser: Browser, live_server: LiveServer
) -> None:
    # The server's text is what format.js gives for en-US and UTC: so a viewer who chose
    # those sees no difference between a rendered figure and a live one, and format.js can
    # read every canonical figure back.
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    page = context.new_page()
    page.goto(live_server.base_url)
    got = page.evaluate(
        """([prices, compact, percents, times]) => {
            const f = window.dashboardFormat;
            return {
                canonical: f.canonical,
                prices: prices.map(([v, d]) => f.price(v, d)),
                changes: prices.map(([v, d]) => [f.change(v, d), f.change(-v, d)]),
                compact: compact.map((v) => f.compact(v)),
                percents: percents.map((v) => f.percent(v)),
                times: times.map((t) => {
                    const when = new Date(t);
                    return [f.timeOfDay(when), f.date(when), f.dateTime(when)];
                }),
                reread: prices.map(([v, d]) => f.relocalise(f.price(v, d))),
            };
        }""",
        [PRICES, COMPACT, PERCENTS, [t.isoformat() for t in TIMES]],
    )
    assert got["canonical"] is True
    assert got["prices"] == [tiles.format_price(v, d) for v, d in PRICES]
    assert got["changes"] == [
        [tiles.format_change(v, d), tiles.format_change(-v, d)] for v, d in PRICES
    ]
    assert got["compact"] == [tiles.format_compact(v) for v in COMPACT]
    assert got["percents"] == [tiles.format_percent(v) for v in PERCENTS]
    assert got["times"] == [
        [display.format_time_of_day(t), display.format_date(t), display.format_date_time(t)]
        for t in TIMES
    ]
    assert got["reread"] == got["prices"]
    context.close()


def _berlin(when: datetime) -> str:
    local = when.astimezone(ZoneInfo("Europe/Berlin"))
    zone = {"CET": "MEZ", "CEST": "MESZ"}[local.tzname() or ""]
    return f"{local:%H:%M} {zone}"


def test_a_users_chosen_locale_and_time_zone_reach_every_figure_rendered_and_live(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # An English browser in Berlin; alice chose Swiss German figures and local times.
    acme = make_instrument(session, "ACME", ttl_seconds=3600)
    huge = make_instrument(session, "HUGE", ttl_seconds=3600)
    add_tick(session, acme, 1000.0, ts=utcnow() - timedelta(hours=2))
    add_tick(session, acme, 1234.5)
    add_tick(session, huge, 143_250_000.0)
    alice = make_user(session, "alice")
    assert alice.id is not None
    display.set_display(session=session, user_id=alice.id, locale="de-CH", times="local")
    live_server.runtime.price_poller.wake()
    context = browser.new_context(locale="en-US", timezone_id="Europe/Berlin")
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    quote = page.locator("#q-ACME")
    expect(quote.locator("b")).to_have_text("1'234.50")
    expect(quote.locator("i").first).to_have_text("+234.50")
    expect(quote.locator("i").nth(1)).to_have_text("+23.45%")
    expect(page.locator("#q-HUGE > b")).to_have_text("143.25 Mio.")
    expect(page.locator("#q-HUGE > b")).to_have_attribute("title", "143'250'000.00")

    # A live tick: its quote and time arrive in the canonical form and read as chosen.
    tick = add_tick(session, acme, 12345.678)
    expect(quote.locator("b")).to_have_text("12'345.68")
    expect(quote.locator("i").nth(1)).to_have_text("+1'134.57%")
    expect(page.locator("#t-ACME")).to_have_text(_berlin(tick.ts))

    # The instrument page agrees with the tile, figures and chart read-out alike.
    page.goto(f"{live_server.base_url}/instruments/ACME")
    expect(page.locator("#chart-state")).to_have_text("live")
    expect(page.locator("#instrument-price")).to_have_text("12'345.68")
    expect(page.locator("#ohlc-high")).to_have_text("12'345.68")
    expect(page.locator("#chart-readout")).to_contain_text("C 12'345.68")
    expect(page.locator("#chart-readout")).to_contain_text(" MEZ")
    context.close()


def test_the_browsers_language_is_the_default_and_a_list_sorted_by_price_stays_right(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # No choice made: a German browser reads German figures; the list view sorts by the
    # figures' values, not their text (1.234,50 is more than 9,50).
    for symbol, price in (("AAA", 1234.5), ("BBB", 9.5), ("CCC", 143_250_000.0)):
        add_tick(session, make_instrument(session, symbol, ttl_seconds=3600), price)
    live_server.runtime.price_poller.wake()
    context = browser.new_context(locale="de-DE", timezone_id="UTC")
    page = context.new_page()
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#q-AAA > b")).to_have_text("1.234,50")
    expect(page.locator("#q-CCC > b")).to_have_text("143,25\u00a0Mio.")
    page.get_by_role("button", name="List").click()
    page.locator(".list-head [data-sort=last]").click()
    expect(page.locator("#tiles > .tile").first).to_have_attribute("data-symbol", "BBB")
    order = page.locator("#tiles > .tile").evaluate_all("els => els.map((e) => e.dataset.symbol)")
    assert order == ["BBB", "AAA", "CCC"]
    context.close()


def test_dates_and_times_outside_tiles_follow_the_choice_too(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    display.set_display(session=session, user_id=alice.id, locale="de-DE", times="utc")
    add_notification(session, "Hello")
    context = browser.new_context(locale="en-US", timezone_id="America/New_York")
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    # The inbox groups by the chosen zone's days, in the chosen language.
    expect(page.locator("#inbox > li.inbox-day").first).to_have_text("Heute")
    page.goto(f"{live_server.base_url}/settings")
    # "signed in …": a date and time, in German, in UTC.
    when = page.locator(".login-when time").first
    expect(when).to_contain_text(" UTC")
    expect(when).to_contain_text(". ")  # "6. Dez. 2026, 08:05 UTC"
    expect(page.get_by_label("Number and date format")).to_have_value("de-DE")
    context.close()
