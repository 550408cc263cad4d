"""``/api/instruments``: the instruments, in dashboard order."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import col, select

from dashboard.models import Instrument
from dashboard.web.deps import SessionDep

router = APIRouter(tags=["instruments"])


class InstrumentOut(BaseModel):
    symbol: str
    name: str
    kind: str
    decimals: int
    ttl_seconds: int


@router.get("/instruments")
def list_instruments(session: SessionDep) -> list[InstrumentOut]:
    """Every instrument, in dashboard order."""
    rows = session.exec(
        select(Instrument).order_by(col(Instrument.position), col(Instrument.symbol))
    ).all()
    return [InstrumentOut.model_validate(i, from_attributes=True) for i in rows]
