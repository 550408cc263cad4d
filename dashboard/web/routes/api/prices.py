"""``/api/prices``: the latest price of every instrument, and one instrument's history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel
from sqlmodel import col, select

from dashboard.models import Instrument, Tick
from dashboard.prices import stored_ticks
from dashboard.store.db import dialect_of
from dashboard.web.deps import RuntimeDep, SessionDep

router = APIRouter(tags=["prices"])


class PriceOut(BaseModel):
    symbol: str
    price: float | None
    reference_price: float | None
    change: float | None
    change_percent: float | None
    ts: datetime | None
    tick_id: int
    stale: bool


class HistoryPoint(BaseModel):
    tick_id: int
    price: float
    ts: datetime


@router.get("/prices")
def latest_prices(runtime: RuntimeDep) -> list[PriceOut]:
    """The latest price of every instrument, as the live tiles show it."""
    return [
        PriceOut(
            symbol=t.symbol,
            price=t.price,
            reference_price=t.reference_price,
            change=t.change,
            change_percent=t.change_percent,
            ts=t.ts,
            tick_id=t.tick_id,
            stale=t.stale,
        )
        for t in runtime.price_poller.tiles()
    ]


@router.get("/prices/{symbol}/history")
def price_history(
    symbol: str,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[HistoryPoint]:
    """The newest ``limit`` ticks of ``symbol`` by event time (``ts``), oldest first."""
    instrument = session.exec(select(Instrument).where(Instrument.symbol == symbol)).first()
    if instrument is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Unknown symbol {symbol!r}.")
    ticks = session.exec(
        select(Tick)
        .where(Tick.instrument_id == instrument.id, stored_ticks.usable(dialect_of(session)))
        .order_by(col(Tick.ts).desc(), col(Tick.id).desc())
        .limit(limit)
    ).all()
    return [HistoryPoint(tick_id=t.id or 0, price=t.price, ts=t.ts) for t in reversed(ticks)]
