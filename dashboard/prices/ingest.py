"""Incoming ticks from outside: parse (JSON array, NDJSON, CSV), validate all, write all.

All-or-nothing: every item is checked before anything is written, and every bad item is
named in the error, so a rejected batch can be fixed and sent again whole.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import queue
import re
import shlex
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser
from sqlalchemy import Connection, bindparam, func, insert
from sqlmodel import Session, col, select

from dashboard.models import Instrument, PriceBar, Tick, utcnow
from dashboard.prices import instruments
from dashboard.store.db import dialect_of

# Clocks disagree a little; a tick further ahead than this is a mistake.
MAX_FUTURE = timedelta(minutes=5)
# A date alone (00:00 UTC of its day) may be today somewhere: UTC+14 is the first to start a
# day, so a close dated today in Sydney, at 08:00 there, is no error.
MAX_DATE_AHEAD = timedelta(hours=14)
MAX_ITEMS = 10_000
# Rows per round of multi-row INSERTs while writing (and between progress reports).
_WRITE_BATCH = 5_000


# Not frozen: one is made per tick written live, and a frozen dataclass's __init__ (through
# object.__setattr__) costs 4.5 times as much (0.72 µs against 0.16). Nothing changes one.
@dataclass(slots=True)
class TickIn:
    symbol: str
    price: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line that could not be read as a record (bad JSON): an error at its line."""

    reason: str


@dataclass(frozen=True, slots=True)
class ItemError:
    """A bad item: its 0-based ``index``, and its 1-based file ``line`` when from a file."""

    index: int
    error: str
    symbol: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"index": self.index, "symbol": self.symbol, "error": self.error}
        if self.line is not None:
            shown["line"] = self.line
        return shown

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"item {self.index}"


class IngestInvalid(ValueError):
    """Some items are bad; nothing was written. ``errors`` may be the first ``total``."""

    def __init__(
        self,
        errors: Sequence[ItemError],
        *,
        total: int | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        total = len(errors) if total is None else total
        super().__init__(f"{total} bad item(s); nothing was written")
        self.errors = list(errors)
        self.total = total
        # How many items have each kind of problem (all of them, not only those listed).
        self.counts: dict[str, int] = dict(counts or {})
        for error in self.errors:
            if counts is None:
                self.counts[error.error] = self.counts.get(error.error, 0) + 1


# Epoch times told apart by magnitude (a time from 1973 to 5138 in its unit): seconds,
# milliseconds, microseconds, nanoseconds.
_EPOCH_UNITS = ((1e11, 1.0), (1e14, 1e3), (1e17, 1e6), (math.inf, 1e9))
# A smaller number is no epoch time anyone means (a year, a count, a price).
_EPOCH_SMALLEST = 1e8
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def time_zone(name: str | None) -> ZoneInfo | None:
    """The IANA time zone ``name`` (None: none); ValueError saying so when there is none
    of that name (tzdata raises IsADirectoryError for "America", hence OSError)."""
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r} (e.g. UTC, Europe/Berlin)") from None


def _parse_ts(value: Any, tz: tzinfo | None, dayfirst: bool = False) -> tuple[datetime, bool]:
    """An event time, and whether it was a date alone: epoch s/ms/µs/ns (by magnitude),
    ISO 8601, or a date as people write it ("Jan 29, 2016", "29.01.2016", "01/29/2016";
    ``dayfirst`` for "29/01/2016"). A date alone is that calendar day, 00:00 UTC,
    whatever ``tz`` says: daily bars are UTC days, and a daily close dated 28 June belongs
    in 28 June's bar, not (at midnight in Berlin) in the 27th's. A time without a zone is
    in ``tz`` (an error when there is none)."""
    if (
        type(value) is str
        and len(value) >= 19
        and value[4] == "-"
        and value[10] in "T "
        and value[0].isdigit()
        and not value[-1].isspace()
    ):
        # The common shape, ISO 8601 with a time (nothing to strip, not a number): read
        # at once; anything else, or a time without a zone, goes the whole way below.
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed, False
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC), False
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("ts must be a finite number of seconds")
        if abs(value) < _EPOCH_SMALLEST:
            raise ValueError(f"ts {value:g} is not a time (epoch seconds start at 1e8: 1973)")
        divisor = next(d for limit, d in _EPOCH_UNITS if abs(value) < limit)
        return datetime.fromtimestamp(value / divisor, UTC), False
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            date_only = len(text) == 10
        except ValueError:
            parsed, date_only = _written_time(text, dayfirst)
        if parsed.tzinfo is None:
            if date_only:  # a date: its day (see above)
                return parsed.replace(tzinfo=UTC), True
            if tz is None:
                raise ValueError(
                    "ts has no time zone: add one (2026-01-01T12:00:00Z) or say which (--tz)"
                )
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC), False
    raise ValueError("ts must be an ISO 8601 time or epoch seconds (or ms, µs, ns)")


# Two far-apart defaults: a part dateutil fills in from them was not written.
_DEFAULTS = (datetime(2001, 1, 1, 0, 0), datetime(2002, 2, 2, 1, 1))


# A date written with numbers only: day and month in either order, then the year.
_NUMERIC_DATE = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2\d{2,4}(?!\d)")


