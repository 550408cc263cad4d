"""Hundreds of instruments: the list view, its sorting, filtering and grouping, and a page
that stays smooth while 500 of them tick."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import insert
from sqlmodel import Session

from dashboard.models import Instrument, Tick, utcnow
from dashboard.prices import instruments
from tests.browser.conftest import NOTE_READY, prices_taken, ready_seen
from tests.browser.price_list import open_list_by_price, priced_instruments, rows_in_order
from tests.conftest import LiveServer, wait_until
from tests.factories import add_tick, make_instrument

pytestmark = pytest.mark.browser


def symbols_shown(page: Page) -> list[str]:
    """The visible tiles' symbols in the order a person sees them, top to bottom."""
    symbols: list[str] = page.locator("#tiles > .tile:visible").evaluate_all(
        "tiles => tiles.map(t => [t.getBoundingClientRect().top, t.dataset.symbol])"
        ".sort((a, b) => a[0] - b[0]).map(([, symbol]) => symbol)"
    )
    return symbols


def test_the_list_view_sorts_filters_groups_and_is_remembered(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: only tiles, about nine above the fold, in one fixed order, with no way to find
    # one instrument among fifty.
    prices = {"ACME": ("equity", 10.0), "BOLT": ("crypto", 300.0), "CRAB": ("equity", 20.0)}
    instruments = {}
    for symbol, (kind, price) in prices.items():
        instruments[symbol] = make_instrument(session, symbol, kind=kind, ttl_seconds=3600)
        add_tick(session, instruments[symbol], price)
    live_server.runtime.price_poller.wake()
    wait_until(lambda: len(live_server.runtime.price_poller.states) == 3)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    page.get_by_role("button", name="List").click()
    expect(page.locator("#tiles")).to_have_class("tiles is-list")
    row = page.locator("#tile-ACME")
    # A row: symbol, name, last, change and % side by side, on one line.
    boxes = [row.locator(s).bounding_box() for s in (".tile-symbol", "p > b", "p > i + i")]
    assert all(b is not None for b in boxes)
    middles = [b["y"] + b["height"] / 2 for b in boxes if b]
    assert max(middles) - min(middles) < 4

    page.locator(".list-head [data-sort=last]").click()
    assert symbols_shown(page) == ["ACME", "CRAB", "BOLT"]
    page.locator(".list-head [data-sort=last]").click()  # again: descending
    assert symbols_shown(page) == ["BOLT", "CRAB", "ACME"]

    add_tick(session, instruments["ACME"], 500.0)  # a live sort follows the prices
    wait_until(lambda: symbols_shown(page) == ["ACME", "BOLT", "CRAB"])

    page.get_by_label("Filter").fill("cr")
    assert symbols_shown(page) == ["CRAB"]
    expect(page.locator(".tile-count")).to_have_text("1 of 3 instruments")
    page.get_by_label("Filter").fill("")
    page.locator("select[name=kind]").select_option("equity")
    assert sorted(symbols_shown(page)) == ["ACME", "CRAB"]
    page.locator("select[name=kind]").select_option("")
    page.get_by_label("Group by kind").check()
    expect(page.locator("#tiles > .group-head")).to_have_text(["crypto", "equity"])
    assert symbols_shown(page) == ["BOLT", "ACME", "CRAB"]

    page.reload()  # remembered
    expect(page.locator("#tiles")).to_have_class("tiles is-list")
    expect(page.locator("#tiles > .group-head")).to_have_count(2)
    assert symbols_shown(page) == ["BOLT", "ACME", "CRAB"]
    expect(page.locator("select[name=sort]")).to_have_value("last")
    context.close()


def test_regression_a_phones_list_keeps_its_columns_in_line_and_the_symbols_whole(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: each row sized its stale-mark column to its own mark, so a fresh row's price and
    # % sat 37 px right of the stale rows', the header's "%" stood over the marks, and
    # the symbol column kept what was left ("SOL-U…", "BTCU…").
    for symbol, ttl, age in (("SOL-USD", 60, 3600), ("BTCUSDT", 60, 3600), ("SAP", 3600, 0)):
        instrument = make_instrument(session, symbol, ttl_seconds=ttl)
        add_tick(session, instrument, 197.4, ts=utcnow() - timedelta(seconds=age))
    live_server.runtime.price_poller.wake()
    wait_until(lambda: len(live_server.runtime.price_poller.states) == 3)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.add_init_script(NOTE_READY)
    page.goto(live_server.base_url)
    ready_seen(page, 1)
    page.get_by_role("button", name="List").click()
    expect(page.locator("#tiles")).to_have_class("tiles is-list")
    expect(page.locator("#tile-SOL-USD .stale-marker")).to_be_visible()
    expect(page.locator("#tile-SAP .stale-marker")).to_have_count(0)

    def right_edges(selector: str) -> list[float]:
        edges: list[float] = page.locator(selector).evaluate_all(
            "cells => cells.map(c => c.getBoundingClientRect().right)"
        )
        return edges

    for cells in ("#tiles > .tile p > b", "#tiles > .tile p > i + i"):
        edges = right_edges(cells)
        assert len(edges) == 3 and max(edges) - min(edges) < 1.5, (cells, edges)
    (pct_head,) = right_edges(".list-head .col-pct")
    pct = right_edges("#tiles > .tile p > i + i")[0]
    assert pct_head <= pct + 1.5  # the header's "%" over the percentages, not the marks
    for symbol in ("SOL-USD", "BTCUSDT"):
        cut = page.locator(f"#tile-{symbol} .tile-symbol").evaluate(
            "e => e.scrollWidth > e.clientWidth"
        )
        assert not cut, symbol
    context.close()


TICKING = 500
TICKS_PER_SECOND_EACH = 2
WATCH_SECONDS = 60.0
LONG_TASK_MS = 50.0
# CPU seconds of machine_slowdown's loop at this machine's usual speed, or less: the page's
# thread time per task grows as the machine slows (a shared host, throttling). On
# 2026-12-06 the machine slowed through the afternoon (the ingest bench's floor fell from
# 150,000 to 79,000 ticks/s, then further), the test failed on code that had passed in the
# morning, and the loop took 0.075 s at the slowest. The budget grows only past 0.05 s.
USUAL_LOOP_SECONDS = 0.05


def machine_slowdown() -> float:
    """How many times slower than usual this machine runs now (at least 1): a fixed loop's
    CPU time against :data:`USUAL_LOOP_SECONDS`."""
    started = time.process_time()
    total = 0
    for i in range(2_000_000):
        total += i
    return max(1.0, (time.process_time() - started) / USUAL_LOOP_SECONDS)


@pytest.mark.alone
def test_regression_five_hundred_ticking_instruments_cause_no_long_task(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: every tick swapped a whole tile (~1,200 bytes of markup to parse); now a quote
    # of ~90. A task over 50 ms is a frame a person sees stutter (a "long task").
    kinds = ["equity", "fx", "crypto", "index"]
    rows = [
        Instrument(
            symbol=f"S{i:03d}",
            name=f"Instrument {i}",
            kind=kinds[i % 4],
            decimals=2,
            seed_price=100.0,
            ttl_seconds=3600,
            position=i,
        )
        for i in range(TICKING)
    ]
    session.add_all(rows)
    session.commit()
    ids = [r.id for r in rows]
    session.execute(
        insert(Tick), [{"instrument_id": i, "price": 100.0, "ts": utcnow()} for i in ids]
    )
    session.commit()
    live_server.runtime.price_poller.wake()
    wait_until(lambda: len(live_server.runtime.price_poller.states) == TICKING, timeout=30)

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    page.get_by_role("button", name="List").click()
    # Sorted by price: the list also re-sorts every second, as the prices move.
    page.locator("select[name=sort]").select_option("last")
    page.evaluate(
        "window.__swaps = 0; new MutationObserver(ms => { window.__swaps += ms.length; })"
        ".observe(document.getElementById('tiles'), { childList: true, subtree: true });"
    )
    slowdown = machine_slowdown()
    browser.start_tracing(page=page, categories=["toplevel"])

    stop = threading.Event()

    def write_ticks() -> None:
        """2 ticks/s for each of the 500, in tenth-of-a-second batches, as a feed would."""
        rng = random.Random(7)
        price = dict.fromkeys(ids, 100.0)
        per_batch = TICKING * TICKS_PER_SECOND_EACH // 10
        with Session(session.get_bind()) as writer:
            while not stop.is_set():
                started = time.monotonic()
                batch = []
                for instrument_id in rng.sample(ids, per_batch):
                    price[instrument_id] *= 1 + rng.gauss(0, 0.002)
                    batch.append(
                        {
                            "instrument_id": instrument_id,
                            "price": price[instrument_id],
                            "ts": utcnow(),
                        }
                    )
                writer.execute(insert(Tick), batch)
                writer.commit()
                live_server.runtime.price_poller.wake()
                stop.wait(max(0.0, 0.1 - (time.monotonic() - started)))

    writer = threading.Thread(target=write_ticks, daemon=True)
    writer.start()
    try:
        # Not a sleep before a check: the page is watched the whole time; this is the
        # length of the watch.
        page.wait_for_timeout(WATCH_SECONDS * 1000)
    finally:
        stop.set()
        writer.join(timeout=10)
    tasks = main_thread_tasks(browser.stop_tracing())
    # The speed over the watch: the mean of before and after.
    slowdown = (slowdown + machine_slowdown()) / 2
    swaps = page.evaluate("window.__swaps")
    # The live re-sort keeps up: once the prices stop, the rows settle in price order.
    wait_until(
        lambda: page.evaluate(
            "[...document.querySelectorAll('#tiles > .tile > p > b')]"
            ".map(b => window.dashboardFormat.value(b))"
            ".every((price, i, prices) => i === 0 || prices[i - 1] <= price)"
        )
    )
    assert swaps > TICKING * TICKS_PER_SECOND_EACH * WATCH_SECONDS / 4  # it was busy
    assert len(tasks) > WATCH_SECONDS * 10  # the trace holds the page's work
    # The renderer's own work per task (thread time): what the page costs, not the time
    # another process on this 2-core machine held the CPU meanwhile; 50 ms at the
    # machine's usual speed, as much more as it runs slower during the watch.
    budget = LONG_TASK_MS * slowdown
    long_tasks = sorted(round(cpu_ms) for cpu_ms, _ in tasks if cpu_ms > budget)
    assert long_tasks == [], (
        f"tasks over {budget:.0f} ms of main-thread work (50 ms at usual speed; the machine "
        f"ran {slowdown:.2f} times slower): {long_tasks}"
    )
    page.close()


def main_thread_tasks(trace: bytes) -> list[tuple[float, float]]:
    """(thread ms, wall ms) of every task the pages' main threads ran, from a Chromium
    trace of the "toplevel" category."""
    parsed = json.loads(trace)
    events = parsed["traceEvents"] if isinstance(parsed, dict) else parsed
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e["args"].get("name") == "CrRendererMain"
    }
    return [
        (e["tdur"] / 1000, e["dur"] / 1000)
        for e in events
        if e.get("ph") == "X"
        and e.get("name") == "ThreadControllerImpl::RunTask"
        and (e["pid"], e["tid"]) in mains
        and "tdur" in e
    ]


# Frames held until the test lets them run, and the tiles' once-a-second re-sort counted.
_HELD_FRAMES = """
window.__frames = [];
window.requestAnimationFrame = (callback) => window.__frames.push(callback);
window.__runFrames = () => {
  const frames = window.__frames;
  window.__frames = [];
  for (const callback of frames) callback(performance.now());
  return window.__frames.length;
};
const everyInterval = window.setInterval;
window.__seconds = 0;
window.setInterval = (callback, ms, ...rest) =>
  everyInterval(() => { if (ms === 1000) window.__seconds += 1; callback(...rest); }, ms);
"""


def test_regression_a_re_sort_asked_for_while_one_is_being_made_is_not_lost(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: the once-a-second check found a re-sort still being made (its frames had not
    # run: a hidden tab, a slow device), dropped the new request, and the list stayed out
    # of order until some later price changed.
    instruments = priced_instruments(session, live_server, {"A": 10.0, "B": 20.0, "C": 30.0})
    page = open_list_by_price(browser, live_server, init_script=_HELD_FRAMES)
    assert rows_in_order(page) == ["A", "B", "C"]
    add_tick(session, instruments["A"], 500.0)
    wait_until(lambda: page.evaluate("window.__frames.length") > 0)  # a re-sort under way
    add_tick(session, instruments["B"], 600.0)
    expect(page.locator("#q-B > b")).to_have_text("600.00")
    seconds = page.evaluate("window.__seconds")
    wait_until(lambda: page.evaluate("window.__seconds") > seconds)  # asked while under way

    def settled() -> bool:
        page.evaluate("window.__runFrames()")
        return rows_in_order(page) == ["C", "A", "B"]

    wait_until(settled)
    page.close()


def test_an_instrument_added_while_the_page_is_open_gets_its_tile_and_a_retired_one_leaves(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: a page open before an instrument was added never showed its tile (until
    # reloaded), and a retired instrument's tile stayed on open pages, its price frozen.
    add_tick(session, make_instrument(session, "ACME", ttl_seconds=3600), 10.0)
    prices_taken(live_server, session)
    page = browser.new_page()
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    page.locator("select[name=sort]").select_option("symbol")
    page.get_by_role("button", name="Sort ascending").click()  # now Z to A

    newco = make_instrument(session, "NEWCO", kind="crypto", ttl_seconds=3600)
    add_tick(session, newco, 42.5)
    live_server.runtime.price_poller.wake()
    expect(page.locator("#q-NEWCO > b")).to_have_text("42.50")
    expect(page.locator(".tile-count")).to_have_text("2 instruments")
    wait_until(lambda: symbols_shown(page) == ["NEWCO", "ACME"])  # in the sort's order
    # Its kind is one the page did not know: it can be chosen in the filter.
    page.locator("select[name=kind]").select_option("crypto")
    assert symbols_shown(page) == ["NEWCO"]
    page.locator("select[name=kind]").select_option("")

    instruments.retire(session=session, symbol="NEWCO")
    live_server.runtime.price_poller.instruments_changed()
    expect(page.locator("#tile-NEWCO")).to_have_count(0)
    expect(page.locator(".tile-count")).to_have_text("1 instrument")
    # A page opened now does not get it back from its stream's first message either.
    again = browser.new_page()
    again.add_init_script(NOTE_READY)
    again.goto(live_server.base_url)
    ready_seen(again)  # the snapshot has been applied
    expect(again.locator("#tiles > .tile")).to_have_count(1)
    again.close()
    page.close()


def test_a_tile_retired_while_the_stream_was_down_leaves_with_the_next_snapshot(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: the delete went out while the page was disconnected, and the new connection's
    # snapshot only left the tile out, so it stayed on the page, frozen, until a reload.
    for symbol in ("ACME", "GONE"):
        add_tick(session, make_instrument(session, symbol, ttl_seconds=3600), 10.0)
    prices_taken(live_server, session)
    page = browser.new_page()
    page.add_init_script(NOTE_READY)
    page.goto(live_server.base_url)
    ready_seen(page)
    expect(page.locator(".tile-count")).to_have_text("2 instruments")
    page.route("**/events?*", lambda route: route.abort())
    page.evaluate("document.getElementById('live')._htmx.sse.reader.cancel()")
    expect(page.locator("#connection")).not_to_have_text("live")
    instruments.retire(session=session, symbol="GONE")
    live_server.runtime.price_poller.instruments_changed()
    wait_until(lambda: "GONE" not in live_server.runtime.hub.latest_tiles)
    page.unroute("**/events?*")
    ready_seen(page, 2)
    expect(page.locator("#tile-GONE")).to_have_count(0)
    expect(page.locator("#tile-ACME")).to_be_visible()
    expect(page.locator(".tile-count")).to_have_text("1 instrument")
    page.close()


def test_an_empty_dashboard_shows_the_first_instrument_as_its_price_arrives(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    page = browser.new_page()
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#tiles > .empty")).to_contain_text("No instruments yet")
    expect(page.locator("#dashboard-tools")).to_be_hidden()
    expect(page.locator(".legend")).to_be_hidden()

    add_tick(session, make_instrument(session, "FIRST", ttl_seconds=3600), 7.25)
    live_server.runtime.price_poller.wake()
    expect(page.locator("#q-FIRST > b")).to_have_text("7.25")
    expect(page.locator("#tiles > .empty")).to_have_count(0)
    expect(page.locator("#dashboard-tools")).to_be_visible()
    expect(page.locator(".legend")).to_be_visible()
    expect(page.locator(".tile-count")).to_have_text("1 instrument")
    page.close()
