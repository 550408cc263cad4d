from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import StatementError
from sqlmodel import Session, col, delete, select

from dashboard.models import Tick
from dashboard.prices import bars, ingest, instruments
from dashboard.store.db import session_factory
from tests.factories import make_instrument

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_records_accept_price_or_value_iso_or_epoch_times_and_a_default_symbol() -> None:
    ticks = ingest.parse_records(
        [
            {"symbol": "ACME", "price": 10.5, "ts": "2026-06-01T11:00:00Z"},
            {"value": "11.25", "ts": 1780311600},
            {"symbol": "ACME", "price": 3},
        ],
        default_symbol="ACME",
        now=NOW,
    )
    assert ticks == [
        ingest.TickIn("ACME", 10.5, datetime(2026, 6, 1, 11, 0, tzinfo=UTC)),
        ingest.TickIn("ACME", 11.25, datetime.fromtimestamp(1780311600, UTC)),
        ingest.TickIn("ACME", 3.0, NOW),
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
    assert ingest.read_records('[{"price": 1}]', kind="json") == ([{"price": 1}], [1])
    assert ingest.read_records('{"price": 1}\n\n{"price": 2}\n', kind="ndjson") == (
        [{"price": 1}, {"price": 2}],
        [1, 3],
    )
    assert ingest.read_records("symbol,price\nACME,1.5\n", kind="csv") == (
        [{"symbol": "ACME", "price": "1.5"}],
        [2],
    )
    with pytest.raises(ValueError, match="array"):
        ingest.read_records('{"price": 1}', kind="json")


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
        (0, "NOPE", "unknown symbol (3 item(s) of this symbol)"),
        (3, "ZED", "unknown symbol (1 item(s) of this symbol)"),
    ]
    assert session.exec(select(Tick)).all() == []


def test_a_retired_instrument_takes_no_new_ticks(session: Session) -> None:
    make_instrument(session, "ACME")
    instruments.retire(session=session, symbol="ACME")
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.write(session=session, ticks=[ingest.TickIn("ACME", 1.0, NOW)])
    assert raised.value.errors[0].error == "instrument retired (1 item(s) of this symbol)"


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


def ticks_from(text: str, kind: str = "csv", **options: object) -> list[ingest.TickIn]:
    records, lines = ingest.read_records(text, kind=kind)
    return ingest.parse_records(records, lines=lines, now=NOW, max_items=None, **options)  # type: ignore[arg-type]


def test_regression_everyday_files_are_read_as_people_have_them() -> None:
    # Was: each of these refused with a misleading message, or its date silently ignored.
    may = datetime(2016, 5, 31, tzinfo=UTC)
    monthly = ticks_from("symbol,date,price\nMSFT,2016-05-31,53.00\nAAPL,2016-05-31,99.86\n")
    assert [(t.symbol, t.price, t.ts) for t in monthly] == [
        ("MSFT", 53.0, may),
        ("AAPL", 99.86, may),
    ]
    bom = ticks_from("\ufeffsymbol,price,ts\nACME,1.5,2016-05-31T00:00:00Z\n")
    assert [(t.symbol, t.ts) for t in bom] == [("ACME", may)]
    semicolons = ticks_from("Symbol;Price;Date\nACME;1.234,56;2016-05-31\nACME;0,5;2016-05-31\n")
    assert [t.price for t in semicolons] == [1234.56, 0.5]
    ohlc = ticks_from(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2016-05-31,52.8,53.0,52.2,53.0,49.1,100\n",
        default_symbol="MSFT",
    )
    assert [(t.symbol, t.price, t.ts) for t in ohlc] == [("MSFT", 53.0, may)]
    tabs = ticks_from("ticker\tlast\ttime\nACME\t2.5\t1464652800\n")
    assert [(t.symbol, t.price, t.ts) for t in tabs] == [("ACME", 2.5, may)]
    ndjson = ticks_from('\ufeff{"symbol": "ACME", "price": 3, "ts": 1464652800000}\n', "ndjson")
    assert [t.ts for t in ndjson] == [may]


@pytest.mark.parametrize(
    "epoch",
    ["1464652800", "1464652800000", "1464652800000000", "1464652800000000000", 1464652800.0],
)
def test_epoch_times_are_told_apart_by_magnitude(epoch: object) -> None:
    (tick,) = ingest.parse_records([{"symbol": "ACME", "price": 1, "ts": epoch}], now=NOW)
    assert tick.ts == datetime(2016, 5, 31, tzinfo=UTC)