def _written_time(text: str, dayfirst: bool) -> tuple[datetime, bool]:
    """A time as people write it (parsed by python-dateutil), and whether it was a date
    alone; ValueError when a year, month or day is missing or it is not a time.

    Numeric dates: with dots (``02.01.2024``) the day comes first, as everywhere that
    writes them so; with ``/`` or ``-`` the month does unless ``dayfirst``. A date that can
    only be read the other way (``13/01/2016`` without ``dayfirst``) is an error, not read
    as it happens to fit: dateutil would turn it round silently, and a file would come in
    half one way, half the other.
    """
    numeric = _NUMERIC_DATE.match(text)
    if numeric is not None:
        first_part, separator, second_part = numeric.groups()
        if separator == ".":
            dayfirst = True
        elif not dayfirst and int(first_part) > 12:
            raise ValueError(
                f"ts {text!r} has the day first: say so (--dayfirst), or 01/02/2016 is "
                "read as January 2"
            )
        elif dayfirst and int(second_part) > 12:
            raise ValueError(f"ts {text!r} has the month first: leave out --dayfirst")
    try:
        first, second = (
            dateutil_parser.parse(text, default=d, dayfirst=dayfirst) for d in _DEFAULTS
        )
    except (dateutil_parser.ParserError, OverflowError):
        raise ValueError(f"ts {text!r} is not a time") from None
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        raise ValueError(f"ts {text!r} needs a year, a month and a day")
    return first, (first.hour, first.minute) != (second.hour, second.minute)


def parse_records(
    records: Iterable[Any],
    *,
    default_symbol: str | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
    dayfirst: bool = False,
    lines: Sequence[int] | None = None,
    max_items: int | None = MAX_ITEMS,
) -> list[TickIn]:
    """Turn raw records into ticks, checking each; raise IngestInvalid naming every bad one.

    A record is an object with ``price`` (or ``value``), ``symbol`` (or the default) and an
    optional ``ts`` (default: now; see :func:`_parse_ts`, with ``tz`` for times without a
    zone). ``lines`` gives each record's 1-based file line, for the errors.
    """
    ticks, _indexes, errors = _check_records(
        records, default_symbol, now or utcnow(), tz, dayfirst, lines, max_items
    )
    if errors:
        raise IngestInvalid(errors)
    return ticks


def parse_batch(
    records: Sequence[Any],
    *,
    session: Session,
    lines: Sequence[int] | None = None,
    check_symbols: bool = True,
    default_symbol: str | None = None,
    tz: tzinfo | None = None,
    dayfirst: bool = False,
) -> list[TickIn]:
    """:func:`parse_records` for a batch about to be written (``POST /api/ticks``,
    ``WS /ws/ingest``): when some items are bad, the same IngestInvalid also names each
    unknown or retired symbol the good items give (unless ``check_symbols`` is false, as
    for a batch that adds its missing instruments), so a sender learns every kind of
    problem in one reply instead of one kind a round. ``default_symbol``, ``tz`` and
    ``dayfirst`` are :func:`parse_records`'.
    """
    ticks, indexes, errors = _check_records(
        records, default_symbol, utcnow(), tz, dayfirst, lines, MAX_ITEMS
    )
    if not errors:
        return ticks
    total = len(errors)
    if check_symbols and ticks:
        try:
            instrument_ids(session=session, symbols=[tick.symbol for tick in ticks])
        except IngestInvalid as unknown:
            # instrument_ids counts in ``ticks``; the sender counts in ``records``.
            for error in unknown.errors:
                index = indexes[error.index]
                line = lines[index] if lines is not None else None
                errors.append(ItemError(index, error.error, error.symbol, line))
            errors.sort(key=lambda error: error.index)
            total += unknown.total
    raise IngestInvalid(errors, total=total)


def _check_records(
    records: Iterable[Any],
    default_symbol: str | None,
    now: datetime,
    tz: tzinfo | None,
    dayfirst: bool,
    lines: Sequence[int] | None,
    max_items: int | None,
) -> tuple[list[TickIn], list[int], list[ItemError]]:
    """Each good record's tick and 0-based index, and each bad one's error."""
    ticks: list[TickIn] = []
    indexes: list[int] = []
    errors: list[ItemError] = []
    for index, record in enumerate(records):
        line = lines[index] if lines is not None else None
        if max_items is not None and index >= max_items:
            errors.append(
                ItemError(index, f"too many items (at most {max_items} per batch)", line=line)
            )
            break
        checked = _check_record(record, index, line, default_symbol, now, tz, dayfirst)
        if isinstance(checked, ItemError):
            errors.append(checked)
        else:
            ticks.append(checked)
            indexes.append(index)
    return ticks, indexes, errors


def _check_record(
    record: Any,
    index: int,
    line: int | None,
    default_symbol: str | None,
    now: datetime,
    tz: tzinfo | None,
    dayfirst: bool = False,
) -> TickIn | ItemError:
    checked = _checked(record, index, line, default_symbol, now, tz, dayfirst)
    if isinstance(checked, ItemError):
        return checked
    return TickIn(*checked)


# Types whose float() is the price as given (not bool, an int subclass; not None).
_PRICE_TYPES = frozenset((str, float, int))


