"""Tick retention: delete ticks older than the window, in small batches, off the loop.

Small batches keep each write transaction short, so the feed and ingest never wait long
for the store's write lock. Each instrument's newest tick is always kept, so a quiet
instrument still shows its last price. Only ticks already folded into bars go (see
dashboard.prices.bars), so history older than the window lives on as bars; minute bars
are pruned after ``minute_bars`` too, hour and day bars are kept.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from dashboard.models import Instrument, Tick, utcnow
from dashboard.prices import bars
from dashboard.store.db import SessionFactory

logger = logging.getLogger(__name__)


def newest_tick_ids(*, session: Session) -> set[int]:
    """Each instrument's newest tick by event time (the one its tile shows), and its newest
    by id (the poller's cursor): one index seek each per instrument, not a table scan."""
    newest: set[int] = set()
    for instrument_id in session.exec(select(Instrument.id)).all():
        by_id = session.exec(
            select(func.max(Tick.id)).where(Tick.instrument_id == instrument_id)
        ).one()
        by_time = session.exec(
            select(Tick.id)
            .where(Tick.instrument_id == instrument_id)
            .order_by(col(Tick.ts).desc(), col(Tick.id).desc())
            .limit(1)
        ).first()
        newest.update(tick_id for tick_id in (by_id, by_time) if tick_id is not None)
    return newest


def prune_ticks(
    *, session: Session, older_than: datetime, batch_size: int, keep: set[int] | None = None
) -> int:
    """Delete up to ``batch_size`` of the oldest expired ticks that are already in bars;
    return how many went.

    ``keep`` (each instrument's newest tick id) is read once per run by the caller.
    """
    if keep is None:
        keep = newest_tick_ids(session=session)
    doomed = session.exec(
        select(Tick.id)
        .where(
            col(Tick.ts) < older_than,
            col(Tick.id) <= bars.cursor(session=session),
            col(Tick.id).not_in(keep),
        )
        .order_by(col(Tick.id))
        .limit(batch_size)
    ).all()
    if not doomed:
        return 0
    session.execute(delete(Tick).where(col(Tick.id).in_(doomed)))
    session.commit()
    return len(doomed)


async def run_retention(
    open_session: SessionFactory,
    *,
    keep: timedelta,
    every: float,
    minute_bars: timedelta,
    batch_size: int = 1000,
    pause: float = 0.05,
) -> None:
    """Prune forever: every ``every`` seconds, batch after batch until nothing is left."""
    while True:
        try:
            await asyncio.to_thread(_prune_minute_bars, open_session, utcnow() - minute_bars)
            cutoff = utcnow() - keep
            newest = await asyncio.to_thread(_newest, open_session)
            removed = 0
            while True:
                removed_now = await asyncio.to_thread(
                    _prune, open_session, cutoff, batch_size, newest
                )
                removed += removed_now
                if removed_now < batch_size:
                    break
                await asyncio.sleep(pause)  # let writers in between batches
            if removed:
                logger.info("retention removed %d ticks older than %s", removed, cutoff)
        except Exception:
            logger.exception("tick retention failed; trying again later")
        await asyncio.sleep(every)


def _prune_minute_bars(open_session: SessionFactory, cutoff: datetime) -> None:
    with open_session() as session:
        removed = bars.prune_minute_bars(session=session, older_than=cutoff)
    if removed:
        logger.info("retention removed %d minute bars older than %s", removed, cutoff)


def _newest(open_session: SessionFactory) -> set[int]:
    with open_session() as session:
        return newest_tick_ids(session=session)


def _prune(open_session: SessionFactory, cutoff: datetime, batch_size: int, keep: set[int]) -> int:
    with open_session() as session:
        return prune_ticks(session=session, older_than=cutoff, batch_size=batch_size, keep=keep)