def test_times_without_a_zone_need_one_said_and_a_date_alone_is_its_utc_day() -> None:
    record = {"symbol": "ACME", "price": 1, "ts": "2016-05-31 09:30"}
    with pytest.raises(ingest.IngestInvalid, match="1 bad item") as raised:
        ingest.parse_records([record], now=NOW)
    assert "--tz" in raised.value.errors[0].error
    (tick,) = ingest.parse_records([record], now=NOW, tz=ZoneInfo("America/New_York"))
    assert tick.ts == datetime(2016, 5, 31, 13, 30, tzinfo=UTC)
    # Was midnight in the zone given: 30 May 15:00 UTC, a close dated the 31st drawn in the
    # 30th's daily bar (daily bars are UTC days). Every zone now leaves a date on its day.
    for zone in ("Asia/Tokyo", "Europe/Berlin", "America/New_York"):
        (day,) = ingest.parse_records(
            [{"symbol": "ACME", "price": 1, "ts": "2016-05-31"}], now=NOW, tz=ZoneInfo(zone)
        )
        assert day.ts == datetime(2016, 5, 31, tzinfo=UTC)
    (dotted,) = ingest.parse_records(
        [{"symbol": "ACME", "price": 1, "ts": "28.06.2024"}], now=NOW, tz=ZoneInfo("Europe/Berlin")
    )
    assert dotted.ts == datetime(2024, 6, 28, tzinfo=UTC)


def test_regression_a_row_with_more_fields_than_the_header_is_an_error_at_its_line() -> None:
    # Was: "1,240.00" (a thousands separator, unquoted) made a fourth field, and the row
    # was read by position and stored with a price of 1.
    text = "symbol,date,price\nTEST1,2024-12-30,1234.50\nTEST1,2025-01-02,1,240.00\n"
    records, lines = ingest.read_records(text, kind="csv")
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records(records, lines=lines, now=NOW)
    ((where, error),) = [(e.where, e.error) for e in raised.value.errors]
    assert where == "line 3"
    assert error.startswith("4 fields where the first line has 3")
    # Empty cells past the header's width (a spreadsheet's trailing separators) are fine,
    # and so is a header-less dump whose rows are as wide as its first.
    (tick,) = ingest.parse_records(
        ingest.read_records("symbol,price\nACME,1.5,,\n", kind="csv")[0], now=NOW
    )
    assert tick.price == 1.5
    dump = (
        "1,97000.10,0.01,970.0,1733500000123,true,true\n"
        "2,97001.5,0.02,1940.0,1733500000456,true,true,x\n"
    )
    records, lines = ingest.read_records(dump, kind="csv")
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records(records, lines=lines, now=NOW, default_symbol="BTCUSDT")
    assert [e.where for e in raised.value.errors] == ["line 2"]


def test_regression_a_column_of_times_under_an_unknown_name_is_not_dropped() -> None:
    # Was: a German export's "Datum" column was not a known time header, so every row was
    # stamped with the time of import, without a word.
    text = "\ufeffDatum;Kurs;Volumen\n02.01.2024;121,72;2921077\n03.01.2024;120,10;1000\n"
    with pytest.raises(
        ValueError, match=r"column 'Datum' holds times \('02.01.2024'\).*--time-column Datum"
    ):
        ingest.read_records(text, kind="csv", columns={"price": "Kurs"})
    records, lines = ingest.read_records(text, kind="csv", columns={"price": "Kurs", "ts": "Datum"})
    ticks = ingest.parse_records(records, lines=lines, now=NOW, default_symbol="SAP")
    assert [(t.price, t.ts) for t in ticks] == [
        (121.72, datetime(2024, 1, 2, tzinfo=UTC)),
        (120.10, datetime(2024, 1, 3, tzinfo=UTC)),
    ]
    # A blank first cell does not end the look: the column is looked at until it shows one.
    late = "Datum;Kurs\n;121,72\n02.01.2024;120,10\n"
    with pytest.raises(ValueError, match="column 'Datum' holds times"):
        ingest.read_records(late, kind="csv", columns={"price": "Kurs"})
    # Without any column of times, ticks are stamped now; numbers are not taken for times.
    records, _ = ingest.read_records("Symbol,Price,Volume\nACME,7,1733500000\n", kind="csv")
    assert [t.ts for t in ingest.parse_records(records, now=NOW)] == [NOW]