def _shown(value: Any) -> str:
    """A value from the input, quoted and cut short, for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _checked(
    record: Any,
    index: int,
    line: int | None,
    default_symbol: str | None,
    now: datetime,
    tz: tzinfo | None,
    dayfirst: bool = False,
) -> tuple[str, float, datetime] | ItemError:
    """:func:`_check_record` as a plain ``(symbol, price, ts)``: an import of a million
    rows makes no TickIn it would take apart again."""
    # A dict (every reader's record) skips the abstract-class checks.
    if type(record) is not dict:
        if isinstance(record, Unreadable):
            return ItemError(index, record.reason, None, line)
        if not isinstance(record, Mapping):
            return ItemError(index, "must be an object", None, line)
    symbol = record.get("symbol", default_symbol)
    if not isinstance(symbol, str) or not symbol.strip():
        return ItemError(index, "symbol is missing", None, line)
    symbol = symbol.strip()
    if default_symbol is not None and symbol != default_symbol.strip():
        # A file with a symbol column and --symbol: which one was meant is not for the
        # reader to guess (the column won, and --symbol's instrument was never written).
        return ItemError(
            index,
            f"the symbol column says {_shown(symbol)}, --symbol says {_shown(default_symbol)}: "
            "--symbol is for a file of one series without a symbol column",
            symbol,
            line,
        )
    if len(symbol) > 20 or not symbol.isprintable():
        return ItemError(index, "symbol is not a valid symbol", None, line)
    raw_price = record.get("price")
    if raw_price is None:
        raw_price = record.get("value") if "price" not in record else None
    if raw_price is None or raw_price == "":
        return ItemError(index, "price is missing", symbol, line)
    try:
        if type(raw_price) not in _PRICE_TYPES and isinstance(raw_price, bool):
            raise ValueError
        price = float(raw_price)
    except (TypeError, ValueError, OverflowError):
        return ItemError(index, "price must be a number", symbol, line)
    if not math.isfinite(price) or price <= 0:
        return ItemError(index, "price must be a finite number above 0", symbol, line)
    raw_ts = record.get("ts")
    try:
        ts, date_only = (
            (now, False) if raw_ts is None or raw_ts == "" else _parse_ts(raw_ts, tz, dayfirst)
        )
    except (ValueError, OverflowError, OSError) as problem:
        return ItemError(index, str(problem) or "ts is not a valid time", symbol, line)
    if date_only and ts - now > MAX_DATE_AHEAD:
        return ItemError(index, "ts is a date that has not begun anywhere yet", symbol, line)
    if not date_only and ts - now > MAX_FUTURE:
        minutes = MAX_FUTURE.total_seconds() / 60
        return ItemError(
            index,
            f"ts is too far in the future (more than {minutes:g} minutes ahead of the "
            "server's clock)",
            symbol,
            line,
        )
    return symbol, price, ts


# CSV headers, matched case-insensitively, for each field (the first one present wins).
HEADER_ALIASES = {
    "symbol": ("symbol", "ticker", "instrument", "code"),
    # An OHLC export's close (not its "adj close", a series revised after the fact).
    "price": ("price", "value", "close", "last", "last price", "px"),
    "ts": ("ts", "time", "timestamp", "datetime", "date", "date/time"),
}
_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})*,\d+$|^[+-]?\d+,\d+$")


def read_records(
    text: str, *, kind: str, columns: Mapping[str, str] | None = None
) -> tuple[list[Any], list[int]]:
    """Records and the 1-based line each starts on, from a body or a file's text (see
    :func:`iter_records`)."""
    # newline="": the csv module reads line ends inside quoted fields itself.
    pairs = list(iter_records(io.StringIO(text, newline=""), kind=kind, columns=columns))
    return [record for _line, record in pairs], [line for line, _record in pairs]


def iter_records(
    stream: TextIO, *, kind: str, columns: Mapping[str, str] | None = None
) -> Iterator[tuple[int, Any]]:
    """``(line, record)`` pairs read as they come (a file of any size, in little memory).

    ``json`` is an array of objects, ``ndjson`` one object per line. ``csv`` has a header
    row; its separator (``,`` ``;`` tab ``|``) is detected, and so are decimal commas
    (``1.234,56`` with ``;`` separators). Headers are matched case-insensitively:
    symbol/ticker, price/value/close/last, ts/time/timestamp/date (:data:`HEADER_ALIASES`);
    ``columns`` names them instead (``{"price": "Adj Close"}``); for JSON and NDJSON it
    names the objects' keys (``{"price": "c", "ts": "t"}``). A UTF-8 byte order mark is
    ignored. Raises ValueError for a file that cannot be read as ``kind``.
    """
    if kind in ("json", "ndjson") and columns:
        yield from _renamed(_json_records(stream, kind), columns)
    elif kind in ("json", "ndjson"):
        yield from _json_records(stream, kind)
    elif kind == "csv":
        yield from _csv_records(stream, columns or {})
    else:
        raise ValueError(f"unknown format {kind!r}")


def _json_records(stream: TextIO, kind: str) -> Iterator[tuple[int, Any]]:
    if kind == "json":
        data = _loads(stream.read().removeprefix("\ufeff"))
        if not isinstance(data, list):
            raise ValueError("a JSON body must be an array of objects")
        yield from enumerate(data, 1)
        return
    for number, line in enumerate(stream, 1):
        line = line.removeprefix("\ufeff") if number == 1 else line
        if line.strip():
            try:
                yield number, _loads(line)
            except ValueError as error:  # reported with the line, and reading goes on
                yield number, Unreadable(f"not JSON ({error})")


def _renamed(
    records: Iterator[tuple[int, Any]], columns: Mapping[str, str]
) -> Iterator[tuple[int, Any]]:
    """Objects with the keys ``columns`` names ({field: key}) under the fields' names."""
    if _positions(columns) is not None:
        raise ValueError("columns by position (1, 2, …) are for CSV; name an object's keys")
    keys = {key: field for field, key in columns.items()}
    for line, record in records:
        if type(record) is dict:
            record = {keys.get(key, key): value for key, value in record.items()}
        yield line, record


def _csv_records(stream: TextIO, columns: Mapping[str, str]) -> Iterator[tuple[int, Any]]:
    """:func:`iter_records` for CSV; ValueError (with the line) for text that is not CSV."""
    try:
        yield from _csv_rows(stream, columns)
    except csv.Error as error:
        raise ValueError(f"not CSV: {error}") from None


