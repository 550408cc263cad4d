"""The instrument page's chart: bars per timeframe, with the live tail."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session, select

from dashboard.models import Instrument, utcnow
from dashboard.prices import alerts, bars
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser


def test_the_chart_shows_bars_of_the_timeframe_and_its_last_bar_moves_live(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    acme = make_instrument(session, "ACME")
    now = utcnow()
    # Three ticks in three different minutes (and at least two five-minute bars, so the
    # page starts on 1D): three one-minute bars.
    for minutes_ago, price in ((20, 100.0), (10, 101.5), (1, 100.75)):
        add_tick(session, acme, price, ts=now - timedelta(minutes=minutes_ago))
    live_server.runtime.price_poller.wake()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sockets: list[str] = []
    streams: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
    page.goto(f"{live_server.base_url}/")
    page.get_by_role("link", name="ACME", exact=True).click()
    page.wait_for_url(f"{live_server.base_url}/instruments/ACME")
    expect(page.locator("#chart-state")).to_have_text("live")
    expect(page.locator("#chart canvas")).to_have_count(1)
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-timeframe", "1D")
    expect(page.get_by_role("button", name="1D")).to_have_attribute("aria-pressed", "true")

    page.get_by_role("button", name="1H").click()
    expect(chart).to_have_attribute("data-timeframe", "1H")
    expect(chart).to_have_attribute("data-count", "3")
    expect(chart).to_have_attribute("data-last-close", "100.75")

    # A tick in this minute opens a fourth bar; another in the same minute moves its close.
    live = add_tick(session, acme, 102.0, ts=now)
    expect(chart).to_have_attribute("data-last-tick-id", str(live.id))
    expect(chart).to_have_attribute("data-count", "4")
    same_minute = add_tick(session, acme, 103.25, ts=now)
    expect(chart).to_have_attribute("data-last-tick-id", str(same_minute.id))
    expect(chart).to_have_attribute("data-count", "4")
    expect(chart).to_have_attribute("data-last-close", "103.25")
    expect(page.locator("#instrument-price")).to_have_text("103.25")

    # One stream per page: the chart's prices came on the page's own /events stream.
    assert sockets == []
    assert [url for url in streams if "chart=ACME" in url] == [streams[-1]]
    page.reload()  # the chosen timeframe is remembered
    expect(page.locator("#chart")).to_have_attribute("data-timeframe", "1H")
    expect(page.locator("#chart")).to_have_attribute("data-count", "4")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "instrument.png"), full_page=True)
    assert errors == []
    page.close()


def monthly_history(
    session: Session, symbol: str, *, days_ago: int, months: int, first_price: float
) -> None:
    """An instrument with a tick a month from ``days_ago``, its price one more each month."""
    instrument = make_instrument(session, symbol)
    start = utcnow() - timedelta(days=days_ago)
    for month in range(months):
        add_tick(session, instrument, first_price + month, ts=start + timedelta(days=30.4 * month))


def test_regression_history_imported_from_long_ago_is_charted_whole(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: the chart drew the newest 600 ticks, and retention then deleted imported history;
    # ten years of monthly prices showed as nothing. The last day holds no bar here, so the
    # chart shows all of the history, one bar a month.
    monthly_history(session, "MSFT", days_ago=3650, months=120, first_price=20.0)
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/instruments/MSFT")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-timeframe", "All")
    expect(chart).to_have_attribute("data-count", "120")
    expect(chart).to_have_attribute("data-last-close", "139")
    expect(page.get_by_role("button", name="All")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#chart-empty")).to_be_hidden()
    # Monthly closes: one price a bar, drawn as a line (candles of one price are dashes).
    expect(chart).to_have_attribute("data-style", "line")
    expect(page.get_by_role("button", name="Line")).to_have_attribute("aria-pressed", "true")
    # Was: 1M (and 1H to 1W) opened an empty chart over a 0-1 axis. The newest price is a
    # month old: they are off, and say so; the last year holds it.
    expect(page.get_by_role("button", name="1Y")).to_be_enabled()
    for name in ("1H", "1D", "1W", "1M"):
        button = page.get_by_role("button", name=name, exact=True)
        expect(button).to_be_disabled()
        expect(button).to_have_attribute("title", re.compile(r": no prices, the newest is from "))
    expect(page.get_by_role("button", name="All")).to_be_enabled()
    page.get_by_role("button", name="Candles").click()  # a choice is kept
    expect(chart).to_have_attribute("data-style", "candles")
    page.close()


def test_regression_a_day_of_trades_from_long_ago_is_charted_in_five_minute_bars(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: "All" drew daily bars only, so a day's trade dump was one candle, and every
    # other timeframe (counted back from now) was empty.
    btc = make_instrument(session, "BTCUSDT")
    day = utcnow().replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=400)
    for minute in range(0, 6 * 60, 2):  # 09:00 to 14:58: 72 five-minute bars
        add_tick(session, btc, 97_000.0 + minute, ts=day + timedelta(minutes=minute))
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/instruments/BTCUSDT")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-timeframe", "All")
    expect(chart).to_have_attribute("data-resolution", "5m")
    expect(chart).to_have_attribute("data-count", "72")
    expect(chart).to_have_attribute("data-last-close", "97358")
    # Once minute bars are pruned (retention), the day is drawn in hours.
    bars.roll_up(session=session)
    bars.prune_minute_bars(session=session, older_than=utcnow())
    page.reload()
    expect(chart).to_have_attribute("data-resolution", "1h")
    expect(chart).to_have_attribute("data-count", "6")
    page.close()


def test_regression_a_remembered_timeframe_empty_here_gives_way_to_one_with_prices(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: "1W", chosen on another instrument, opened this one's year-old history on an
    # empty chart, with the last price drawn as a lone bar off the axis.
    monthly_history(session, "OLDCO", days_ago=800, months=12, first_price=50.0)
    context = browser.new_context()
    context.add_init_script("localStorage.setItem('dashboard.chart-timeframe', '1W')")
    page = context.new_page()
    page.goto(f"{live_server.base_url}/instruments/OLDCO")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-timeframe", "All")
    expect(chart).to_have_attribute("data-count", "12")
    expect(page.get_by_role("button", name="1W")).to_be_disabled()
    # A live price brings the timeframes back.
    add_tick(
        session, session.exec(select(Instrument).where(Instrument.symbol == "OLDCO")).one(), 70.0
    )
    live_server.runtime.price_poller.wake()
    expect(page.get_by_role("button", name="1W")).to_be_enabled()
    page.get_by_role("button", name="1W").click()
    expect(chart).to_have_attribute("data-timeframe", "1W")
    expect(chart).to_have_attribute("data-count", "1")
    context.close()


def test_regression_live_and_rendered_figures_share_one_format_in_any_browser_locale(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: in a German browser the live price read "97.663,24" above "97,186.54"; and a
    # price of 0.00001299 on a 2-decimal instrument read "0.00". Now every figure reads
    # in the browser's language (static/format.js), rendered and live alike.
    big = make_instrument(session, "BIG")
    add_tick(session, big, 97186.54)
    tiny = make_instrument(session, "TINY")
    add_tick(session, tiny, 0.00001299)
    live_server.runtime.price_poller.wake()
    context = browser.new_context(locale="de-DE", timezone_id="America/New_York")
    page = context.new_page()
    page.goto(f"{live_server.base_url}/instruments/BIG")
    expect(page.locator("#chart-state")).to_have_text("live")
    expect(page.locator("#instrument-price")).to_have_text("97.186,54")
    add_tick(session, big, 97663.24)
    expect(page.locator("#instrument-price")).to_have_text("97.663,24")
    expect(page.locator("#ohlc-open")).to_have_text("97.186,54")
    expect(page.locator("#ohlc-high")).to_have_text("97.663,24")
    expect(page.locator("#instrument-change .change")).to_have_text("+476,70")
    expect(page.locator("#instrument-change .percent")).to_have_text("+0,49\u00a0%")

    page.goto(f"{live_server.base_url}/instruments/TINY")
    expect(page.locator("#chart-state")).to_have_text("live")
    expect(page.locator("#instrument-price")).to_have_text("0,00001299")
    add_tick(session, tiny, 0.000013)
    expect(page.locator("#instrument-price")).to_have_text("0,000013")
    context.close()


def test_regression_change_high_low_and_stale_on_the_instrument_page_are_live(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: only the big price moved; a tick at 63.00 left "High 57.95" and the change as
    # first rendered.
    acme = make_instrument(session, "ACME", ttl_seconds=2)
    add_tick(session, acme, 50.0, ts=utcnow() - timedelta(hours=1))
    add_tick(session, acme, 57.95, ts=utcnow() - timedelta(minutes=30))
    live_server.runtime.price_poller.wake()
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/instruments/ACME")
    expect(page.locator("#chart-state")).to_have_text("live")
    expect(page.locator("#ohlc-high")).to_have_text("57.95")
    add_tick(session, acme, 63.0)
    expect(page.locator("#instrument-price")).to_have_text("63.00")
    expect(page.locator("#ohlc-high")).to_have_text("63.00")
    expect(page.locator("#ohlc-low")).to_have_text("50.00")
    change = page.locator("#instrument-change")
    expect(change).to_have_text("+13.00 +26.00%")  # against 50.00, an hour ago
    expect(page.locator("#ohlc-open")).to_have_text("50.00")  # what the change is against
    expect(change).to_have_class("tile-change trend-up")
    expect(page.locator("#instrument-stale")).to_be_visible()  # no tick for 2 s
    add_tick(session, acme, 45.5)
    expect(change).to_have_text("\u22124.50 \u22129.00%")
    expect(page.locator("#ohlc-low")).to_have_text("45.50")
    expect(page.locator("#instrument-stale")).to_be_hidden()
    page.close()


def test_candles_read_out_zoom_and_alert_levels_on_the_chart(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: a line of closes only, no way to zoom or read a bar's open, high and low, and
    # alert levels nowhere on the chart.
    make_user(session, "alice")
    acme = make_instrument(session, "ACME")
    now = utcnow()
    for minutes_ago, price in ((50, 100.0), (49, 103.0), (30, 101.0), (29, 97.5), (5, 102.0)):
        add_tick(session, acme, price, ts=now - timedelta(minutes=minutes_ago, seconds=30))
    # The last bar is a range (opened at 101.00 at the start of its minute): candles.
    last = now - timedelta(minutes=5, seconds=30)
    add_tick(session, acme, 101.0, ts=last.replace(second=0, microsecond=0))
    live_server.runtime.price_poller.wake()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    page.goto(f"{live_server.base_url}/instruments/ACME")
    expect(page.locator("#chart-state")).to_have_text("live")
    page.get_by_role("button", name="1H").click()
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-count", "5")
    expect(chart).to_have_attribute("data-style", "candles")  # the default
    readout = page.locator("#chart-readout")
    expect(readout).to_contain_text("C 102.00")  # the newest bar until pointed at

    # The read-out follows the pointer: the first bar's open, high, low and close.
    box = page.locator("#chart .u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + 8, box["y"] + box["height"] / 2)
    expect(readout).to_contain_text("O 100.00  H 100.00  L 100.00  C 100.00")

    page.get_by_role("button", name="Line").click()
    expect(chart).to_have_attribute("data-style", "line")
    page.get_by_role("button", name="Zoom in").click()
    expect(chart).to_have_attribute("data-zoomed", "true")
    page.get_by_role("button", name="Reset").click()
    expect(chart).to_have_attribute("data-zoomed", "false")
    # Dragging across the chart zooms to what was dragged over.
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 40, steps=5)
    page.mouse.up()
    expect(chart).to_have_attribute("data-zoomed", "true")
    page.locator("#chart .u-over").dblclick()
    expect(chart).to_have_attribute("data-zoomed", "false")

    page.get_by_label("Level").fill("105")
    page.get_by_role("button", name="Set alert").click()
    expect(chart).to_have_attribute("data-alert-levels", "105")  # drawn as a dashed line
    page.reload()  # the style is remembered
    expect(page.locator("#chart")).to_have_attribute("data-style", "line")
    context.close()


def test_regression_a_fired_alert_shows_as_fired_with_a_toast(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: the alert list said "armed" after the alert fired, and nothing on the page said
    # it had (the notification went quietly into the inbox).
    alice = make_user(session, "alice")
    assert alice.id is not None
    acme = make_instrument(session, "ACME", ttl_seconds=3600)
    add_tick(session, acme, 100.0)
    alerts.create(
        limit=100, session=session, user_id=alice.id, symbol="ACME", direction="above", level="105"
    )
    live_server.runtime.price_poller.wake()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    page.goto(f"{live_server.base_url}/instruments/ACME")
    expect(page.locator("#chart-state")).to_have_text("live")
    expect(page.locator(".alert-item")).to_contain_text("armed")
    expect(page.locator("#chart")).to_have_attribute("data-alert-levels", "105")

    add_tick(session, acme, 106.0)
    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("ACME crossed above 105.00")
    expect(toast.get_by_role("link", name="View")).to_have_attribute("href", "/instruments/ACME")
    expect(page.locator(".alert-item")).to_contain_text("fired")
    expect(page.get_by_role("button", name="Re-arm the ACME alert at 105.00")).to_be_visible()
    expect(page.locator("#chart")).to_have_attribute("data-alert-levels", "105 fired")
    context.close()
