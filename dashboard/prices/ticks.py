"""Writing and reading ticks (reads leave out rows that break the store contract)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from dashboard.models import Instrument, Tick, utcnow
from dashboard.prices.stored_ticks import usable
from dashboard.store.db import dialect_of


@dataclass(frozen=True, slots=True)
class NewTick:
    instrument_id: int
    price: float
    ts: datetime


def insert_ticks(*, session: Session, ticks: Sequence[NewTick]) -> None:
    """Write ``ticks`` in one transaction (the feed's path: no ids needed back)."""
    if not ticks:
        return
    received_at = utcnow()
    session.execute(
        insert(Tick),
        [
            {
                "instrument_id": t.instrument_id,
                "price": t.price,
                "ts": t.ts,
                "received_at": received_at,
            }
            for t in ticks
        ],
    )
    session.commit()


def last_prices(*, session: Session) -> dict[int, float]:
    """The newest price of every instrument that has a tick (one index seek each)."""
    prices: dict[int, float] = {}
    for instrument_id in session.exec(select(Instrument.id)).all():
        assert instrument_id is not None
        price = session.exec(
            select(Tick.price)
            .where(Tick.instrument_id == instrument_id, usable(dialect_of(session)))
            .order_by(col(Tick.id).desc())
            .limit(1)
        ).first()
        if price is not None:
            prices[instrument_id] = price
    return prices


@dataclass(frozen=True, slots=True)
class Window:
    """Open (first tick), high and low of an instrument since a time."""

    hours: float
    open: float | None
    high: float | None
    low: float | None


def window(*, session: Session, instrument_id: int, hours: float) -> Window:
    since = utcnow() - timedelta(hours=hours)
    in_window = (
        Tick.instrument_id == instrument_id,
        col(Tick.ts) >= since,
        usable(dialect_of(session)),
    )
    high, low = session.exec(
        select(func.max(Tick.price), func.min(Tick.price)).where(*in_window)
    ).one()
    first = session.exec(
        select(Tick.price).where(*in_window).order_by(col(Tick.ts)).limit(1)
    ).first()
    return Window(hours=hours, open=first, high=high, low=low)