def _csv_rows(stream: TextIO, columns: Mapping[str, str]) -> Iterator[tuple[int, Any]]:
    # The separator is told from the header line alone, so a pipe that never ends (and
    # cannot be read twice) works like a file.
    first = stream.readline().removeprefix("\ufeff")
    try:
        dialect: Any = csv.Sniffer().sniff(first, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # one column: commas
    reader = csv.reader(itertools.chain([first], stream), dialect)
    header = next(reader, None)
    if header is None:
        return
    decimal_comma = dialect.delimiter != ","
    positions = _positions(columns)
    if positions is not None:
        where = positions
        price_cell = header[positions["price"]] if positions["price"] < len(header) else ""
        # A header names its price column; a blank there is a row missing its price (an
        # error at line 1 to see, rather than a line passed over unseen).
        first_is_data = not price_cell.strip() or _reads_as_price(
            price_cell, decimal_comma=decimal_comma
        )
    else:
        dump = _headerless_layout(header) if not columns else None
        first_is_data = dump is not None
        where = dump if dump is not None else _columns(header, columns)
    rows: Iterable[list[str]] = reader
    if first_is_data:  # no header: read the first line again, as a row
        rows = itertools.chain([header], reader)
        line = 0
    else:
        line = reader.line_num
    fields = tuple(where.items())
    widest = max(where.values())
    width = len(header)  # the header's, or the first row's when there is none
    # Without a time column every tick is stamped "now": refused when the file has a
    # column of times under a name not known here (Datum), rather than imported wrong.
    # Each other column is looked at in the first rows until it has shown a cell.
    unseen = (
        set(range(len(header))) - set(where.values())
        if "ts" not in where and not first_is_data
        else set()
    )
    rows_to_look_at = _ROWS_LOOKED_AT_FOR_TIMES
    for row in rows:
        start, line = line + 1, max(reader.line_num, line + 1)
        joined = "".join(row)
        if not joined or joined.isspace():  # every cell blank
            continue
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            # Most often a number with an unquoted thousands separator (1,240.00): read
            # by position, its row would be stored with a price of 1.
            yield (
                start,
                Unreadable(
                    f"{len(row)} fields where the first line has {width}: a comma in a number "
                    "or a text? Quote that field, or leave out thousands separators"
                ),
            )
            continue
        if unseen and rows_to_look_at:
            rows_to_look_at -= 1
            _refuse_unnamed_times(header, row, unseen)
        if len(row) > widest:  # every column there: no bounds check per cell
            record = {f: row[i].strip() for f, i in fields}
        else:
            record = {f: row[i].strip() for f, i in fields if i < len(row)}
        if decimal_comma:
            price = record.get("price", "")
            if _DECIMAL_COMMA.match(price):
                record["price"] = price.replace(".", "").replace(",", ".")
        yield start, record


_ROWS_LOOKED_AT_FOR_TIMES = 20


def _refuse_unnamed_times(header: Sequence[str], row: Sequence[str], unseen: set[int]) -> None:
    """ValueError when one of the ``unseen`` columns (not the price's or symbol's, and not
    yet shown a cell) holds a time in ``row``: the file has event times that would
    otherwise be lost. A column is seen once it shows a cell that is not blank."""
    for index in sorted(unseen):
        text = row[index].strip() if index < len(row) else ""
        if not text:
            continue
        unseen.discard(index)
        if _reads_as_price(text, decimal_comma=True):
            continue  # a number is a count or an amount more often than a time
        try:
            _parse_ts(text, UTC)
        except (ValueError, OverflowError, OSError):
            continue
        name = header[index].strip()
        raise ValueError(
            f"no time column found, but column {name!r} holds times ({text!r}): say so "
            f"with --time-column {shlex.quote(name)} (or take that column out, if it is "
            "not the ticks' time), or every tick would be stamped with the time of import"
        )


# Exchange dumps without a header row, by their number of columns: (price, time) columns.
# Binance's public trade files (id, price, qty, quote qty, time, buyer maker[, best match]),
# aggregate trades (id, price, qty, first id, last id, time, buyer maker, best match), and
# klines (open time, open, high, low, close, volume, close time, …: the close at its time).
HEADERLESS_LAYOUTS = {6: (1, 4), 7: (1, 4), 8: (1, 5), 12: (4, 6)}
_CELL = re.compile(r"^([+-]?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|True|False)$")


_BY_POSITION = (
    "give the columns by position (1 = the first), e.g. --price-column 3 --time-column 1 "
    "--symbol-column 2"
)


def _headerless_layout(first_row: Sequence[str]) -> dict[str, int] | None:
    """Where price and time are, when the first row is data (all numbers and flags) of a
    known exchange layout; None for a header row."""
    if not all(_CELL.match(cell.strip()) for cell in first_row):
        return None
    layout = HEADERLESS_LAYOUTS.get(len(first_row))
    if layout is None:
        raise ValueError(
            f"the first line has no header and {len(first_row)} columns, not a known "
            f"exchange layout: add a header row (symbol,price,ts), or {_BY_POSITION}"
        )
    return {"price": layout[0], "ts": layout[1]}


def _reads_as_price(cell: str, *, decimal_comma: bool) -> bool:
    """Whether a cell is a number as the price of a row is read (``.5``, ``1.234,56``)."""
    text = cell.strip()
    if decimal_comma and _DECIMAL_COMMA.match(text):
        text = text.replace(".", "").replace(",", ".")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _positions(columns: Mapping[str, str]) -> dict[str, int] | None:
    """The 0-based column of each field when the columns are given by 1-based position
    (``{"price": "3"}``); None when they are given by header name, or not at all.

    ValueError for a mix of the two, a position below 1, or positions without the price's.
    """
    numbered = {field: name.strip() for field, name in columns.items()}
    digits = [field for field, name in numbered.items() if name.isascii() and name.isdecimal()]
    if not digits:
        return None
    if len(digits) != len(numbered):
        raise ValueError("give every column by header name, or every one by position")
    if "price" not in numbered:
        raise ValueError("columns given by position need the price's too (--price-column N)")
    if any(int(name) < 1 for name in numbered.values()):
        raise ValueError("column positions start at 1 (the first column)")
    return {field: int(name) - 1 for field, name in numbered.items()}


def _columns(header: Sequence[str], columns: Mapping[str, str]) -> dict[str, int]:
    """Which column holds each field; ValueError when the price cannot be found."""
    names = [name.strip().lower() for name in header]
    where: dict[str, int] = {}
    for field, aliases in HEADER_ALIASES.items():
        wanted = [columns[field].strip().lower()] if field in columns else list(aliases)
        found = next((names.index(a) for a in wanted if a in names), None)
        if found is None and field in columns:
            raise ValueError(f"no column {columns[field]!r} in the header ({', '.join(header)})")
        if found is not None:
            where[field] = found
    if "price" not in where:
        raise ValueError(
            f"no price column in the header ({', '.join(header)}): name one of "
            f"{', '.join(HEADER_ALIASES['price'])}, or say which with --price-column; "
            f"if that line is data, not a header, {_BY_POSITION}"
        )
    return where


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    kinds = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}
    return {**kinds, ".json": "json"}.get(suffix, "ndjson")


