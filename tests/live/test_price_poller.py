from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from time import time
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard.live.fragments import Renderer
from dashboard.live.hub import Hub
from dashboard.live.mailbox import Connection
from dashboard.live.price_poller import SPARKLINES_PER_BATCH, PricePoller, tile_for
from dashboard.models import Instrument, Notification, Tick, utcnow
from dashboard.prices import alerts, instruments
from dashboard.prices.alerts import AlertEvaluator, Move
from dashboard.runtime import build_runtime
from dashboard.settings import Settings
from dashboard.store.db import SessionFactory, session_factory
from tests.factories import (
    add_tick,
    make_instrument,
    make_user,
)
from tests.live.renderers import CountingRenderer, make_renderer

T = TypeVar("T")


def price_poller(
    engine: Engine, hub: Hub, renderer: Renderer, evaluator: AlertEvaluator | None = None
) -> PricePoller:
    return PricePoller(
        engine=engine,
        open_session=session_factory(engine),
        hub=hub,
        renderer=renderer,
        interval=1,
        batch_size=100,
        reference_window=timedelta(hours=24),
        alerts=evaluator,
    )


def test_price_poller_renders_each_changed_tile_once_per_batch_for_all_readers(
    engine: Engine, session: Session, settings: Settings
) -> None:
    acme, globex = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    add_tick(session, acme, 10.0)
    add_tick(session, globex, 4.0)
    hub = Hub(mailbox_size=8)
    renderer = CountingRenderer()
    poller = price_poller(engine, hub, renderer)
    asyncio.run(poller.prime())
    readers = [hub.connect(user_id=None) for _ in range(50)]
    renderer.tile_renders = 0

    add_tick(session, acme, 11.0)
    add_tick(session, acme, 12.0)
    last = add_tick(session, globex, 5.0)
    asyncio.run(poller.poll_once())

    # Two tiles changed, for fifty readers: each tile's quote rendered once for pages, and
    # the whole tile once for the snapshot of streams that open later.
    assert (renderer.quote_renders, renderer.tile_renders) == (2, 2)
    messages = {id(r.take_prices(renderer.tiles_message)) for r in readers}
    assert len(messages) == 1  # every reader got the very same bytes
    assert poller.cursor == last.id
    assert f'data-tick-id="{last.id}"' in hub.latest_tiles["GLBX"]
    assert poller.states["ACME"].price == 12.0


def test_price_poller_pushes_stale_without_a_new_tick(
    engine: Engine, session: Session, settings: Settings
) -> None:
    acme = make_instrument(session, "ACME", ttl_seconds=5)
    add_tick(session, acme, 10.0, ts=utcnow() - timedelta(seconds=1))
    hub = Hub(mailbox_size=8)
    poller = price_poller(engine, hub, make_renderer())
    asyncio.run(poller.prime())
    assert not poller.states["ACME"].stale
    reader = hub.connect(user_id=None)
    # Time passes with no tick: the next poll marks the tile stale and publishes it.
    poller.states["ACME"].arrived_at = utcnow() - timedelta(seconds=6)
    asyncio.run(poller.poll_once())
    message = reader.take_prices(make_renderer().tiles_message)
    assert message is not None and b"is-stale" in message
    assert 'stale<span class="stale-age"> · <time'.encode() in message  # with its age


def connected_poller(engine: Engine) -> tuple[PricePoller, Connection]:
    poller = price_poller(engine, hub := Hub(mailbox_size=8), make_renderer())
    asyncio.run(poller.prime())
    return poller, hub.connect(user_id=None)


def sent(reader: Connection) -> str:
    message = reader.take_prices(make_renderer().tiles_message)
    return "" if message is None else message.decode()