def test_regression_a_date_alone_that_is_today_east_of_utc_is_not_in_the_future() -> None:
    # A date alone is 00:00 UTC: at 08:00 in Sydney (22:00 UTC the day before) today's
    # close was "too far in the future". A day that has begun somewhere is no error.
    now = datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    (today,) = ingest.parse_records([{"symbol": "A", "price": 1, "ts": "2026-06-02"}], now=now)
    assert today.ts == datetime(2026, 6, 2, tzinfo=UTC)
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records([{"symbol": "A", "price": 1, "ts": "2026-06-03"}], now=now)
    assert raised.value.errors[0].error == "ts is a date that has not begun anywhere yet"
    with pytest.raises(ingest.IngestInvalid, match="1 bad item"):  # a time, not a date
        ingest.parse_records([{"symbol": "A", "price": 1, "ts": "2026-06-02T01:00:00Z"}], now=now)
    with pytest.raises(ingest.IngestInvalid, match="1 bad item"):  # midnight as a time
        ingest.parse_records([{"symbol": "A", "price": 1, "ts": "2026-06-02T00:00:00Z"}], now=now)


def test_regression_columns_name_the_keys_of_json_and_ndjson_objects() -> None:
    # Was: --price-column (and ?price_column=) were for CSV only, and a JSON export with
    # its own keys ("c", "t") was "price is missing" on every line.
    ndjson = '{"t": 1733500000123, "c": 3901.53}\n{"t": 1733500000456, "c": 3902.5}\n'
    records, lines = ingest.read_records(ndjson, kind="ndjson", columns={"price": "c", "ts": "t"})
    ticks = ingest.parse_records(records, lines=lines, now=NOW, default_symbol="ETHUSD")
    assert [(t.price, t.ts.year) for t in ticks] == [(3901.53, 2024), (3902.5, 2024)]
    body = '[{"Sym": "ACME", "Close": 7}]'
    records, _ = ingest.read_records(body, kind="json", columns={"symbol": "Sym", "price": "Close"})
    assert records == [{"symbol": "ACME", "price": 7}]
    with pytest.raises(ValueError, match="by position .* are for CSV"):
        ingest.read_records(body, kind="json", columns={"price": "2"})


def test_regression_symbol_given_for_a_file_that_names_another_is_an_error() -> None:
    # Was: the file's symbol column won silently, and --symbol's instrument got nothing.
    records = [{"symbol": "AAPL", "price": 1}, {"symbol": "XYZ", "price": 2}, {"price": 3}]
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records(records, now=NOW, default_symbol="XYZ")
    assert [(e.index, e.symbol) for e in raised.value.errors] == [(0, "AAPL")]
    assert raised.value.errors[0].error == (
        "the symbol column says 'AAPL', --symbol says 'XYZ': --symbol is for a file of one "
        "series without a symbol column"
    )


def test_file_errors_name_1_based_lines_and_a_missing_price_column_says_what_to_do() -> None:
    text = "symbol,price\n\nACME,1\nACME,ten\n"  # a blank line is skipped, not counted
    records, lines = ingest.read_records(text, kind="csv")
    assert lines == [3, 4]
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records(records, lines=lines, now=NOW)
    assert [(e.where, e.error) for e in raised.value.errors] == [
        ("line 4", "price must be a number")
    ]
    with pytest.raises(ValueError, match="no price column in the header.*--price-column"):
        ingest.read_records("symbol,amount\nACME,1\n", kind="csv")
    records, _ = ingest.read_records(
        "Sym,Amount\nACME,7\n", kind="csv", columns={"symbol": "sym", "price": "AMOUNT"}
    )
    assert records == [{"symbol": "ACME", "price": "7"}]
    with pytest.raises(ValueError, match="no column 'Bid'"):
        ingest.read_records("symbol,price\nA,1\n", kind="csv", columns={"price": "Bid"})


def lines_of(text: str) -> list[tuple[int, Any]]:
    return list(ingest.iter_records(io.StringIO(text), kind="csv"))


