from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from dashboard.models import Tick
from dashboard.prices import ingest, instruments
from tests.factories import make_instrument

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_records_accept_price_or_value_iso_or_epoch_times_and_a_default_symbol() -> None:
    ticks = ingest.parse_records(
        [
            {"symbol": "ACME", "price": 10.5, "ts": "2026-06-01T11:00:00Z"},
            {"value": "11.25", "ts": 1780311600},
            {"symbol": "GLBX", "price": 3},
        ],
        default_symbol="ACME",
        now=NOW,
    )
    assert ticks == [
        ingest.TickIn("ACME", 10.5, datetime(2026, 6, 1, 11, 0, tzinfo=UTC)),
        ingest.TickIn("ACME", 11.25, datetime.fromtimestamp(1780311600, UTC)),
        ingest.TickIn("GLBX", 3.0, NOW),
    ]


def test_every_bad_item_is_named_by_index() -> None:
    records = [
        {"symbol": "ACME", "price": 1},
        {"symbol": "ACME", "price": float("nan")},
        {"symbol": "ACME", "price": float("inf")},
        {"symbol": "ACME", "price": -1},
        {"symbol": "ACME", "price": 0},
        {"symbol": "ACME", "price": True},
        {"symbol": "ACME", "price": "ten"},
        {"price": 1},
        "not an object",
        {"symbol": "ACME", "price": 1, "ts": "2026-06-01T12:00:00"},
        {"symbol": "ACME", "price": 1, "ts": (NOW + timedelta(hours=1)).isoformat()},
        {"symbol": "ACME", "price": 1, "ts": "yesterday"},
    ]
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records(records, now=NOW)
    errors = {e.index: e.error for e in raised.value.errors}
    assert sorted(errors) == list(range(1, 12))
    assert "finite number above 0" in errors[1] and "finite number above 0" in errors[4]
    assert errors[5] == "price must be a number"
    assert errors[7] == "symbol is missing"
    assert errors[8] == "must be an object"
    assert "time zone" in errors[9]
    assert "future" in errors[10]


def test_formats() -> None:
    assert ingest.records_from_text('[{"price": 1}]', kind="json") == [{"price": 1}]
    assert ingest.records_from_text('{"price": 1}\n\n{"price": 2}\n', kind="ndjson") == [
        {"price": 1},
        {"price": 2},
    ]
    assert ingest.records_from_text("symbol,price\nACME,1.5\n", kind="csv") == [
        {"symbol": "ACME", "price": "1.5"}
    ]
    with pytest.raises(ValueError, match="array"):
        ingest.records_from_text('{"price": 1}', kind="json")


def test_write_is_all_or_nothing_on_unknown_symbols(session: Session) -> None:
    make_instrument(session, "ACME")
    ticks = [ingest.TickIn("ACME", 1.0, NOW), ingest.TickIn("NOPE", 2.0, NOW)]
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.write(session=session, ticks=ticks)
    assert [(e.index, e.symbol) for e in raised.value.errors] == [(1, "NOPE")]
    assert session.exec(select(Tick)).all() == []
    ids = ingest.write(session=session, ticks=ticks[:1] * 3)
    assert len(ids) == 3 and ids == sorted(ids)


def test_each_unknown_symbol_is_named_once_with_how_many_items_name_it(
    session: Session,
) -> None:
    # Was: one "unknown symbol" per item (20 for the first symbol), the others never named.
    make_instrument(session, "ACME")
    symbols = ["NOPE", "ACME", "NOPE", "ZED", "NOPE"]
    ticks = [ingest.TickIn(s, 1.0, NOW) for s in symbols]
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.write(session=session, ticks=ticks)
    assert [(e.index, e.symbol, e.error.split(":")[0]) for e in raised.value.errors] == [
        (0, "NOPE", "unknown symbol (3 item(s))"),
        (3, "ZED", "unknown symbol (1 item(s))"),
    ]
    assert session.exec(select(Tick)).all() == []


def test_a_retired_instrument_takes_no_new_ticks(session: Session) -> None:
    make_instrument(session, "ACME")
    instruments.retire(session=session, symbol="ACME")
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.write(session=session, ticks=[ingest.TickIn("ACME", 1.0, NOW)])
    assert raised.value.errors[0].error == "instrument retired (1 item(s))"


def test_create_missing_adds_instruments_and_ticks_together_or_neither(
    session: Session,
) -> None:
    ticks = [ingest.TickIn("GOOG", 140.123, NOW), ingest.TickIn("AAPL", 190.5, NOW)]
    ids = ingest.write(session=session, ticks=ticks, create_missing=True)
    assert len(ids) == 2
    goog = instruments.find(session=session, symbol="GOOG")
    assert (goog.decimals, goog.simulated) == (3, False)
    bad = [ingest.TickIn("NEW", 1.0, NOW), ingest.TickIn("bad sym", 1.0, NOW)]
    with pytest.raises(ingest.IngestInvalid, match="nothing was written"):
        ingest.write(session=session, ticks=bad, create_missing=True)
    with pytest.raises(instruments.InstrumentNotFound):
        instruments.find(session=session, symbol="NEW")
    assert len(session.exec(select(Tick)).all()) == 2
