"""Watchlists: which instruments a user's dashboard shows, and in what order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, col, select

from dashboard.models import Instrument, WatchlistItem


def symbols_for(*, session: Session, user_id: int) -> list[str] | None:
    """The user's symbols in order, or None when they show the default set."""
    rows = session.exec(
        select(Instrument.symbol)
        .join(WatchlistItem, col(WatchlistItem.instrument_id) == col(Instrument.id))
        .where(WatchlistItem.user_id == user_id)
        .order_by(col(WatchlistItem.position), col(Instrument.position))
    ).all()
    return list(rows) or None


@dataclass(frozen=True, slots=True)
class Choice:
    symbol: str
    name: str
    shown: bool
    position: int


def choices(*, session: Session, user_id: int) -> list[Choice]:
    """Every instrument, the shown ones first in their order, then the rest."""
    instruments = session.exec(
        select(Instrument).order_by(col(Instrument.position), col(Instrument.symbol))
    ).all()
    chosen = symbols_for(session=session, user_id=user_id)
    order = chosen if chosen is not None else [i.symbol for i in instruments]
    rank = {symbol: n for n, symbol in enumerate(order)}
    ordered = sorted(instruments, key=lambda i: (i.symbol not in rank, rank.get(i.symbol, 0)))
    return [
        Choice(i.symbol, i.name, i.symbol in rank, rank.get(i.symbol, len(order)) + 1)
        for i in ordered
    ]


class WatchlistInvalid(ValueError):
    pass


def save(*, session: Session, user_id: int, symbols: Sequence[str]) -> None:
    """Replace the user's watchlist with ``symbols`` in this order."""
    if not symbols:
        raise WatchlistInvalid("Choose at least one instrument (or use the default set).")
    if len(set(symbols)) != len(symbols):
        raise WatchlistInvalid("Each instrument can be shown once.")
    ids = dict(
        session.exec(
            select(Instrument.symbol, Instrument.id).where(col(Instrument.symbol).in_(symbols))
        ).all()
    )
    unknown = [s for s in symbols if s not in ids]
    if unknown:
        raise WatchlistInvalid(f"Unknown instruments: {', '.join(unknown)}.")
    session.execute(delete(WatchlistItem).where(col(WatchlistItem.user_id) == user_id))
    for position, symbol in enumerate(symbols):
        instrument_id = ids[symbol]
        assert instrument_id is not None
        session.add(WatchlistItem(user_id=user_id, instrument_id=instrument_id, position=position))
    session.commit()


def reset(*, session: Session, user_id: int) -> None:
    """Back to the default set."""
    session.execute(delete(WatchlistItem).where(col(WatchlistItem.user_id) == user_id))
    session.commit()