def test_a_file_is_imported_in_batches_in_one_transaction(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_WRITE_BATCH", 3)
    monkeypatch.setattr(ingest, "_ROWS_PER_INSERT", 2)  # on SQLite: 2 rows in one, then 1
    make_instrument(session, "ACME")
    rows = "".join(f"ACME,{i + 1},2026-05-01T00:00:{i:02d}Z\n" for i in range(8))
    reached: list[int] = []
    imported = ingest.import_records(
        session=session,
        records=lines_of("symbol,price,ts\n" + rows),
        old_before=datetime(2026, 5, 1, 0, 0, 5, tzinfo=UTC),
        progress=reached.append,
        now=NOW,
    )
    assert (imported.written, imported.created, imported.older) == (8, [], 5)
    assert reached == [4, 7, 9]  # after each full batch, and at the end
    prices = session.exec(select(Tick.price).order_by(col(Tick.id))).all()
    assert list(prices) == [float(i + 1) for i in range(8)]


def test_a_bad_file_writes_nothing_and_counts_every_problem_past_the_listed_ones(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_WRITE_BATCH", 2)
    make_instrument(session, "ACME")
    instruments.retire(session=session, symbol=make_instrument(session, "OLD").symbol)
    text = "symbol,price\nACME,1\nACME,2\nACME,3\n" + "ACME,x\n" * 5 + "NOPE,1\nOLD,2\nNOPE,3\n"
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.import_records(session=session, records=lines_of(text), now=NOW, max_errors=2)
    invalid = raised.value
    # Items, not problems: NOPE is named once but is two bad items.
    assert invalid.total == 8 and str(invalid) == "8 bad item(s); nothing was written"
    assert [(e.where, e.error.split(":")[0]) for e in invalid.errors] == [
        ("line 5", "price must be a number"),
        ("line 6", "price must be a number"),
        ("line 10", "unknown symbol (2 item(s) of this symbol)"),
        ("line 11", "instrument retired (1 item(s) of this symbol)"),
    ]
    assert invalid.counts["price must be a number"] == 5
    assert session.exec(select(Tick)).all() == []  # the first batch was rolled back too


def test_regression_a_file_imported_again_is_said_to_overlap_what_was_there(
    session: Session,
) -> None:
    # Was: a second import of the same file said "wrote 600 ticks", every bar's count
    # doubled and the history listed each price twice, without a word.
    make_instrument(session, "AAPL")
    make_instrument(session, "MSFT")
    monthly = "symbol,date,price\nAAPL,2015-01-30,24.5\nAAPL,2015-02-27,25.1\nMSFT,2015-01-30,40\n"
    first = ingest.import_records(session=session, records=lines_of(monthly), now=NOW)
    assert first.overlaps == []
    bars.roll_up(session=session)
    # Older ticks are kept as bars only (retention): the bars still tell.
    session.exec(delete(Tick).where(col(Tick.price) == 40.0))
    session.commit()
    again = ingest.import_records(session=session, records=lines_of(monthly), now=NOW)
    assert again.written == 3
    assert again.overlaps == [
        ingest.Overlap(
            "AAPL", datetime(2015, 1, 30, tzinfo=UTC), datetime(2015, 2, 27, tzinfo=UTC), 2, 0
        ),
        ingest.Overlap(
            "MSFT", datetime(2015, 1, 30, tzinfo=UTC), datetime(2015, 1, 30, tzinfo=UTC), 0, 1
        ),
    ]
    later = "symbol,date,price\nAAPL,2015-03-31,26\n"  # the next month: nothing said
    assert ingest.import_records(session=session, records=lines_of(later), now=NOW).overlaps == []
    # Later hours of a day that has a daily bar (its ticks 09:00-12:00): no overlap either.
    day = "symbol,ts,price\nMSFT,2016-06-28T09:00:00Z,41\nMSFT,2016-06-28T12:00:00Z,42\n"
    ingest.import_records(session=session, records=lines_of(day), now=NOW)
    bars.roll_up(session=session)
    session.exec(delete(Tick).where(col(Tick.ts) >= datetime(2016, 6, 28, tzinfo=UTC)))
    session.commit()
    afternoon = "symbol,ts,price\nMSFT,2016-06-28T15:00:00Z,43\nMSFT,2016-06-28T16:00:00Z,44\n"
    imported = ingest.import_records(session=session, records=lines_of(afternoon), now=NOW)
    assert imported.overlaps == []


def test_create_missing_while_streaming_widens_the_decimals_to_the_data(session: Session) -> None:
    # NVDA: a Yahoo Finance export's closes, through a 32-bit float (was 6 decimals).
    text = (
        "symbol,price\nDOGE,0.08\nDOGE,0.0815\nBTC,97000\nNVDA,189.979996\nNVDA,190.009995\n"
        "NVDA,58.18\n"
    )
    imported = ingest.import_records(
        session=session, records=lines_of(text), create_missing=True, now=NOW
    )
    assert imported.created == ["BTC", "DOGE", "NVDA"] and imported.written == 6
    assert instruments.find(session=session, symbol="DOGE").decimals == 4
    assert instruments.find(session=session, symbol="BTC").decimals == 2
    assert instruments.find(session=session, symbol="NVDA").decimals == 2
    with pytest.raises(ingest.IngestInvalid, match="1 bad item"):
        ingest.import_records(
            session=session, records=lines_of("symbol,price\nbad sym,1\n"), create_missing=True
        )


@pytest.mark.parametrize(
    ("written", "dayfirst", "expected"),
    [
        ("Jan 29, 2016", False, datetime(2016, 1, 29, tzinfo=UTC)),
        ("29 Jan 2016", False, datetime(2016, 1, 29, tzinfo=UTC)),
        ("2016/01/29", False, datetime(2016, 1, 29, tzinfo=UTC)),
        ("29.01.2016", False, datetime(2016, 1, 29, tzinfo=UTC)),
        ("01/02/2016", False, datetime(2016, 1, 2, tzinfo=UTC)),
        ("01/02/2016", True, datetime(2016, 2, 1, tzinfo=UTC)),
        # Dotted dates are day-first wherever they are written so; was 1 February.
        ("02.01.2024", False, datetime(2024, 1, 2, tzinfo=UTC)),
        ("02.01.2024", True, datetime(2024, 1, 2, tzinfo=UTC)),
    ],
)
def test_dates_in_the_usual_written_forms_are_midnight(
    written: str, dayfirst: bool, expected: datetime
) -> None:
    record = {"symbol": "ACME", "price": 1, "ts": written}
    (tick,) = ingest.parse_records([record], now=NOW, dayfirst=dayfirst)
    assert tick.ts == expected


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("Jan 29", "needs a year, a month and a day"),
        ("2016", "is not a time (epoch seconds start at 1e8: 1973)"),
        ("soon", "is not a time"),
        ("Jan 29, 2016 9:30", "no time zone"),
    ],
)
def test_written_times_that_cannot_be_read_or_need_a_zone_say_so(
    written: str, problem: str
) -> None:
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records([{"symbol": "ACME", "price": 1, "ts": written}], now=NOW)
    assert problem in raised.value.errors[0].error