# Built once, run on the connection (no ORM layer): every write asks, and building the
# statement each time cost more than running it. A batch of one symbol (a feed's usual
# post) is asked with "=": an IN list is rewritten for its length at every execution.
_INSTRUMENT_COLUMNS = (col(Instrument.symbol), col(Instrument.id), col(Instrument.retired_at))
_INSTRUMENT = select(*_INSTRUMENT_COLUMNS).where(col(Instrument.symbol) == bindparam("symbol"))
_INSTRUMENTS = select(*_INSTRUMENT_COLUMNS).where(
    col(Instrument.symbol).in_(bindparam("symbols", expanding=True))
)


def instrument_ids(*, session: Session, symbols: Sequence[str]) -> dict[str, int]:
    """The instrument id of each symbol; IngestInvalid names each unknown or retired symbol
    once (at its first item, with how many items name it)."""
    distinct = list(set(symbols))
    if len(distinct) == 1:
        found = session.connection().execute(_INSTRUMENT, {"symbol": distinct[0]}).all()
    else:
        found = session.connection().execute(_INSTRUMENTS, {"symbols": distinct}).all()
    ids = {symbol: i for symbol, i, retired in found if i is not None and retired is None}
    retired = {symbol for symbol, _i, when in found if when is not None}
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for index, symbol in enumerate(symbols):
        if symbol not in ids:
            first.setdefault(symbol, index)
            counts[symbol] = counts.get(symbol, 0) + 1
    if first:
        raise IngestInvalid(
            total=sum(counts.values()),
            errors=[
                ItemError(index, _symbol_problem(counts[s], retired=s in retired), s)
                for s, index in first.items()
            ],
        )
    return ids


def _symbol_problem(count: int, *, retired: bool) -> str:
    """What is wrong with a symbol ``count`` items name: retired, or unknown."""
    if retired:
        return f"instrument retired ({count} item(s) of this symbol)"
    return (
        f"unknown symbol ({count} item(s) of this symbol): add it first (`dashboard "
        "instruments add`, /admin/instruments), or let the import add it (--create-missing; "
        "?create_missing=true on the API and /ws/ingest)"
    )


def write(
    *,
    session: Session,
    ticks: Sequence[TickIn],
    progress: Callable[[int], None] | None = None,
    create_missing: bool = False,
) -> list[int]:
    """Check the symbols and write every tick in one transaction; return their ids in order.

    ``create_missing`` adds an instrument for each unknown symbol first (decimals inferred
    from its prices), in the same transaction. ``progress`` is called with the number of
    rows written so far, now and then.
    """
    if dialect_of(session) != "sqlite":
        return _write(session, ticks, progress, create_missing)
    # The whole write, instruments created included: a writer that took SQLite's write
    # lock creating an instrument and then waited here would deadlock with one holding this
    # lock and waiting for SQLite's (until the busy timeout).
    with _sqlite_writes:
        return _write(session, ticks, progress, create_missing)


def _write(
    session: Session,
    ticks: Sequence[TickIn],
    progress: Callable[[int], None] | None,
    create_missing: bool,
) -> list[int]:
    if create_missing:
        prices: dict[str, list[float]] = {}
        for tick in ticks:
            prices.setdefault(tick.symbol, []).append(tick.price)
        try:
            instruments.create_missing(session=session, prices_by_symbol=prices)
        except instruments.InstrumentInvalid as invalid:
            session.rollback()
            raise IngestInvalid([ItemError(0, str(invalid))]) from None
    ids_by_symbol = instrument_ids(session=session, symbols=[t.symbol for t in ticks])
    if not ticks:
        return []
    received_at = utcnow()
    if dialect_of(session) == "sqlite":
        return _write_sqlite(session, ticks, ids_by_symbol, received_at, progress)
    rows = [
        {
            "instrument_id": ids_by_symbol[t.symbol],
            "price": t.price,
            "ts": t.ts,
            "received_at": received_at,
        }
        for t in ticks
    ]
    # Multi-row INSERTs (SQLAlchemy's "insertmanyvalues") in one transaction, with RETURNING
    # ids in the rows' order on both dialects; one INSERT per row cost 20 times as much.
    statement = insert(Tick).returning(col(Tick.id), sort_by_parameter_order=True)
    ids: list[int] = []
    for start in range(0, len(rows), _WRITE_BATCH):
        batch = rows[start : start + _WRITE_BATCH]
        ids.extend(session.execute(statement, batch).scalars())
        if progress is not None:
            progress(len(ids))
    session.commit()
    return ids


