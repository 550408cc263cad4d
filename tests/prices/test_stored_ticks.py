"""The store contract for tick rows: what check() accepts, and usable() agrees in SQL."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from dashboard.models import Tick
from dashboard.prices import stored_ticks
from tests.factories import add_tick, make_instrument

WHEN = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("price", "ts", "expected"),
    [
        (10.5, WHEN, (10.5, WHEN)),
        (3, "2026-11-29 10:00:00.000000", (3.0, WHEN)),  # SQLite's text, naive = UTC
        (3, "2026-11-29 10:00:00", (3.0, WHEN)),
        (3, "2026-11-29T11:00:00+01:00", (3.0, WHEN)),
        (3, WHEN.replace(tzinfo=None), (3.0, WHEN)),
        (3, WHEN.astimezone(timezone(timedelta(hours=-5))), (3.0, WHEN)),
        # A float and text: the usual row, on a path of its own.
        (10.5, "2026-11-29 10:00:00.000000", (10.5, WHEN)),
        (10.5, "2026-11-29 10:00", (10.5, WHEN)),
        (10.5, "2026-11-29T11:00:00+01:00", (10.5, WHEN)),
        (10.5, "2026-11-29 10:00:00Z", (10.5, WHEN)),
        (10.5, "2026-11-29", (10.5, WHEN.replace(hour=0))),  # aware, not a naive midnight
    ],
)
def test_rows_that_keep_the_contract_come_back_as_utc(
    price: object, ts: object, expected: tuple[float, datetime]
) -> None:
    assert stored_ticks.check(price, ts) == expected


@pytest.mark.parametrize(
    ("price", "ts", "reason"),
    [
        (11, 1795961126, "ts is the number 1795961126 (epoch seconds?), not UTC text"),
        (11, 1795961126.5, "ts is the number 1795961126.5 (epoch seconds?), not UTC text"),
        (11, "yesterday", "ts 'yesterday' is not a time"),
        (11, None, "ts is NoneType, not a time"),
        ("abc", WHEN, "price is str 'abc', not a number"),
        (True, WHEN, "price is bool True, not a number"),
        (math.inf, WHEN, "price inf is not a finite number above zero"),
        (math.nan, WHEN, "price nan is not a finite number above zero"),
        (-1.0, WHEN, "price -1.0 is not a finite number above zero"),
        (0, WHEN, "price 0 is not a finite number above zero"),
        ("x" * 100, WHEN, f"price is str {repr('x' * 100)[:37]}..., not a number"),
        (11.5, "yesterday", "ts 'yesterday' is not a time"),
        # What fromisoformat takes with "+00:00" after it, and refuses alone.
        (11.5, "2026-11-29 10:00:00 ", "ts '2026-11-29 10:00:00 ' is not a time"),
        (11.5, "2026-11-29 10:00:00.", "ts '2026-11-29 10:00:00.' is not a time"),
        (11.5, "2026-11-29 10:00:00\t", "ts '2026-11-29 10:00:00\\t' is not a time"),
        (math.inf, "2026-11-29 10:00:00", "price inf is not a finite number above zero"),
        (math.nan, "2026-11-29 10:00:00", "price nan is not a finite number above zero"),
        (-1.0, "2026-11-29 10:00:00", "price -1.0 is not a finite number above zero"),
    ],
)
def test_rows_that_break_it_say_why(price: object, ts: object, reason: str) -> None:
    assert stored_ticks.check(price, ts) == reason


def test_usable_leaves_out_in_sql_what_check_refuses(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    good = add_tick(session, acme, 10.0)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        bad_rows = [
            "(:i, 11, 1795961126)",
            "(:i, 'abc', '2026-11-29 10:00:01')",
            "(:i, 12, 'yesterday')",
            "(:i, 9e999, '2026-11-29 10:00:02')",
            "(:i, -1, '2026-11-29 10:00:03')",
        ]
    else:
        bad_rows = [
            "(:i, 'NaN', now())",
            "(:i, 'Infinity', now())",
            "(:i, -1, now())",
            "(:i, 0, now())",
        ]
    for row in bad_rows:
        session.connection().execute(
            text(f"INSERT INTO tick (instrument_id, price, ts) VALUES {row}"), {"i": acme.id}
        )
    session.commit()
    kept = session.exec(
        select(Tick.id).where(stored_ticks.usable(dialect)).order_by(col(Tick.id))
    ).all()
    assert kept == [good.id]
    raw = session.exec(select(*stored_ticks.raw_columns()).order_by(col(Tick.id))).all()
    checked = [stored_ticks.check(price, ts) for _id, _instrument, price, ts in raw]
    assert [isinstance(c, tuple) for c in checked] == [True] + [False] * len(bad_rows)