@pytest.mark.parametrize(
    ("written", "dayfirst", "problem"),
    [
        ("29/01/2016", False, "has the day first: say so (--dayfirst)"),
        ("13-02-2016", False, "has the day first"),
        ("01/29/2016", True, "has the month first: leave out --dayfirst"),
    ],
)
def test_regression_a_date_that_reads_only_the_other_way_is_an_error_not_turned_round(
    written: str, dayfirst: bool, problem: str
) -> None:
    # Was: dateutil read 13/01 day-first and 01/02 month-first in the same file, so a
    # day-first file came in half right, half a month off, without a word.
    records = [
        {"symbol": "ACME", "price": 1, "ts": "01/02/2016"},
        {"symbol": "ACME", "price": 1, "ts": written},
    ]
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records(records, now=NOW, dayfirst=dayfirst)
    (error,) = raised.value.errors
    assert error.index == 1 and problem in error.error


def test_following_a_feed_writes_each_tick_as_it_comes_and_skips_bad_lines(
    engine: Engine, session: Session
) -> None:
    make_instrument(session, "ACME")
    first_written = threading.Event()
    skipped: list[str] = []

    def feed() -> Iterator[tuple[int, Any]]:
        yield 1, {"symbol": "ACME", "price": 1.5}
        # A feed that sends one tick and waits: it is written meanwhile, not with the next.
        assert first_written.wait(10), "the first tick waited for the second"
        yield 2, ingest.Unreadable("not JSON (x)")
        yield 3, {"symbol": "NOPE", "price": 1}
        yield 4, {"symbol": "ACME", "price": 2.5}

    followed = ingest.follow_records(
        open_session=session_factory(engine),
        records=feed(),
        on_written=first_written.set,
        on_skipped=lambda e: skipped.append(f"{e.where}: {e.error}"),
        max_wait=0.05,
    )
    assert (followed.written, followed.skipped) == (2, 2)
    assert skipped == ["line 2: not JSON (x)", "line 3: unknown or retired symbol"]
    assert list(session.exec(select(Tick.price).order_by(col(Tick.id))).all()) == [1.5, 2.5]


