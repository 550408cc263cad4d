"""``/api/instruments``: the instruments, in dashboard order; admins add and change them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from dashboard.models import Instrument
from dashboard.prices import instruments
from dashboard.web.deps import CALLER_RESOLVED, ApiAdmin, RuntimeDep, SessionDep

router = APIRouter(prefix="/api", tags=["instruments"], dependencies=CALLER_RESOLVED)


class InstrumentOut(BaseModel):
    symbol: str
    name: str
    kind: str
    decimals: int
    ttl_seconds: int
    currency: str | None
    simulated: bool
    retired_at: datetime | None


class InstrumentPatch(instruments.InstrumentChanges):
    retired: bool | None = None


def _out(instrument: Instrument) -> InstrumentOut:
    return InstrumentOut.model_validate(instrument, from_attributes=True)


@router.get("/instruments")
def list_instruments(
    session: SessionDep,
    include_retired: Annotated[bool, Query(description="Retired ones too (last).")] = False,
) -> list[InstrumentOut]:
    """Every instrument, in dashboard order."""
    rows = instruments.all_instruments(session=session, include_retired=include_retired)
    return [_out(i) for i in rows]


@router.post(
    "/instruments",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The symbol exists already"}},
)
def add_instrument(
    new: instruments.NewInstrument, session: SessionDep, runtime: RuntimeDep, admin: ApiAdmin
) -> InstrumentOut:
    """Add a real instrument (admin): it shows on the dashboard with its first tick."""
    try:
        added = instruments.add(session=session, new=new)
    except instruments.InstrumentInvalid as invalid:
        raise HTTPException(status.HTTP_409_CONFLICT, str(invalid)) from None
    runtime.price_poller.instruments_changed()
    return _out(added)


@router.patch("/instruments/{symbol}", responses={404: {"description": "No such symbol"}})
def change_instrument(
    symbol: str,
    patch: InstrumentPatch,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: ApiAdmin,
) -> InstrumentOut:
    """Change an instrument's fields (admin); ``"retired": true`` takes it off the screens
    and refuses its new ticks, ``false`` brings it back."""
    changes = instruments.InstrumentChanges.model_validate(patch.model_dump(exclude={"retired"}))
    try:
        changed = instruments.change(session=session, symbol=symbol, changes=changes)
        if patch.retired is not None:
            changed = instruments.retire(session=session, symbol=symbol, retired=patch.retired)
    except instruments.InstrumentNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Unknown symbol {symbol!r}.") from None
    runtime.price_poller.instruments_changed()
    return _out(changed)
