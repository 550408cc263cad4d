"""``/api/prices``: the latest price of every instrument, one instrument's ticks, and its
OHLC bars."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from dashboard.models import Instrument, Tick
from dashboard.prices import bars, stored_ticks
from dashboard.store.db import dialect_of
from dashboard.web.deps import CALLER_RESOLVED, RuntimeDep, SessionDep

router = APIRouter(prefix="/api", tags=["prices"], dependencies=CALLER_RESOLVED)


class PriceOut(BaseModel):
    symbol: str
    price: float | None
    reference_price: float | None
    change: float | None = Field(
        description="price - reference_price, to 12 significant digits (no floating-point "
        "remainder such as -1.8100000000000023)."
    )
    change_percent: float | None = Field(
        description="change over reference_price, in %, to 12 significant digits."
    )
    ts: datetime | None
    tick_id: int
    stale: bool


class HistoryPoint(BaseModel):
    tick_id: int
    price: float
    ts: datetime
    received_at: datetime | None = Field(
        description="When the store took the tick in (null: written by a program that did not say)."
    )


class BarOut(BaseModel):
    start: datetime = Field(description="The bucket's start (UTC, aligned on the epoch).")
    open: float
    high: float
    low: float
    close: float
    ticks: int = Field(description="How many ticks the bar holds.")


@router.get("/prices")
def latest_prices(runtime: RuntimeDep) -> list[PriceOut]:
    """The latest price of every instrument, as the live tiles show it."""
    return [
        PriceOut(
            symbol=t.symbol,
            price=t.price,
            reference_price=t.reference_price,
            change=_significant(t.change),
            change_percent=_significant(t.change_percent),
            ts=t.ts,
            tick_id=t.tick_id,
            stale=t.stale,
        )
        for t in runtime.price_poller.tiles()
    ]


def _significant(value: float | None) -> float | None:
    """``value`` to 12 significant digits: a difference of two prices without its
    floating-point remainder (-1.8100000000000023 -> -1.81), however small it is."""
    return None if value is None else float(f"{value:.12g}")


@router.get("/prices/{symbol}/history")
def price_history(
    symbol: str,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[HistoryPoint]:
    """The newest ``limit`` ticks of ``symbol`` by event time (``ts``), oldest first."""
    instrument = _instrument(session, symbol)
    ticks = session.exec(
        select(Tick)
        .where(Tick.instrument_id == instrument.id, stored_ticks.usable(dialect_of(session)))
        .order_by(col(Tick.ts).desc(), col(Tick.id).desc())
        .limit(limit)
    ).all()
    return [
        HistoryPoint(tick_id=t.id or 0, price=t.price, ts=t.ts, received_at=t.received_at)
        for t in reversed(ticks)
    ]


@router.get("/prices/{symbol}/bars", responses={422: {"description": "Bad range"}})
def price_bars(
    symbol: str,
    session: SessionDep,
    resolution: Annotated[Literal["1m", "5m", "1h", "1d"], Query()] = "1m",
    start: Annotated[
        datetime | None,
        Query(alias="from", description="Start of the range (ISO 8601 with a zone)."),
    ] = None,
    end: Annotated[
        datetime | None,
        Query(alias="to", description="End of the range, exclusive (ISO 8601 with a zone)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[BarOut]:
    """OHLC bars of ``symbol``, oldest first: the newest ``limit`` of those covering
    ``[from, to)`` (the first is the bar holding ``from``). Buckets are UTC and aligned on
    the epoch (a ``1d`` bar is a UTC day); the bar being built includes the latest tick.
    Minute bars go back ``minute_bar_retention_days``; hour and day bars as far as the
    history does."""
    # A time without a zone, or a date alone (midnight), is UTC, like the bars themselves.
    start = start if start is None or start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end is None or end.tzinfo else end.replace(tzinfo=UTC)
    if start is not None and end is not None and start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "'from' must be before 'to'.")
    instrument = _instrument(session, symbol)
    assert instrument.id is not None
    return [
        BarOut(start=b.start, open=b.open, high=b.high, low=b.low, close=b.close, ticks=b.ticks)
        for b in bars.read(
            session=session,
            instrument_id=instrument.id,
            resolution=resolution,
            start=start,
            end=end,
            limit=limit,
        )
    ]


def _instrument(session: Session, symbol: str) -> Instrument:
    instrument = session.exec(select(Instrument).where(Instrument.symbol == symbol)).first()
    if instrument is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Unknown symbol {symbol!r}.")
    return instrument