def test_exchange_trade_dumps_without_a_header_row_are_recognised() -> None:
    may = datetime(2016, 5, 31, tzinfo=UTC)
    trades = (
        "1,97000.10,0.01,970.0,1464652800000,true,true\n"  # times in ms, and in µs (2025 on)
        "2,97001.5,0.02,1940.0,1464652800000000,false,true\n"
    )
    ticks = ticks_from(trades, default_symbol="BTC-USD")
    assert [(t.symbol, t.price, t.ts) for t in ticks] == [
        ("BTC-USD", 97000.10, may),
        ("BTC-USD", 97001.5, may),
    ]
    aggregate = "7,1.5,2,3,4,1464652800000,false,true\n"
    assert [t.price for t in ticks_from(aggregate, default_symbol="X")] == [1.5]
    kline = "1464652740000,1,2,0.5,1.75,10,1464652800000,17,3,5,8,0\n"
    (bar,) = ticks_from(kline, default_symbol="X")
    assert (bar.price, bar.ts) == (1.75, may)
    with pytest.raises(ValueError, match="no header and 5 columns"):
        ingest.read_records("1,2,3,4,5\n", kind="csv")
    bad_second = "1,97000.10,0.01,970.0,1464652800000,true,true\n2,oops,0.02,1940.0,1,false,true\n"
    with pytest.raises(ingest.IngestInvalid) as raised:
        ticks_from(bad_second, default_symbol="BTC-USD")
    assert [e.where for e in raised.value.errors] == ["line 2"]


def test_a_dump_in_a_layout_of_its_own_is_read_by_column_positions() -> None:
    # Was: "no price column in the header (1733500000123, ETHUSD, …)", and --price-column 3
    # looked for a header named "3".
    may = datetime(2016, 5, 31, tzinfo=UTC)
    dump = "1464652800000,ETHUSD,3901.53,0.01\n1464652800000,BTCUSD,97123.5,0.2\n"
    by_position = {"ts": "1", "symbol": "2", "price": "3"}
    records, lines = ingest.read_records(dump, kind="csv", columns=by_position)
    assert lines == [1, 2]  # the first line is data
    ticks = ingest.parse_records(records, lines=lines, now=NOW, max_items=None)
    assert [(t.symbol, t.price, t.ts) for t in ticks] == [
        ("ETHUSD", 3901.53, may),
        ("BTCUSD", 97123.5, may),
    ]
    # The same with a header row, whose price cell is no number: it is passed over.
    records, lines = ingest.read_records(
        "time;sym;px\n" + dump.replace(",", ";"), kind="csv", columns=by_position
    )
    assert lines == [2, 3] and len(records) == 2
    # A first price written as .5, or left blank, is data too (a header names its column).
    records, lines = ingest.read_records("x,.5\nx,\n", kind="csv", columns={"price": "2"})
    assert lines == [1, 2] and [r["price"] for r in records] == [".5", ""]
    for columns, problem in (
        ({"price": "²"}, "no column '²'"),  # not a position: a header name
        ({"price": "3", "ts": "time"}, "every column by header name, or every one by position"),
        ({"ts": "1"}, "need the price's too"),
        ({"price": "0"}, "start at 1"),
    ):
        with pytest.raises(ValueError, match=problem):
            ingest.read_records(dump, kind="csv", columns=columns)
    with pytest.raises(ValueError, match="if that line is data, not a header, give the columns"):
        ingest.read_records(dump, kind="csv")


