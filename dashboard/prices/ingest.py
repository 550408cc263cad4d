"""Incoming ticks from outside: parse (JSON array, NDJSON, CSV), validate all, write all.

All-or-nothing: every item is checked before anything is written, and every bad item is
named in the error, so a rejected batch can be fixed and sent again whole.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from dashboard.models import Instrument, Tick, utcnow
from dashboard.prices import instruments

# Clocks disagree a little; a tick further ahead than this is a mistake.
MAX_FUTURE = timedelta(minutes=5)
MAX_ITEMS = 10_000


@dataclass(frozen=True, slots=True)
class TickIn:
    symbol: str
    price: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int
    error: str
    symbol: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "symbol": self.symbol, "error": self.error}


class IngestInvalid(ValueError):
    """Some items are bad; nothing was written."""

    def __init__(self, errors: Sequence[ItemError]) -> None:
        super().__init__(f"{len(errors)} bad item(s); nothing was written")
        self.errors = list(errors)


def _parse_ts(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("ts must be a finite number of seconds")
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("ts needs a time zone (e.g. 2026-01-01T12:00:00Z)")
        return parsed.astimezone(UTC)
    raise ValueError("ts must be an ISO 8601 string or epoch seconds")


def parse_records(
    records: Iterable[Any], *, default_symbol: str | None = None, now: datetime | None = None
) -> list[TickIn]:
    """Turn raw records into ticks, checking each; raise IngestInvalid naming every bad one.

    A record is an object with ``price`` (or ``value``), ``symbol`` (or the default) and an
    optional ``ts`` (ISO 8601 with a zone, or epoch seconds; default: now).
    """
    now = now or utcnow()
    ticks: list[TickIn] = []
    errors: list[ItemError] = []
    for index, record in enumerate(records):
        if index >= MAX_ITEMS:
            errors.append(ItemError(index, f"too many items (at most {MAX_ITEMS} per batch)"))
            break
        if not isinstance(record, Mapping):
            errors.append(ItemError(index, "must be an object"))
            continue
        symbol = record.get("symbol", default_symbol)
        if not isinstance(symbol, str) or not symbol.strip():
            errors.append(ItemError(index, "symbol is missing"))
            continue
        symbol = symbol.strip()
        if len(symbol) > 20 or not symbol.isprintable():
            errors.append(ItemError(index, "symbol is not a valid symbol"))
            continue
        raw_price = record.get("price", record.get("value"))
        try:
            if isinstance(raw_price, bool) or raw_price is None:
                raise ValueError
            price = float(raw_price)
        except (TypeError, ValueError, OverflowError):
            errors.append(ItemError(index, "price must be a number", symbol))
            continue
        if not math.isfinite(price) or price <= 0:
            errors.append(ItemError(index, "price must be a finite number above 0", symbol))
            continue
        try:
            ts = now if record.get("ts") in (None, "") else _parse_ts(record["ts"])
        except (ValueError, OverflowError, OSError) as bad:
            errors.append(ItemError(index, str(bad) or "ts is not a valid time", symbol))
            continue
        if ts - now > MAX_FUTURE:
            errors.append(ItemError(index, "ts is too far in the future", symbol))
            continue
        ticks.append(TickIn(symbol=symbol, price=price, ts=ts))
    if errors:
        raise IngestInvalid(errors)
    return ticks


def records_from_text(text: str, *, kind: str) -> list[Any]:
    """Records from a body or file: ``json`` (array), ``ndjson`` or ``csv`` (with a header)."""
    if kind == "json":
        data = _loads(text)
        if not isinstance(data, list):
            raise ValueError("a JSON body must be an array of objects")
        return data
    if kind == "ndjson":
        return [_loads(line) for line in text.splitlines() if line.strip()]
    if kind == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    raise ValueError(f"unknown format {kind!r}")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "json"}.get(
        suffix, "ndjson"
    )


def instrument_ids(*, session: Session, symbols: Sequence[str]) -> dict[str, int]:
    """The instrument id of each symbol; IngestInvalid names each unknown or retired symbol
    once (at its first item, with how many items name it)."""
    found = session.exec(
        select(Instrument.symbol, Instrument.id, Instrument.retired_at).where(
            col(Instrument.symbol).in_(set(symbols))
        )
    ).all()
    ids = {symbol: i for symbol, i, retired in found if i is not None and retired is None}
    retired = {symbol for symbol, _i, when in found if when is not None}
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for index, symbol in enumerate(symbols):
        if symbol not in ids:
            first.setdefault(symbol, index)
            counts[symbol] = counts.get(symbol, 0) + 1
    errors = [
        ItemError(
            index,
            (
                f"instrument retired ({counts[symbol]} item(s))"
                if symbol in retired
                else f"unknown symbol ({counts[symbol]} item(s)): add it with `dashboard "
                "instruments add`, or import with --create-missing"
            ),
            symbol,
        )
        for symbol, index in first.items()
    ]
    if errors:
        raise IngestInvalid(errors)
    return ids


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
    rows = [{"instrument_id": ids_by_symbol[t.symbol], "price": t.price, "ts": t.ts} for t in ticks]
    # One INSERT per row inside one transaction: RETURNING ids in order on both dialects.
    ids: list[int] = []
    for row in rows:
        ids.append(session.execute(insert(Tick).values(**row).returning(col(Tick.id))).scalar_one())
        if progress is not None and len(ids) % 500 == 0:
            progress(len(ids))
    session.commit()
    if progress is not None:
        progress(len(ids))
    return ids
