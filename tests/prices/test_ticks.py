"""Writing ticks in batches, the newest price per instrument, and an instrument's window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dashboard.models import Instrument, Tick, utcnow
from dashboard.prices import ticks
from tests.factories import add_tick, make_instrument


def iid(instrument: Instrument) -> int:
    assert instrument.id is not None
    return instrument.id


def stored(session: Session) -> list[tuple[int, float]]:
    rows = session.exec(select(Tick).order_by(col(Tick.id))).all()
    return [(t.instrument_id, t.price) for t in rows]


def test_insert_ticks_writes_every_tick_as_given(session: Session) -> None:
    acme, glbx = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    now = utcnow().replace(microsecond=0)
    batch = [
        ticks.NewTick(instrument_id=iid(acme), price=10.5, ts=now),
        ticks.NewTick(instrument_id=iid(glbx), price=99.25, ts=now - timedelta(seconds=1)),
        ticks.NewTick(instrument_id=iid(acme), price=10.75, ts=now + timedelta(seconds=1)),
    ]
    ticks.insert_ticks(session=session, ticks=batch)

    rows = session.exec(select(Tick).order_by(col(Tick.id))).all()
    assert [(t.instrument_id, t.price, t.ts) for t in rows] == [
        (t.instrument_id, t.price, t.ts) for t in batch
    ]
    assert all(t.ts.tzinfo is not None for t in rows)


def test_insert_ticks_with_nothing_writes_nothing(session: Session) -> None:
    make_instrument(session, "ACME")
    ticks.insert_ticks(session=session, ticks=[])
    assert stored(session) == []


def test_insert_ticks_is_all_or_nothing(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    batch = [
        ticks.NewTick(instrument_id=iid(acme), price=1.0, ts=utcnow()),
        ticks.NewTick(instrument_id=iid(acme) + 1000, price=2.0, ts=utcnow()),  # no such one
    ]
    with pytest.raises(IntegrityError):
        ticks.insert_ticks(session=session, ticks=batch)
    session.rollback()
    assert stored(session) == []


def test_last_prices_is_the_newest_written_price_of_each_instrument_with_ticks(
    session: Session,
) -> None:
    acme, glbx = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    make_instrument(session, "NONE")  # no tick yet: left out
    for price in (10.0, 11.0, 12.0):
        add_tick(session, acme, price)
    add_tick(session, glbx, 50.0)
    add_tick(session, acme, 9.5)

    assert ticks.last_prices(session=session) == {iid(acme): 9.5, iid(glbx): 50.0}


def test_last_prices_follows_write_order_as_the_streams_do(session: Session) -> None:
    # "Newest" is the newest row (the id the streams' cursor follows), even when a
    # backfilled tick carries an older timestamp.
    acme = make_instrument(session, "ACME")
    now = utcnow()
    add_tick(session, acme, 10.0, ts=now)
    add_tick(session, acme, 8.0, ts=now - timedelta(hours=1))
    assert ticks.last_prices(session=session) == {iid(acme): 8.0}


def test_last_prices_of_an_empty_store_is_empty(session: Session) -> None:
    assert ticks.last_prices(session=session) == {}
    make_instrument(session, "ACME")
    assert ticks.last_prices(session=session) == {}


def test_the_window_is_open_high_and_low_since_the_given_hours(session: Session) -> None:
    acme, glbx = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    now = utcnow()
    add_tick(session, acme, 1000.0, ts=now - timedelta(hours=30))  # before the window
    add_tick(session, acme, 0.5, ts=now - timedelta(hours=25))  # before the window
    add_tick(session, acme, 105.0, ts=now - timedelta(hours=2))
    add_tick(session, acme, 120.0, ts=now - timedelta(hours=1))
    add_tick(session, acme, 95.0, ts=now - timedelta(minutes=5))
    # Written last, but the earliest in the window: the open is by time, not by id.
    add_tick(session, acme, 101.0, ts=now - timedelta(hours=23))
    add_tick(session, glbx, 5000.0, ts=now)  # another instrument

    window = ticks.window(session=session, instrument_id=iid(acme), hours=24)

    assert window == ticks.Window(hours=24, open=101.0, high=120.0, low=95.0)


def test_a_shorter_window_sees_fewer_ticks(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    now = utcnow()
    add_tick(session, acme, 120.0, ts=now - timedelta(hours=3))
    add_tick(session, acme, 100.0, ts=now - timedelta(minutes=30))
    add_tick(session, acme, 110.0, ts=now - timedelta(minutes=10))

    window = ticks.window(session=session, instrument_id=iid(acme), hours=1)

    assert window == ticks.Window(hours=1, open=100.0, high=110.0, low=100.0)


def test_a_window_without_ticks_has_no_figures(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 10.0, ts=utcnow() - timedelta(hours=48))
    assert ticks.window(session=session, instrument_id=iid(acme), hours=24) == ticks.Window(
        hours=24, open=None, high=None, low=None
    )
    assert ticks.window(session=session, instrument_id=iid(acme) + 99, hours=24).open is None