# Writers in this process take turns at SQLite's one write lock here, where a thread that
# waits is woken the moment the lock is free, rather than in SQLite's busy handler, which
# polls by sleeping (1, 2, 5, 10 … 100 ms): four connections posting ticks spent most of
# their time asleep there.
_sqlite_writes = threading.Lock()
_INSERT_TICKS = "INSERT INTO tick (instrument_id, price, ts, received_at) VALUES (?, ?, ?, ?)"
# Rows per multi-row INSERT: one statement of 500 rows binds and inserts them about 1.4
# times as fast as an executemany of 500 one-row statements (the tick table with its
# three indexes; file imports as a whole gain ~8 %). Fewer where SQLite binds fewer than
# 2,000 parameters a statement (:func:`_variable_limit`).
_ROWS_PER_INSERT = 500


def _insert_sqlite(connection: Connection, rows: Sequence[tuple[int, float, str, str]]) -> int:
    """INSERT ``(instrument id, price, ts, received_at)`` rows, times as SQLite text
    (:func:`_sqlite_time`), in their order: whole :data:`_ROWS_PER_INSERT` at a time, the
    rest one by one (two statement texts, each compiled once per connection). Returns the
    id of the last row; ``rows`` must not be empty.
    """
    size = min(_ROWS_PER_INSERT, _variable_limit(connection) // 4)
    whole = len(rows) - len(rows) % size
    if whole:
        statement = _INSERT_TICKS + ", (?, ?, ?, ?)" * (size - 1)
    last: int | None = None
    for start in range(0, whole, size):
        flat = tuple(value for row in rows[start : start + size] for value in row)
        last = connection.exec_driver_sql(statement, flat).lastrowid
    rest = rows[whole:]
    if len(rest) == 1:
        last = connection.exec_driver_sql(_INSERT_TICKS, rest[0]).lastrowid
    elif rest:
        # sqlite3 leaves lastrowid as it was after an executemany: ask.
        connection.exec_driver_sql(_INSERT_TICKS, list(rest))
        last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    if last is None:
        raise ValueError("no rows to insert")
    return int(last)


def _variable_limit(connection: Connection) -> int:
    """How many parameters one statement may bind on this SQLite (999 before 3.32, as
    some Linux distributions still ship it; 32,766 since)."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


def _sqlite_time(when: datetime) -> str:
    """``when`` as SQLAlchemy stores a :class:`~dashboard.models.UtcDateTime` in SQLite:
    naive UTC text, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if when.tzinfo is not UTC:
        if when.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a UTC-aware one")
        when = when.astimezone(UTC)
    # Once per tick written: %-formatting takes 65 % of isoformat(" ", "microseconds")'s
    # time, and half an f-string's (1.0 µs against 1.5 and 2.1 on this machine).
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        when.year,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
        when.microsecond,
    )


def _write_sqlite(
    session: Session,
    ticks: Sequence[TickIn],
    ids_by_symbol: Mapping[str, int],
    received_at: datetime,
    progress: Callable[[int], None] | None,
) -> list[int]:
    """:func:`write` on SQLite: plain values in multi-row INSERTs (:func:`_insert_sqlite`;
    no ORM, no RETURNING: about 6 times cheaper per row); the caller holds
    :data:`_sqlite_writes`.

    The ids are consecutive: one transaction holds the write lock, and ``tick`` is
    AUTOINCREMENT, so each row takes the largest id so far plus one.
    """
    received = _sqlite_time(received_at)
    rows = [(ids_by_symbol[t.symbol], t.price, _sqlite_time(t.ts), received) for t in ticks]
    connection = session.connection()
    last = 0
    try:
        for start in range(0, len(rows), _WRITE_BATCH):
            last = _insert_sqlite(connection, rows[start : start + _WRITE_BATCH])
            if progress is not None:
                progress(min(start + _WRITE_BATCH, len(rows)))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return list(range(last - len(rows) + 1, last + 1))


@dataclass(frozen=True, slots=True)
class Imported:
    """What :func:`import_records` wrote: ticks, instruments created, how many of the
    ticks are older than ``old_before`` (the retention's cut-off, say), and the symbols
    that already had prices in the file's time range (a file imported twice, say)."""

    written: int
    created: list[str]
    older: int
    overlaps: list[Overlap]


@dataclass(frozen=True, slots=True)
class Overlap:
    """``symbol`` had prices between ``first`` and ``last`` (the file's times for it)
    before the import: ``ticks`` raw ticks (counted up to :data:`OVERLAP_COUNT_LIMIT`), or
    when none, ``days`` daily bars whose ticks fall in that range (retention keeps older
    ticks as bars only). Importing a file twice stores its ticks twice: said, not guessed
    away (two trades at one price and millisecond are not a duplicate)."""

    symbol: str
    first: datetime
    last: datetime
    ticks: int
    days: int


