"""The store contract for ticks, which other programs write too (docs/store-contract.md).

A tick row is usable when its ``price`` is a finite number above zero and its ``ts`` is a
time: on PostgreSQL the ``timestamptz`` column sees to that; SQLite stores whatever it is
given, so there ``ts`` must be UTC text ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (or ISO 8601
with an offset). One row that breaks it once stopped every tile and kept the app from
starting. Now the price poller reads rows raw, checks each with :func:`check`, and skips
(logs once, counts) the ones that break it; every other reader leaves them out in SQL with
:func:`usable`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from dashboard.models import Tick

_TICK = Tick.__table__  # type: ignore[attr-defined]
_fromisoformat = datetime.fromisoformat
# SQLite's REAL holds infinities (9e999); none is a price.
_SQLITE_FINITE = 1e308


def usable(dialect: str) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows :func:`check` accepts (as far as SQL can tell)."""
    price, ts = _TICK.c.price, _TICK.c.ts
    if dialect == "sqlite":
        as_text = sa.type_coerce(ts, sa.String)
        return sa.and_(
            sa.func.typeof(price, type_=sa.String).in_(("integer", "real")),
            price > 0,
            price < _SQLITE_FINITE,
            sa.func.typeof(ts, type_=sa.String) == "text",
            as_text.op("GLOB")("[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*"),
        )
    # PostgreSQL: NaN sorts above every number, Infinity above the rest.
    return sa.and_(price > 0, price < sa.literal_column("'Infinity'::float8"))


def raw_columns() -> tuple[Any, ...]:
    """``id, instrument_id, price, ts`` as the store holds them (no type conversion, which
    is what failed on a bad row)."""
    return (
        _TICK.c.id,
        _TICK.c.instrument_id,
        sa.type_coerce(_TICK.c.price, NullType()),
        sa.type_coerce(_TICK.c.ts, NullType()),
    )


def check(price: object, ts: object) -> tuple[float, datetime] | str:
    """``(price, ts as UTC)`` for a row that keeps the contract, else why it does not.

    Every tick written is checked twice (by the price poller and the bar roll-up): the
    usual row, a float and UTC text without an offset, takes a path of its own. Its
    ``fromisoformat(ts + "+00:00")`` costs a seventh of ``fromisoformat(ts)`` and then
    ``.replace(tzinfo=UTC)`` (0.16 µs against 1.2 on this machine).
    """
    # Text ending in a digit: fromisoformat takes "12:00:00 " or "12:00:00." with the
    # offset after it, where alone it refuses them.
    if type(price) is float and type(ts) is str and 0.0 < price < math.inf and ts[-1:].isdigit():
        try:
            parsed = _fromisoformat(ts + "+00:00")
        except ValueError:
            parsed = None  # an offset of its own, or no time: the whole way below
        # Python 3.11 reads "2026-12-06+00:00" as a naive midnight: that too goes below.
        if parsed is not None and parsed.tzinfo is not None:
            return price, parsed
    if isinstance(price, bool) or not isinstance(price, int | float):
        return f"price is {type(price).__name__} {_shown(price)}, not a number"
    if not math.isfinite(price) or price <= 0:
        return f"price {price!r} is not a finite number above zero"
    when = _as_utc(ts)
    if isinstance(when, str):
        return when
    return float(price), when


def _as_utc(ts: object) -> datetime | str:
    if isinstance(ts, datetime):
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return f"ts is the number {ts!r} (epoch seconds?), not UTC text"
    if not isinstance(ts, str):
        return f"ts is {type(ts).__name__}, not a time"
    try:
        parsed = datetime.fromisoformat(ts)
    except ValueError:
        return f"ts {_shown(ts)} is not a time"
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
