"""Numbers and times in the viewer's choice (static/format.js, dashboard.display): one rule
on the server and in the browser, for what a page renders and what streams swap in."""

from __future__ import annotations

import http.server
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, expect
from sqlmodel import Session, select

from dashboard import display
from dashboard.models import PriceAlert, utcnow
from dashboard.prices import tiles
from tests.browser.conftest import log_in, prices_taken
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
    (2.675, 2),  # half way: up, on the decimal as written
    (1e30, 2),  # past a Decimal's default 28 digits
    (1e20, 8),
]
COMPACT = [
    143_250_000.0,
    999_994_999.0,
    999_999_999.0,
    1.5e13,
    2e15,  # four whole digits: not grouped in compact notation
    1.2345e16,
    123_456_789_012_345_678.0,
]
PERCENTS = [0.4142, -2.0, 0.0, 1234.56, -0.004, 0.285, 1.005, 1.255, 1e27]
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


def _alice_sees(
    browser: Browser,
    live_server: LiveServer,
    session: Session,
    *,
    locale: str,
    times: str,
    browser_locale: str = "en-US",
    timezone_id: str = "UTC",
) -> BrowserContext:
    """Alice, who chose ``locale`` and ``times``, signed in on a browser of
    ``browser_locale`` in ``timezone_id``: the context (its page signed in)."""
    alice = make_user(session, "alice")
    assert alice.id is not None
    display.set_display(session=session, user_id=alice.id, locale=locale, times=times)
    prices_taken(live_server, session)
    context = browser.new_context(locale=browser_locale, timezone_id=timezone_id)
    log_in(context.new_page(), live_server.base_url, "alice", PASSWORD)
    return context


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
    context = _alice_sees(
        browser, live_server, session, locale="de-CH", times="local", timezone_id="Europe/Berlin"
    )
    page = context.pages[0]
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
    prices_taken(live_server, session)
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
    add_notification(session, "Hello")
    context = _alice_sees(
        browser, live_server, session, locale="de-DE", times="utc", timezone_id="America/New_York"
    )
    page = context.pages[0]
    # The inbox groups by the chosen zone's days, in the chosen language.
    expect(page.locator("#inbox > li.inbox-day").first).to_have_text("Heute")
    page.goto(f"{live_server.base_url}/settings")
    # "signed in …": a date and time, in German, in UTC.
    when = page.locator(".login-when time").first
    expect(when).to_contain_text(" UTC")
    expect(when).to_contain_text(". ")  # "6. Dez. 2026, 08:05 UTC"
    expect(page.get_by_label("Number and date format")).to_have_value("de-DE")
    context.close()


def test_regression_a_level_typed_the_way_the_page_shows_figures_is_read_that_way(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: the server read every level as en-US, so a German "1.234,50" became an alert
    # at 1.2345 and "1,0834" one at 10834, without a word.
    acme = make_instrument(session, "ACME", ttl_seconds=3600)
    add_tick(session, acme, 1500.25)
    context = _alice_sees(browser, live_server, session, locale="de-DE", times="utc")
    page = context.pages[0]
    page.goto(f"{live_server.base_url}/instruments/ACME")
    level = page.locator("#alert-level")
    expect(level).to_have_attribute("placeholder", "1.500,25")
    for typed, shown in (("1.234,50", "1.234,50"), ("1,0834", "1,08"), ("2.000", "2.000,00")):
        level.fill(typed)
        page.get_by_role("button", name="Set alert").click()
        expect(page.locator("#alerts .alert-list")).to_contain_text(f"crosses above {shown}")
    session.expire_all()
    levels = sorted(a.level for a in session.exec(select(PriceAlert)).all())
    assert levels == [1.0834, 1234.5, 2000.0]
    context.close()


class _ChunkedPage(http.server.BaseHTTPRequestHandler):
    """Serves ``page`` in two chunks, the first ending inside a figure, the second once
    ``rest`` is set (a network's chunk boundary); anything else comes from the app at
    ``upstream``."""

    protocol_version = "HTTP/1.1"  # chunked transfer
    page = b""
    split = 0
    upstream = ""
    rest: threading.Event  # set once the browser has parsed the first chunk

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path != "/":
            answer = httpx.get(self.upstream + self.path)
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (self.page[: self.split], self.page[self.split :]):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
            self.rest.wait(timeout=10)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


def test_regression_a_figure_cut_by_a_network_chunk_is_rendered_whole(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: format.js rendered a figure as soon as the parser added it; when a chunk ended
    # inside it, "9,876" was rendered alone and ".54" appended after: "9.876.54".
    big = make_instrument(session, "BIG", ttl_seconds=3600)
    add_tick(session, big, 9876.54)
    prices_taken(live_server, session)
    page_html = httpx.get(live_server.base_url + "/").content
    cut = page_html.index(b"9,876.54") + len(b"9,876")
    rest = threading.Event()
    handler = type(
        "Handler",
        (_ChunkedPage,),
        {"page": page_html, "split": cut, "upstream": live_server.base_url, "rest": rest},
    )
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        context = browser.new_context(locale="de-DE")
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/", wait_until="commit")
        # The parser has the figure's first half, and not yet the rest.
        expect(page.locator("#q-BIG > b")).to_be_attached()
        rest.set()
        expect(page.locator("#q-BIG > b")).to_have_text("9.876,54")
        context.close()
        server.shutdown()


def test_regression_a_daily_bar_keeps_its_utc_date_for_a_viewer_west_of_utc(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: daily bars are UTC days, and the read-out gave their start in the viewer's zone:
    # in New York the Dec 6 bar read "Dec 5, 19:00".
    old = make_instrument(session, "OLD", ttl_seconds=3600)
    last_day = (utcnow() - timedelta(days=100)).replace(hour=2, minute=0)
    # A history over two months long: "All" draws it in daily bars (shorter ones, finer).
    add_tick(session, old, 10.0, ts=last_day - timedelta(days=90))
    add_tick(session, old, 11.0, ts=last_day)
    context = _alice_sees(
        browser, live_server, session, locale="en-US", times="local", timezone_id="America/New_York"
    )
    page = context.pages[0]
    page.goto(f"{live_server.base_url}/instruments/OLD")
    expect(page.locator("#chart")).to_have_attribute("data-timeframe", "All")
    readout = page.locator("#chart-readout")
    expect(readout).to_contain_text(f"{display.format_date(last_day)} (UTC)")
    context.close()