def import_records(
    *,
    session: Session,
    records: Iterable[tuple[int, Any]],
    default_symbol: str | None = None,
    tz: tzinfo | None = None,
    dayfirst: bool = False,
    create_missing: bool = False,
    old_before: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
    max_errors: int = 10_000,
) -> Imported:
    """Check and write ``(line, record)`` pairs of any number in bounded memory: one
    transaction, :data:`_WRITE_BATCH` rows at a time, committed only if every record is
    good. Otherwise IngestInvalid names each bad record by line (the first ``max_errors``,
    with the total) and each unknown or retired symbol once, and nothing is written.
    ``progress`` is called with the line reached, now and then.
    """
    now = now or utcnow()
    instrument_ids: dict[str, int | None] = {}
    created: dict[str, Instrument] = {}
    created_decimals: dict[str, int] = {}
    missing: dict[str, list[int]] = {}  # unknown or retired: [first index, first line, count]
    errors: list[ItemError] = []
    error_total = 0
    kinds: dict[str, int] = {}
    pending: list[tuple[int, float, datetime]] = []
    spans: dict[int, list[datetime]] = {}  # instrument id -> [first ts, last ts] here
    # What was there before: this import's rows (and any written meanwhile) come after.
    before = session.exec(select(func.max(Tick.id))).one() or 0
    written = older = 0
    line = 0
    session.info.pop(_STAGED, None)  # a new transaction: nothing of this import staged yet
    for index, (line, record) in enumerate(records):
        checked = _checked(record, index, line, default_symbol, now, tz, dayfirst)
        if type(checked) is ItemError:
            error_total += 1
            kinds[checked.error] = kinds.get(checked.error, 0) + 1
            if len(errors) < max_errors:
                errors.append(checked)
            continue
        symbol, price, ts = checked  # type: ignore[misc]
        instrument_id = instrument_ids.get(symbol, 0)
        if instrument_id == 0:  # not looked up yet (ids start at 1)
            row = _instrument_row(session, symbol)
            if row is None and create_missing:
                row = created[symbol] = _create(session, symbol, price, line)
            live = row is not None and row.retired_at is None
            instrument_id = instrument_ids[symbol] = row.id if live and row is not None else None
        if instrument_id is None:
            first = missing.setdefault(symbol, [index, line, 0])
            first[2] += 1
            continue
        if created and symbol in created:
            decimals = created_decimals.get(symbol, 0)
            if not instruments.fits_decimals(price, decimals):  # only then the slow look
                created_decimals[symbol] = max(decimals, instruments.infer_decimals([price]))
        if old_before is not None and ts < old_before:
            older += 1
        if error_total or missing:
            continue  # nothing will be written: only look for more problems
        span = spans.get(instrument_id)
        if span is None:
            spans[instrument_id] = [ts, ts]
        elif ts < span[0]:
            span[0] = ts
        elif ts > span[1]:
            span[1] = ts
        pending.append((instrument_id, price, ts))
        if len(pending) >= _WRITE_BATCH:
            written += _flush(session, pending)
            if progress is not None:
                progress(line)
    if error_total or missing:
        session.info.pop(_STAGED, None)
        session.rollback()
        unknown = [
            ItemError(
                first_index,
                _symbol_problem(count, retired=_instrument_row(session, symbol) is not None),
                symbol,
                first_line,
            )
            for symbol, (first_index, first_line, count) in missing.items()
        ]
        everything = sorted(errors + unknown, key=lambda e: e.index)
        kinds.update((e.error, 1) for e in unknown)
        # The total is of items (each symbol is named once, with how many items name it): a
        # file of 600 rows of five unknown symbols said "5 bad item(s)".
        named = sum(count for _index, _line, count in missing.values())
        raise IngestInvalid(everything, total=error_total + named, counts=kinds)
    # Before the staged rows are published: on PostgreSQL that takes the tick writers'
    # lock until the commit (store/postgres.py), and these look-ups need no lock.
    symbols = {i: symbol for symbol, i in instrument_ids.items() if i and symbol not in created}
    overlaps = _overlaps(
        session,
        before,
        {symbols[i]: (i, span[0], span[1]) for i, span in spans.items() if i in symbols},
    )
    written += _flush(session, pending)
    _publish(session)
    for symbol, instrument in created.items():
        instrument.decimals = created_decimals.get(symbol, instrument.decimals)
        session.add(instrument)
    session.commit()
    if progress is not None:
        progress(line)
    return Imported(written=written, created=sorted(created), older=older, overlaps=overlaps)


OVERLAP_COUNT_LIMIT = 1000


def _overlaps(
    session: Session, before: int, spans: Mapping[str, tuple[int, datetime, datetime]]
) -> list[Overlap]:
    """Of ``spans`` (symbol -> instrument id, first and last time in the file), the
    symbols that had prices in that range among the ticks up to id ``before``, or in daily
    bars whose ticks fall in it. Index range scans on (instrument_id, ts) and the bars'
    key, each stopped at :data:`OVERLAP_COUNT_LIMIT` rows."""
    found: list[Overlap] = []
    for symbol, (instrument_id, first, last) in spans.items():
        earlier = (
            select(Tick.id)
            .where(
                Tick.instrument_id == instrument_id,
                col(Tick.ts) >= first,
                col(Tick.ts) <= last,
                col(Tick.id) <= before,
            )
            .limit(OVERLAP_COUNT_LIMIT)
            .subquery()
        )
        ticks = session.exec(select(func.count()).select_from(earlier)).one()
        days = 0
        if not ticks:
            bars_in_range = (
                select(PriceBar.start)
                .where(
                    PriceBar.instrument_id == instrument_id,
                    PriceBar.resolution == 86400,
                    col(PriceBar.start) >= first - timedelta(days=1),
                    col(PriceBar.start) <= last,
                    col(PriceBar.close_ts) >= first,
                    col(PriceBar.open_ts) <= last,
                )
                .limit(OVERLAP_COUNT_LIMIT)
                .subquery()
            )
            days = session.exec(select(func.count()).select_from(bars_in_range)).one()
        if ticks or days:
            found.append(Overlap(symbol, first, last, ticks, days))
    return found


def _instrument_row(session: Session, symbol: str) -> Instrument | None:
    return session.exec(select(Instrument).where(Instrument.symbol == symbol)).first()


def _create(session: Session, symbol: str, price: float, line: int) -> Instrument:
    try:
        (instrument,) = instruments.create_missing(
            session=session, prices_by_symbol={symbol: [price]}
        )
    except (instruments.InstrumentInvalid, ValueError):
        session.rollback()
        raise IngestInvalid(
            [ItemError(0, f"cannot create an instrument for {symbol!r}", symbol, line)]
        ) from None
    return instrument