def test_a_missing_price_says_so_rather_than_that_it_is_no_number() -> None:
    records, lines = ingest.read_records("symbol,price\nACME,\nACME\nACME,x\n", kind="csv")
    with pytest.raises(ingest.IngestInvalid) as raised:
        ingest.parse_records(records, lines=lines, now=NOW)
    assert [(e.where, e.error) for e in raised.value.errors] == [
        ("line 2", "price is missing"),
        ("line 3", "price is missing"),
        ("line 4", "price must be a number"),
    ]


@pytest.mark.parametrize(
    "written",
    [
        "2026-06-01T11:00:00Z",
        "2026-06-01T11:00:00.123456Z",
        "2026-06-01 11:00:00+02:00",
        "2026-06-01T11:00:00.5-05:30",
        "2026-06-01T11:00:00",  # no zone: taken in tz
        "2026-06-01T11:00:00Z ",  # trailing space: the whole way, stripped
    ],
)
def test_the_iso_fast_path_reads_times_as_the_whole_way_does(written: str) -> None:
    # The fast path for ISO 8601 with a time must give what the general path gives (the
    # general path is reached with a leading space, which the fast path never takes).
    zone = ZoneInfo("America/New_York")
    results: list[datetime | str] = []
    for value in (written, " " + written):
        try:
            results.append(ingest._parse_ts(value, zone)[0])
        except ValueError as problem:
            results.append(str(problem).replace(" " + written, written))
    assert results[0] == results[1]
    assert not isinstance(results[0], datetime) or results[0].tzinfo is UTC


# On SQLite, of the 6 ticks: one by one; 4 in one INSERT, then 2; 3 and 3; all 6 in one;
# 5 in one, then 1 (the ids are read off the statements, or asked for after the 2).
@pytest.mark.parametrize("rows_per_insert", [500, 4, 3, 6, 5])
def test_written_ticks_keep_their_times_and_get_consecutive_ids_in_order(
    session: Session, monkeypatch: pytest.MonkeyPatch, rows_per_insert: int
) -> None:
    monkeypatch.setattr(ingest, "_ROWS_PER_INSERT", rows_per_insert)
    make_instrument(session, "ACME")
    make_instrument(session, "GLBX")
    when = [
        datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 5, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(999, 1, 1, tzinfo=UTC),
    ]
    ticks = [ingest.TickIn(s, 1.0 + i, when[i % 3]) for i, s in enumerate(["ACME", "GLBX"] * 3)]
    ids = ingest.write(session=session, ticks=ticks)
    assert ids == list(range(ids[0], ids[0] + 6))
    stored = session.exec(select(Tick).order_by(col(Tick.id))).all()
    assert [t.id for t in stored] == ids
    assert [(t.price, t.ts) for t in stored] == [(t.price, t.ts) for t in ticks]
    assert all(t.received_at is not None and t.received_at.tzinfo is UTC for t in stored)
    # One tick more (a feed's usual post): its id is the row's, after the six.
    one = ingest.write(session=session, ticks=[ingest.TickIn("GLBX", 9.0, when[0])])
    assert one == [ids[-1] + 1]
    assert session.exec(select(Tick.price).where(Tick.id == one[0])).one() == 9.0
    # A naive time is refused (ValueError on SQLite; wrapped by SQLAlchemy elsewhere).
    with pytest.raises((ValueError, StatementError), match="naive"):
        ingest.write(session=session, ticks=[ingest.TickIn("ACME", 1.0, datetime(2026, 5, 1))])
    session.rollback()
    assert len(session.exec(select(Tick)).all()) == 7