def test_regression_a_price_change_sends_pages_only_the_quote(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: every tick sent the whole tile (~1,170 bytes, ~700 of them the sparkline's
    # points), about 90 MB an hour for one open demo page.
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0, ts=utcnow() - timedelta(seconds=1))
    poller, reader = connected_poller(engine)
    tick = add_tick(session, acme, 101.5, ts=poller.states["ACME"].ts)  # the same minute
    asyncio.run(poller.poll_once())
    message = sent(reader)
    assert message == (
        "data: <p id=q-ACME class=up hx-swap-oob=true><b>101.50</b>"
        "<i>+1.50</i><i>+1.50%</i></p>\r\n\r\n"
    )
    # A stream that opens now still gets the whole tile, with this price.
    whole = poller._hub.latest_tiles["ACME"]
    assert f'data-tick-id="{tick.id}"' in whole and "101.50" in whole and "<svg" in whole


def test_regression_a_reference_that_moves_without_a_tick_is_published(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: importing older history moved a tile's reference (and so its change) with no
    # new tick; the API said 0.00 %, but open pages kept +10.00 % and a page opened then
    # was given the old whole tile, until a sparkline bucket closed (up to 15 minutes).
    ref = make_instrument(session, "REF1")
    add_tick(session, ref, 100.0, ts=utcnow() - timedelta(hours=1))
    add_tick(session, ref, 110.0, ts=utcnow() - timedelta(seconds=1))
    poller, reader = connected_poller(engine)
    program = poller._hub.connect(user_id=None, price_format="json")
    assert poller.states["REF1"].change_percent == 10.0
    add_tick(session, ref, 110.0, ts=datetime(2024, 6, 28, tzinfo=UTC))  # imported history
    asyncio.run(poller.poll_once())
    sent(reader), program.take_prices(lambda prices: b"".join(prices.values()))
    poller.instruments_changed()  # the reference refresh, due every minute, now
    asyncio.run(poller.poll_once())
    assert sent(reader) == (
        "data: <p id=q-REF1 hx-swap-oob=true><b>110.00</b><i>0.00</i><i>0.00%</i></p>\r\n\r\n"
    )
    quote = program.take_prices(lambda prices: b"".join(prices.values()))
    assert quote is not None and b'"reference_price":110.0' in quote
    assert "0.00%" in poller._hub.latest_tiles["REF1"]


def test_a_tick_that_changes_no_text_sends_pages_nothing_and_programs_the_tick(
    engine: Engine, session: Session, settings: Settings
) -> None:
    acme = make_instrument(session, "ACME")
    first = add_tick(session, acme, 100.0, ts=utcnow() - timedelta(seconds=1))
    poller, reader = connected_poller(engine)
    program = poller._hub.connect(user_id=None, price_format="json")
    again = add_tick(session, acme, 100.0, ts=first.ts)
    asyncio.run(poller.poll_once())
    assert sent(reader) == ""
    quote = program.take_prices(lambda prices: b"".join(prices.values()))
    assert quote is not None and f'"tick_id":{again.id}'.encode() in quote


def test_a_new_minute_sends_the_tiles_time(
    engine: Engine, session: Session, settings: Settings
) -> None:
    acme = make_instrument(session, "ACME", ttl_seconds=3600)
    first = add_tick(session, acme, 100.0, ts=utcnow() - timedelta(minutes=2))
    poller, reader = connected_poller(engine)
    assert first.ts is not None
    add_tick(session, acme, 100.0, ts=first.ts + timedelta(minutes=1))
    asyncio.run(poller.poll_once())
    message = sent(reader)
    assert "<time id=t-ACME" in message and "<p id=q-ACME" not in message  # same price
    shown = (first.ts + timedelta(minutes=1)).strftime("%H:%M UTC")
    assert f">{shown}</time>" in message


def test_sparklines_are_sent_when_a_bucket_closes_or_a_closed_one_changes(
    engine: Engine, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = make_instrument(session, "ACME", ttl_seconds=3600)
    glbx = make_instrument(session, "GLBX", ttl_seconds=3600)
    # 30 s into the 15-minute bucket (24 h window) that the real clock is in: tiles are
    # also rendered against the real clock, which would forget a sparkline dated a week back.
    start = datetime.fromtimestamp(time() // 900 * 900 + 30, tz=UTC)
    clock = [start]
    monkeypatch.setattr("dashboard.live.price_poller.utcnow", lambda: clock[0])
    for minutes_ago in (40, 25, 10):
        add_tick(session, acme, 100.0 + minutes_ago, ts=start - timedelta(minutes=minutes_ago))
        add_tick(session, glbx, 50.0 + minutes_ago, ts=start - timedelta(minutes=minutes_ago))
    poller, reader = connected_poller(engine)
    assert poller.states["ACME"].sparkline_path(start).points.count(",") == 3

    add_tick(session, acme, 99.0, ts=start)  # in the open bucket: the line stays
    asyncio.run(poller.poll_once())
    assert "<svg" not in sent(reader)

    add_tick(session, glbx, 70.0, ts=start - timedelta(minutes=20))  # late, a closed bucket
    asyncio.run(poller.poll_once())
    message = sent(reader)
    assert "<svg id=s-GLBX" in message and "s-ACME" not in message

    clock[0] = start + timedelta(minutes=15)  # the open bucket closes: every line moves on
    asyncio.run(poller.poll_once())
    message = sent(reader)
    assert "<svg id=s-ACME" in message and "<svg id=s-GLBX" in message
    assert "<article" not in message
    assert poller.states["ACME"].sparkline_path(clock[0]).points.count(",") == 4


def test_the_whole_tile_is_sent_when_it_goes_stale_or_gets_its_first_price(
    engine: Engine, session: Session, settings: Settings
) -> None:
    acme = make_instrument(session, "ACME", ttl_seconds=5)
    poller, reader = connected_poller(engine)
    add_tick(session, acme, 10.0)
    asyncio.run(poller.poll_once())
    assert '<article id="tile-ACME"' in sent(reader)  # "No price yet" became a price
    poller.states["ACME"].arrived_at = utcnow() - timedelta(seconds=6)
    asyncio.run(poller.poll_once())
    message = sent(reader)
    assert '<article id="tile-ACME" class="tile is-stale"' in message


def test_open_pages_are_given_a_new_instruments_tile_and_lose_a_retired_ones(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: a page open before an instrument was added never showed its tile (its swaps had
    # no element to replace), and a retired instrument's tile stayed on open pages, frozen,
    # and in every new stream's snapshot.
    make_instrument(session, "ACME")
    poller, reader = connected_poller(engine)
    behind = poller._hub.connect(user_id=None)  # takes nothing until the end
    newco = make_instrument(session, "NEWCO")  # no price yet
    poller.instruments_changed()
    asyncio.run(poller.poll_once())
    assert '<article id="tile-NEWCO" class="tile' in sent(reader)
    assert "NEWCO" in poller._hub.latest_tiles

    add_tick(session, newco, 12.5)
    asyncio.run(poller.poll_once())
    assert "12.50" in sent(reader)  # its first price: the whole tile again
    add_tick(session, newco, 13.0)
    asyncio.run(poller.poll_once())
    assert "<p id=q-NEWCO " in sent(reader)
    instruments.retire(session=session, symbol="NEWCO")
    poller.instruments_changed()
    asyncio.run(poller.poll_once())
    removal = '<article id="tile-NEWCO" hx-swap-oob="delete"></article>'
    assert sent(reader) == make_renderer().tiles_message([removal]).decode()
    # A reader that fell behind gets the removal, not the tile or price pending before it.
    assert sent(behind) == make_renderer().tiles_message([removal]).decode()
    assert "NEWCO" not in poller.states
    assert "NEWCO" not in poller._hub.latest_tiles and "NEWCO" not in poller._hub.latest_quotes


def test_regression_staleness_is_judged_on_arrival_not_the_feeds_clock(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: a feed 60 s behind kept its tile stale while ticks came every 2 s, and one four
    # minutes ahead looked fresh long after it stopped.
    acme = make_instrument(session, "ACME", ttl_seconds=5)
    glbx = make_instrument(session, "GLBX", ttl_seconds=5)
    hub = Hub(mailbox_size=8)
    poller = price_poller(engine, hub, make_renderer())
    asyncio.run(poller.prime())
    add_tick(session, acme, 10.0, ts=utcnow() - timedelta(seconds=60))
    add_tick(session, glbx, 20.0, ts=utcnow() + timedelta(minutes=4))
    asyncio.run(poller.poll_once())
    assert not poller.states["ACME"].stale and not poller.states["GLBX"].stale
    for state in poller.states.values():  # then nothing comes for longer than the ttl
        assert state.arrived_at is not None
        state.arrived_at -= timedelta(seconds=6)
    asyncio.run(poller.poll_once())
    assert poller.states["ACME"].stale and poller.states["GLBX"].stale


def test_the_reference_is_the_price_at_the_start_of_the_window(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # The price 24 hours ago is the last tick before then (50), not the first one after.
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 50.0, ts=utcnow() - timedelta(hours=30))
    add_tick(session, acme, 80.0, ts=utcnow() - timedelta(hours=20))
    add_tick(session, acme, 100.0)
    young = make_instrument(session, "YOUNG")  # younger than the window: its first tick
    add_tick(session, young, 10.0, ts=utcnow() - timedelta(hours=2))
    add_tick(session, young, 12.0)
    poller = price_poller(engine, Hub(mailbox_size=8), make_renderer())
    asyncio.run(poller.prime())
    state = poller.states["ACME"]
    assert state.reference_price == 50.0
    assert state.change == 50.0
    assert state.change_percent == 100.0
    assert poller.states["YOUNG"].change_percent == 20.0


def test_regression_imported_history_gives_the_change_over_the_window_not_the_file(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: the first row of an imported file became the reference (+923 % over ten years),
    # and a minute later the reference refresh made it 0 %: numbers that moved by themselves.
    aapl = make_instrument(session, "AAPL")
    poller = price_poller(engine, Hub(mailbox_size=8), make_renderer())
    asyncio.run(poller.prime())
    long_ago = utcnow() - timedelta(days=3650)
    for month, price in enumerate((24.0, 30.0, 243.4)):
        add_tick(session, aapl, price, ts=long_ago + timedelta(days=1800 * month))
    asyncio.run(poller.poll_once())
    state = poller.states["AAPL"]
    assert (state.price, state.reference_price, state.change) == (243.4, 243.4, 0.0)
    add_tick(session, aapl, 250.0)  # a live tick now: the change since the window's start
    asyncio.run(poller.poll_once())
    assert state.change == pytest.approx(6.6)
    assert not state.stale


def test_an_instrument_added_after_start_does_not_get_its_ticks_twice(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Regression: the runtime reload applied the new instrument's recent ticks and then
    # the poll loop applied the same ticks again, drawing a flat step in the sparkline.
    # (The poll counts every tick it applies.)
    hub = Hub(mailbox_size=8)
    poller = price_poller(engine, hub, make_renderer())
    asyncio.run(poller.prime())
    late = make_instrument(session, "LATE")
    add_tick(session, late, 100.0)
    asyncio.run(poller.poll_once())
    add_tick(session, late, 123.45)
    asyncio.run(poller.poll_once())
    assert (poller.ticks_seen, poller.states["LATE"].price) == (2, 123.45)


def test_regression_an_instrument_picked_up_during_a_reference_read_does_not_fail_the_poll(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: the reference read walked the poller's instrument map in its worker thread
    # while the event loop could add to it (a page asking for a symbol added since):
    # "dictionary changed size during iteration", and the whole poll failed.
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 50.0, ts=utcnow() - timedelta(hours=30))
    add_tick(session, acme, 100.0)
    poller = price_poller(engine, Hub(mailbox_size=8), make_renderer())
    asyncio.run(poller.prime())
    instrument = Instrument(symbol="LATE", name="Late", kind="equity", seed_price=10.0)
    late = tile_for(instrument, window=timedelta(hours=24))
    open_session = poller._open_session

    def session_whose_reference_reads_let_the_loop_run() -> Session:
        opened = open_session()
        execute = opened.exec

        def exec_(statement: Any, *args: Any, **kwargs: Any) -> Any:
            if str(statement).startswith("SELECT tick.price"):  # a reference price
                poller._by_instrument.setdefault(-1, late)  # what the loop did meanwhile
            return execute(statement, *args, **kwargs)

        opened.exec = exec_  # type: ignore[method-assign]
        return opened

    poller._open_session = session_whose_reference_reads_let_the_loop_run
    poller.instruments_changed()  # every reference is read again at the next poll
    asyncio.run(poller.poll_once())
    assert poller.states["ACME"].reference_price == 50.0
    assert poller._by_instrument[-1] is late


def test_regression_a_new_instruments_tile_has_its_change_when_it_first_appears(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: the poll put a new instrument's tile in place and then read its reference price
    # in a worker thread; a page rendered meanwhile showed the tile with no change.
    poller = price_poller(engine, Hub(mailbox_size=8), make_renderer())
    asyncio.run(poller.prime())
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 40.0, ts=utcnow() - timedelta(hours=30))
    add_tick(session, acme, 50.0)
    shown: list[tuple[str, float | None]] = []  # what a page rendered at each thread hop saw
    in_thread = poller.in_thread

    async def noting_the_tiles(function: Callable[..., T], *args: Any) -> T:
        shown.extend((state.symbol, state.reference_price) for state in poller.states.values())
        return await in_thread(function, *args)

    poller.in_thread = noting_the_tiles  # type: ignore[method-assign]
    asyncio.run(poller.poll_once())
    asyncio.run(poller.poll_once())
    assert poller.states["ACME"].reference_price == 40.0
    assert ("ACME", 40.0) in shown and ("ACME", None) not in shown


def test_regression_a_failed_alert_check_does_not_apply_ticks_twice(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Found in review: the cursor moved only after alerts were checked, so a failure made
    # the next poll apply the same ticks again (a doubled sparkline point).
    class FailingOnce(AlertEvaluator):
        failures = 0

        def evaluate(self, moves: Sequence[Move], *, now: datetime | None = None) -> list[int]:
            if not self.failures:
                self.failures += 1
                raise RuntimeError("store hiccup")
            return super().evaluate(moves, now=now)

    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    alice = make_user(session, "alice")
    assert alice.id is not None
    alerts.create(
        limit=100, session=session, user_id=alice.id, symbol="ACME", direction="above", level="105"
    )
    evaluator = FailingOnce(open_session=session_factory(engine))
    poller = PricePoller(
        engine=engine,
        open_session=session_factory(engine),
        hub=Hub(mailbox_size=8),
        renderer=make_renderer(),
        interval=1,
        batch_size=100,
        reference_window=timedelta(hours=24),
        alerts=evaluator,
    )
    asyncio.run(poller.prime())
    last = add_tick(session, acme, 110.0)
    asyncio.run(poller.poll_once())  # the alert check fails; the tiles still update
    assert evaluator.failures == 1
    asyncio.run(poller.poll_once())
    assert poller.cursor == last.id
    assert poller.ticks_seen == 1


def test_alerts_are_evaluated_only_for_instruments_with_an_armed_alert(
    engine: Engine, session: Session, settings: Settings
) -> None:
    class Recording(AlertEvaluator):
        def __init__(self, *, open_session: SessionFactory) -> None:
            super().__init__(open_session=open_session)
            self.asked: list[list[str]] = []

        def evaluate(self, moves: Sequence[Move], *, now: datetime | None = None) -> list[int]:
            self.asked.append(sorted(m.symbol for m in moves))
            return super().evaluate(moves, now=now)

    acme, globex = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    add_tick(session, acme, 100.0)
    add_tick(session, globex, 50.0)
    alice = make_user(session, "alice")
    assert alice.id is not None
    alerts.create(
        limit=100, session=session, user_id=alice.id, symbol="ACME", direction="above", level="105"
    )
    evaluator = Recording(open_session=session_factory(engine))
    poller = price_poller(engine, Hub(mailbox_size=8), make_renderer(), evaluator)
    asyncio.run(poller.prime())
    add_tick(session, globex, 51.0)
    asyncio.run(poller.poll_once())
    assert evaluator.asked == []  # no alert on GLBX: no evaluation at all
    add_tick(session, acme, 106.0)
    add_tick(session, globex, 52.0)
    asyncio.run(poller.poll_once())
    assert evaluator.asked == [["ACME"]]
    assert [n.title for n in session.exec(select(Notification)).all()] == [
        "ACME crossed above 105.00"
    ]


def test_when_a_bucket_closes_sparklines_are_spread_over_batches(
    engine: Engine, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 500 sparklines in one message were one long task for the page that swapped them in.
    start = datetime(2026, 11, 29, 12, 14, 50, tzinfo=UTC)
    clock = [start]
    monkeypatch.setattr("dashboard.live.price_poller.utcnow", lambda: clock[0])
    count = SPARKLINES_PER_BATCH + 5
    for i in range(count):
        instrument = make_instrument(session, f"S{i:02d}", ttl_seconds=3600)
        add_tick(session, instrument, 10.0, ts=start - timedelta(minutes=20))
    poller, reader = connected_poller(engine)
    clock[0] = start + timedelta(seconds=20)  # a 15-minute bucket closes
    asyncio.run(poller.poll_once())
    assert sent(reader).count("<svg id=s-") == SPARKLINES_PER_BATCH
    asyncio.run(poller.poll_once())
    assert sent(reader).count("<svg id=s-") == 5
    asyncio.run(poller.poll_once())
    assert "<svg" not in sent(reader)


def test_the_ticks_of_a_fast_feed_between_two_polls_are_one_fan_out(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # 20,000 ticks/s between polls 50 ms apart: 1,000 ticks. Read 500 a poll, they were two
    # fan-outs to every open stream, back to back (a third of the server's CPU).
    acme = make_instrument(session, "ACME")
    assert acme.id is not None
    runtime = build_runtime(settings)
    poller = runtime.price_poller
    asyncio.run(poller.prime())
    reader = runtime.hub.connect(user_id=None)
    now = utcnow()
    session.add_all(Tick(instrument_id=acme.id, price=100 + n / 100, ts=now) for n in range(1_000))
    session.commit()
    assert asyncio.run(poller.poll_once()) is False  # nothing left for a second poll
    assert poller.ticks_seen == 1_000 and poller.states["ACME"].price == 100 + 999 / 100
    assert reader.pending_message is not None
    runtime.engine.dispose()
