"""OHLC bars: folded from ticks in write order, merged exactly, read at 1m/5m/1h/1d."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, col, func, select

from dashboard.models import Instrument, PriceBar, utcnow
from dashboard.prices import bars
from dashboard.store.db import make_engine
from tests.factories import add_tick, make_instrument

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def iid(instrument: Instrument) -> int:
    assert instrument.id is not None
    return instrument.id


def ohlc(bar: bars.Bar) -> tuple[float, float, float, float, int]:
    return bar.open, bar.high, bar.low, bar.close, bar.ticks


def test_buckets_are_aligned_on_the_utc_epoch() -> None:
    when = datetime(2026, 11, 27, 10, 7, 42, 500_000, tzinfo=UTC)
    assert bars.bucket_start(when, 60) == datetime(2026, 11, 27, 10, 7, tzinfo=UTC)
    assert bars.bucket_start(when, 300) == datetime(2026, 11, 27, 10, 5, tzinfo=UTC)
    assert bars.bucket_start(when, 3600) == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert bars.bucket_start(when, 86400) == datetime(2026, 11, 27, tzinfo=UTC)
    before_1970 = datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC)
    assert bars.bucket_start(before_1970, 60) == datetime(1969, 12, 31, 23, 59, tzinfo=UTC)


def test_open_and_close_follow_event_time_not_the_order_ticks_came_in() -> None:
    ticks = [
        (10.0, T0 + timedelta(seconds=30)),
        (12.0, T0 + timedelta(seconds=50)),
        (9.0, T0 + timedelta(seconds=5)),  # late, but the earliest: the open
        (11.0, T0 + timedelta(seconds=40)),
    ]
    (bar,) = bars.from_ticks(ticks, 60).values()
    assert ohlc(bar) == (9.0, 12.0, 9.0, 12.0, 4)
    assert (bar.open_ts, bar.close_ts) == (T0 + timedelta(seconds=5), T0 + timedelta(seconds=50))


def test_roll_up_folds_new_ticks_once_into_minute_hour_and_day_bars(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    for second, price in [(0, 10.0), (20, 14.0), (59, 12.0), (61, 13.0)]:
        add_tick(session, acme, price, ts=T0 + timedelta(seconds=second))
    assert bars.roll_up(session=session) == 4
    assert bars.roll_up(session=session) == 0  # nothing new: nothing folded twice
    add_tick(session, acme, 8.0, ts=T0 + timedelta(seconds=10))  # late, inside minute 1
    assert bars.roll_up(session=session) == 1

    minutes = bars.read(session=session, instrument_id=iid(acme), resolution="1m")
    assert [(b.start, ohlc(b)) for b in minutes] == [
        (T0, (10.0, 14.0, 8.0, 12.0, 4)),
        (T0 + timedelta(minutes=1), (13.0, 13.0, 13.0, 13.0, 1)),
    ]
    (hour,) = bars.read(session=session, instrument_id=iid(acme), resolution="1h")
    assert ohlc(hour) == (10.0, 14.0, 8.0, 13.0, 5)
    stored = session.exec(select(func.count()).select_from(PriceBar)).one()
    assert stored == 4  # two minutes, one hour, one day


def test_reading_folds_in_the_ticks_the_cursor_has_not_reached(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 10.0, ts=T0)
    bars.roll_up(session=session)
    add_tick(session, acme, 15.0, ts=T0 + timedelta(seconds=30))  # not rolled up yet
    add_tick(session, acme, 7.0, ts=T0 + timedelta(minutes=3))
    minutes = bars.read(session=session, instrument_id=iid(acme), resolution="1m")
    assert [ohlc(b) for b in minutes] == [(10.0, 15.0, 10.0, 15.0, 2), (7.0, 7.0, 7.0, 7.0, 1)]


def test_five_minute_bars_group_minutes_and_the_range_takes_whole_buckets(
    session: Session,
) -> None:
    acme = make_instrument(session, "ACME")
    for minute in range(12):
        add_tick(session, acme, 100.0 + minute, ts=T0 + timedelta(minutes=minute, seconds=1))
    bars.roll_up(session=session)
    five = bars.read(session=session, instrument_id=iid(acme), resolution="5m")
    assert [(b.start, ohlc(b)) for b in five] == [
        (T0, (100.0, 104.0, 100.0, 104.0, 5)),
        (T0 + timedelta(minutes=5), (105.0, 109.0, 105.0, 109.0, 5)),
        (T0 + timedelta(minutes=10), (110.0, 111.0, 110.0, 111.0, 2)),
    ]
    # ``end`` inside the second bucket: that bar is still whole, the third is left out.
    ranged = bars.read(
        session=session,
        instrument_id=iid(acme),
        resolution="5m",
        start=T0 + timedelta(minutes=6),
        end=T0 + timedelta(minutes=7),
    )
    assert [(b.start, ohlc(b)) for b in ranged] == [
        (T0 + timedelta(minutes=5), (105.0, 109.0, 105.0, 109.0, 5))
    ]
    newest = bars.read(session=session, instrument_id=iid(acme), resolution="1m", limit=2)
    assert [b.close for b in newest] == [110.0, 111.0]
    with pytest.raises(KeyError):
        bars.read(session=session, instrument_id=iid(acme), resolution="2m")


def test_rows_that_break_the_store_contract_are_passed_over(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 10.0, ts=T0)
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("only SQLite stores a text price")
    session.execute(
        text("INSERT INTO tick (instrument_id, price, ts) VALUES (:i, 'abc', :ts)"),
        {"i": iid(acme), "ts": "2026-11-27 10:00:30"},
    )
    session.commit()
    add_tick(session, acme, 11.0, ts=T0 + timedelta(seconds=40))
    assert bars.roll_up(session=session) == 3  # read, the bad one passed over
    (minute,) = bars.read(session=session, instrument_id=iid(acme), resolution="1m")
    assert ohlc(minute) == (10.0, 11.0, 10.0, 11.0, 2)


def test_minute_bars_are_pruned_hour_and_day_bars_stay(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    old = utcnow() - timedelta(days=40)
    add_tick(session, acme, 5.0, ts=old)
    add_tick(session, acme, 6.0)
    bars.roll_up(session=session)
    removed = bars.prune_minute_bars(session=session, older_than=utcnow() - timedelta(days=30))
    assert removed == 1
    resolutions = session.exec(
        select(PriceBar.resolution, func.count()).group_by(col(PriceBar.resolution))
    ).all()
    assert dict(resolutions) == {60: 1, 3600: 2, 86400: 2}


def test_processes_rolling_up_at_once_fold_each_tick_exactly_once(
    session: Session, database_url: str
) -> None:
    acme = make_instrument(session, "ACME")
    for second in range(200):
        add_tick(session, acme, 1.0 + second, ts=T0 + timedelta(seconds=second))
    errors: list[BaseException] = []

    def roll() -> None:
        engine = make_engine(database_url)  # an engine each: as good as another process
        try:
            with Session(engine) as own:
                while bars.roll_up(session=own, batch_size=7):
                    pass
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=roll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    session.expire_all()
    (day,) = bars.read(session=session, instrument_id=iid(acme), resolution="1d")
    assert ohlc(day) == (1.0, 200.0, 1.0, 200.0, 200)


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
            st.integers(min_value=-200, max_value=200),  # seconds from T0, repeats likely
        ),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([60, 300, 3600]),
)
def test_from_ticks_is_the_merge_of_one_tick_bars(
    ticks: list[tuple[float, int]], resolution: int
) -> None:
    # from_ticks folds without making a Bar per tick; it must agree with Bar.merged exactly,
    # equal times included (the earlier-written tick opens, the later-written one closes).
    timed = [(price, T0 + timedelta(seconds=offset)) for price, offset in ticks]
    expected: dict[datetime, bars.Bar] = {}
    for price, ts in timed:
        start = bars.bucket_start(ts, resolution)
        one = bars.Bar(start, price, price, price, price, ts, ts, 1)
        expected[start] = expected[start].merged(one) if start in expected else one
    assert bars.from_ticks(timed, resolution) == expected


def test_closes_come_from_the_bars_and_the_ticks_not_rolled_up_yet(session: Session) -> None:
    # What a tile's sparkline starts from: the last price of each 15-minute bucket.
    acme, glbx = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    add_tick(session, acme, 1.0, ts=start - timedelta(minutes=1))  # before the start
    add_tick(session, acme, 2.0, ts=start + timedelta(minutes=14))
    add_tick(session, acme, 3.0, ts=start + timedelta(minutes=2))  # earlier: not the close
    add_tick(session, glbx, 7.0, ts=start + timedelta(minutes=20))
    bars.roll_up(session=session)
    add_tick(session, acme, 4.0, ts=start + timedelta(minutes=16))  # not in bars yet
    found = bars.closes(
        session=session, instrument_ids=[iid(acme), iid(glbx)], start=start, resolution=900
    )
    first = int(start.timestamp()) // 900
    assert {n: close for n, (_, close) in found[iid(acme)].items()} == {first: 2.0, first + 1: 4.0}
    assert found[iid(glbx)] == {first + 1: (start + timedelta(minutes=20), 7.0)}
    assert bars.closes(session=session, instrument_ids=[], start=start, resolution=900) == {}