def test_imports_in_one_session_after_a_refused_one_write_each_file_in_order(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL rows are staged in a temporary table and moved into tick at the end:
    # a refused import leaves nothing staged behind for the next one in the same session.
    monkeypatch.setattr(ingest, "_WRITE_BATCH", 2)
    make_instrument(session, "ACME")
    rows = "".join(f"ACME,{i + 1},2026-05-01T00:00:{i:02d}Z\n" for i in range(5))
    with pytest.raises(ingest.IngestInvalid):
        ingest.import_records(
            session=session, records=lines_of("symbol,price,ts\n" + rows + "ACME,x\n"), now=NOW
        )
    for _ in range(2):
        imported = ingest.import_records(
            session=session, records=lines_of("symbol,price,ts\n" + rows), now=NOW
        )
        assert imported.written == 5
    stored = session.exec(select(Tick).order_by(col(Tick.id))).all()
    assert [t.price for t in stored] == [float(i + 1) for i in range(5)] * 2
    assert [t.ts.second for t in stored] == list(range(5)) * 2


def test_blank_short_and_long_csv_rows() -> None:
    text = "symbol,price,ts\nACME,1\n , \t,\n,,\nACME,2,2026-05-01T00:00:00Z,extra\n"
    assert lines_of(text) == [
        (2, {"symbol": "ACME", "price": "1"}),
        (
            5,
            ingest.Unreadable(
                "4 fields where the first line has 3: a comma in a number or a text? "
                "Quote that field, or leave out thousands separators"
            ),
        ),
    ]


class _WatchedLock:
    """A lock that says when the thread named ``watched`` holds it."""

    def __init__(self, watched: str, held: threading.Event) -> None:
        self._lock = threading.Lock()
        self._watched, self._held = watched, held

    def __enter__(self) -> None:
        self._lock.acquire()
        if threading.current_thread().name == self._watched:
            self._held.set()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_regression_a_writer_creating_an_instrument_and_another_writer_do_not_deadlock(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found in review: a writer that created an instrument held SQLite's write lock while
    # it waited for the in-process writer lock, and the holder of that lock waited for
    # SQLite's: stuck until the busy timeout, then "database is locked".
    if engine.dialect.name != "sqlite":
        pytest.skip("the in-process writer lock is SQLite's")
    make = session_factory(engine)
    with make() as session:
        make_instrument(session, "ACME")
    created, b_holds_the_lock = threading.Event(), threading.Event()
    monkeypatch.setattr(ingest, "_sqlite_writes", _WatchedLock("B", b_holds_the_lock))
    original = instruments.create_missing

    def create_then_let_b_in(**kwargs: Any) -> Any:
        made = original(**kwargs)  # this transaction now holds SQLite's write lock
        created.set()
        b_holds_the_lock.wait(timeout=1)  # the old order: B got the writer lock meanwhile
        return made

    monkeypatch.setattr(instruments, "create_missing", create_then_let_b_in)
    failures: list[BaseException] = []

    def write(symbol: str, create: bool) -> None:
        try:
            with make() as session:
                tick = ingest.TickIn(symbol, 1.5, datetime.now(UTC))
                ingest.write(session=session, ticks=[tick], create_missing=create)
        except BaseException as error:  # reported below, not lost in the thread
            failures.append(error)

    a = threading.Thread(target=write, args=("NEWCO", True), name="A")
    b = threading.Thread(target=write, args=("ACME", False), name="B")
    a.start()
    assert created.wait(timeout=10)
    b.start()
    a.join(timeout=60)
    b.join(timeout=60)
    assert failures == []
    with make() as session:
        assert sorted(t.price for t in session.exec(select(Tick)).all()) == [1.5, 1.5]


def test_a_sqlite_that_binds_at_most_999_parameters_takes_smaller_inserts(
    session: Session,
) -> None:
    # SQLite before 3.32 (still shipped by some Linux distributions): 500 rows of 4 values
    # in one INSERT failed with "too many SQL variables".
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        pytest.skip("SQLite's own limit")
    driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    make_instrument(session, "ACME")
    ticks = [ingest.TickIn("ACME", 1.0 + i, NOW) for i in range(1001)]
    ids = ingest.write(session=session, ticks=ticks)
    assert ids == list(range(ids[0], ids[0] + 1001))
    stored = session.exec(select(Tick.price).order_by(col(Tick.id))).all()
    assert list(stored) == [t.price for t in ticks]


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02 03:04:05.000000"),
        (datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=UTC), "2026-01-02 03:04:05.000060"),
        (datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "0999-12-31 23:59:59.999999"),
        (
            datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Europe/Paris")),
            "2026-06-01 10:00:00.000000",
        ),
    ],
)
def test_sqlite_time_is_the_text_sqlalchemy_stores(when: datetime, text: str) -> None:
    # The form SQLAlchemy's SQLite DateTime writes and reads back (naive UTC), so rows the
    # fast writer inserts sort and compare with the ORM's.
    assert ingest._sqlite_time(when) == text