# session.info key: how many rows this transaction has staged (PostgreSQL; see _flush).
_STAGED = "dashboard.ingest.staged"
_STAGING_TABLE = """CREATE TEMPORARY TABLE tick_staging (
    seq bigint NOT NULL,
    instrument_id integer NOT NULL,
    price double precision NOT NULL,
    ts timestamp with time zone NOT NULL,
    received_at timestamp with time zone
) ON COMMIT DROP"""
_FROM_STAGING = """INSERT INTO tick (instrument_id, price, ts, received_at)
SELECT instrument_id, price, ts, received_at FROM tick_staging ORDER BY seq"""


def _flush(session: Session, rows: list[tuple[int, float, datetime]]) -> int:
    """Write ``(instrument id, price, ts)`` rows in the session's transaction; clear them.

    SQLite: plain values in multi-row INSERTs (:func:`_insert_sqlite`; the ORM's bulk
    insert spent 5 times as long binding parameters as SQLite spent inserting).
    PostgreSQL: ``COPY`` into a temporary staging table that takes no lock;
    :func:`_publish` (before the commit) moves the rows into ``tick`` in one statement, so
    the advisory lock that keeps ids in commit order (dashboard.store.postgres) is held for
    that copy alone, not for a whole file's reading, and importers of separate files
    overlap.
    """
    if not rows:
        return 0
    received_at = utcnow()
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        received = _sqlite_time(received_at)
        _insert_sqlite(
            connection, [(i, price, _sqlite_time(ts), received) for i, price, ts in rows]
        )
    elif dialect == "postgresql":
        staged = session.info.get(_STAGED)
        if staged is None:
            connection.exec_driver_sql(_STAGING_TABLE)
            staged = 0
        driver = connection.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(
                "COPY tick_staging (seq, instrument_id, price, ts, received_at) FROM STDIN"
            ) as copy,
        ):
            for seq, (i, price, ts) in enumerate(rows, staged):
                copy.write_row((seq, i, price, ts, received_at))
        session.info[_STAGED] = staged + len(rows)
    else:
        session.execute(
            insert(Tick),
            [
                {"instrument_id": i, "price": price, "ts": ts, "received_at": received_at}
                for i, price, ts in rows
            ],
        )
    count = len(rows)
    rows.clear()
    return count


def _publish(session: Session) -> None:
    """Move what :func:`_flush` staged (PostgreSQL) into ``tick``, in staging order; call
    before the commit. A no-op when nothing is staged (and always on SQLite)."""
    if session.info.pop(_STAGED, None) is None:
        return
    connection = session.connection()
    connection.exec_driver_sql(_FROM_STAGING)
    connection.exec_driver_sql("DROP TABLE tick_staging")


@dataclass(frozen=True, slots=True)
class Followed:
    """What :func:`follow_records` wrote before its stream ended, and what it skipped."""

    written: int
    skipped: int


def follow_records(
    *,
    open_session: Callable[[], Session],
    records: Iterable[tuple[int, Any]],
    default_symbol: str | None = None,
    tz: tzinfo | None = None,
    on_written: Callable[[], None] | None = None,
    on_skipped: Callable[[ItemError], None] | None = None,
    batch: int = 500,
    max_wait: float = 0.2,
) -> Followed:
    """Write an endless stream of records as they come (a feed piped in): each good one is
    committed within ``max_wait`` seconds (or once ``batch`` are waiting); a bad one is
    reported to ``on_skipped`` and skipped, and the stream goes on. Symbols must exist.
    """
    instrument_ids: dict[str, int | None] = {}
    pending: list[tuple[int, float, datetime]] = []
    written = skipped = 0
    oldest_pending = 0.0

    def flush() -> None:
        nonlocal written
        if not pending:
            return
        with open_session() as session:
            written += _flush(session, pending)
            _publish(session)
            session.commit()
        if on_written is not None:
            on_written()

    # The stream is read in a thread: a feed that sends one tick and then waits must see it
    # written after max_wait, not when the next one comes. The queue's bound is the
    # back-pressure: a reader ahead of the store waits.
    arrived: queue.Queue[tuple[int, Any] | None] = queue.Queue(maxsize=10 * batch)
    unreadable: list[Exception] = []  # what stopped the reader (a header it cannot use)

    def read() -> None:
        try:
            for item in records:
                arrived.put(item)
        except Exception as error:  # raised here once what came before is written
            unreadable.append(error)
        finally:
            arrived.put(None)

    threading.Thread(target=read, name="ingest-follow", daemon=True).start()
    index = 0
    while True:
        try:
            item = arrived.get(timeout=max_wait)
        except queue.Empty:
            flush()
            continue
        if item is None:
            break
        line, record = item
        checked = _check_record(record, index, line, default_symbol, utcnow(), tz)
        index += 1
        if isinstance(checked, TickIn) and checked.symbol not in instrument_ids:
            with open_session() as session:
                row = _instrument_row(session, checked.symbol)
            live = row is not None and row.retired_at is None
            instrument_ids[checked.symbol] = row.id if live and row is not None else None
        if isinstance(checked, TickIn) and instrument_ids[checked.symbol] is None:
            checked = ItemError(index - 1, "unknown or retired symbol", checked.symbol, line)
        if isinstance(checked, ItemError):
            skipped += 1
            if on_skipped is not None:
                on_skipped(checked)
            continue
        if not pending:
            oldest_pending = time.monotonic()
        instrument_id = instrument_ids[checked.symbol]
        assert instrument_id is not None
        pending.append((instrument_id, checked.price, checked.ts))
        if len(pending) >= batch or time.monotonic() - oldest_pending >= max_wait:
            flush()
    flush()
    if unreadable:
        raise unreadable[0]
    return Followed(written=written, skipped=skipped)
