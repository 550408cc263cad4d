"""OHLC bars: kept as ticks arrive, read back at 1m, 5m, 1h or 1d.

**Kept.** :func:`roll_up` reads the ticks after the bar cursor (a ``feed_cursor`` row named
``bars``), folds each into its 1-minute, 1-hour and 1-day bar (``price_bar``), and moves the
cursor, all in one transaction. It starts that transaction with a write to the cursor row,
so two processes never fold the same ticks (PostgreSQL locks the row; SQLite has one
writer). Ticks are folded in id order, whatever their event time: imported history and
late ticks land in their own (old) buckets. Each bar keeps the times of its first and last
tick, so a late tick merges exactly: it becomes the open only if it is older than the
bar's open, the close only if it is newer than its close. Retention deletes only ticks the
cursor has passed (:func:`cursor`), so no tick leaves the store before its bars hold it.

**Read.** :func:`read` takes the stored bars of the base resolution (1m for 1m and 5m, 1h,
1d) and folds in the few ticks the cursor has not reached yet, so a chart is current to
the last tick. 5m bars are grouped from 1m ones. Buckets are aligned on the UTC epoch
(a 1d bar is a UTC day).

Minute bars are kept ``minute_bar_retention_days`` (:func:`prune_minute_bars`); hour and
day bars are kept for good, so history thins out but never disappears.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from dashboard.models import FeedCursor, PriceBar, Tick, utcnow
from dashboard.prices import stored_ticks
from dashboard.store.db import SessionFactory, dialect_of

logger = logging.getLogger(__name__)

# Query names and their length in seconds.
RESOLUTIONS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}
# What is stored; every resolution above is read from one of these.
STORED = (60, 3600, 86400)
CURSOR_SOURCE = "bars"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Bar:
    """OHLC of the ticks in ``[start, start + resolution)``; ``open_ts``/``close_ts`` are the
    first and last tick's event times, ``ticks`` how many there were."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    open_ts: datetime
    close_ts: datetime
    ticks: int

    def merged(self, other: Bar) -> Bar:
        """This bar and ``other`` (the same bucket, disjoint ticks) as one bar. On equal
        times ``other`` is taken as the later one (it holds later-written ticks)."""
        first = self if self.open_ts <= other.open_ts else other
        last = other if other.close_ts >= self.close_ts else self
        return Bar(
            start=self.start,
            open=first.open,
            high=max(self.high, other.high),
            low=min(self.low, other.low),
            close=last.close,
            open_ts=first.open_ts,
            close_ts=last.close_ts,
            ticks=self.ticks + other.ticks,
        )


def bucket_start(ts: datetime, resolution: int) -> datetime:
    """The start of the ``resolution``-second bucket holding ``ts`` (UTC, epoch-aligned)."""
    step = timedelta(seconds=resolution)
    return _EPOCH + (ts - _EPOCH) // step * step  # timedelta arithmetic: exact, no floats


def from_ticks(ticks: Iterable[tuple[float, datetime]], resolution: int) -> dict[datetime, Bar]:
    """Bars of ``(price, ts)`` pairs in write order (any event-time order), by start.

    The same as merging one-tick bars with :meth:`Bar.merged`, without making them: this
    runs for every tick written (a Bar per tick was most of the roll-up's time).
    """
    step = timedelta(seconds=resolution)
    # bucket number -> [open, high, low, close, open_ts, close_ts, ticks]
    acc: dict[int, list[Any]] = {}
    for price, ts in ticks:
        bucket = (ts - _EPOCH) // step
        bar = acc.get(bucket)
        if bar is None:
            acc[bucket] = [price, price, price, price, ts, ts, 1]
            continue
        if ts < bar[4]:  # on equal times the earlier-written tick stays the open
            bar[0], bar[4] = price, ts
        if ts >= bar[5]:  # and the later-written one becomes the close
            bar[3], bar[5] = price, ts
        if price > bar[1]:
            bar[1] = price
        if price < bar[2]:
            bar[2] = price
        bar[6] += 1
    return {
        (start := _EPOCH + bucket * step): Bar(start, *values) for bucket, values in acc.items()
    }


def regroup(bars: Iterable[Bar], resolution: int) -> list[Bar]:
    """Finer bars (in start order) grouped into ``resolution``-second ones."""
    grouped: dict[datetime, Bar] = {}
    for bar in bars:
        start = bucket_start(bar.start, resolution)
        moved = replace(bar, start=start)
        grouped[start] = grouped[start].merged(moved) if start in grouped else moved
    return list(grouped.values())


def cursor(*, session: Session) -> int:
    """The id of the last tick folded into bars (0: none yet)."""
    # A query, not session.get: the identity map may hold a position read before the
    # cursor row was locked, and another process may have moved it since.
    position = session.execute(
        select(col(FeedCursor.position)).where(col(FeedCursor.source) == CURSOR_SOURCE)
    ).scalar()
    return int(position) if position is not None else 0


def roll_up(*, session: Session, batch_size: int = 20_000) -> int:
    """Fold up to ``batch_size`` ticks after the cursor into the stored bars and move the
    cursor past them, in one transaction; return how many tick rows were read.

    Rows that break the store contract are passed over (the price poller reports them).
    """
    _ensure_cursor_row(session)
    # The first statement is a write: the transaction holds the cursor from here on.
    session.execute(
        update(FeedCursor)
        .where(col(FeedCursor.source) == CURSOR_SOURCE)
        .values(updated_at=utcnow())
    )
    after = cursor(session=session)
    # On the session's connection: plain rows, without the ORM's loading of each.
    rows = (
        session.connection()
        .execute(
            select(*stored_ticks.raw_columns())
            .where(col(Tick.id) > after)
            .order_by(col(Tick.id))
            .limit(batch_size)
        )
        .all()
    )
    if not rows:
        session.commit()
        return 0
    by_instrument: dict[int, list[tuple[float, datetime]]] = {}
    for _id, instrument_id, price, ts in rows:
        checked = stored_ticks.check(price, ts)
        if not isinstance(checked, str):
            by_instrument.setdefault(instrument_id, []).append(checked)
    # Minute bars from the ticks; hour and day bars from those (far fewer to merge).
    by_resolution: dict[int, dict[tuple[int, datetime], Bar]] = {r: {} for r in STORED}
    for instrument_id, ticks in by_instrument.items():
        finer = list(from_ticks(ticks, STORED[0]).values())
        for resolution in STORED:
            if resolution != STORED[0]:
                finer = regroup(finer, resolution)
            by_resolution[resolution].update(((instrument_id, b.start), b) for b in finer)
    for resolution, fresh in by_resolution.items():
        _store(session, resolution, fresh)
    session.execute(
        update(FeedCursor)
        .where(col(FeedCursor.source) == CURSOR_SOURCE)
        .values(position=str(rows[-1][0]))
    )
    session.commit()
    return len(rows)


def _ensure_cursor_row(session: Session) -> None:
    if (
        session.execute(
            select(col(FeedCursor.source)).where(col(FeedCursor.source) == CURSOR_SOURCE)
        ).first()
        is None
    ):
        session.add(FeedCursor(source=CURSOR_SOURCE, position="0"))
        try:
            session.commit()
        except IntegrityError:  # another process made it first
            session.rollback()


def _store(session: Session, resolution: int, fresh: dict[tuple[int, datetime], Bar]) -> None:
    """Merge ``fresh`` bars into the stored ones of ``resolution`` (read, merge, write)."""
    keys = list(fresh)
    existing: dict[tuple[int, datetime], PriceBar] = {}
    for offset in range(0, len(keys), 500):
        chunk = keys[offset : offset + 500]
        for stored in session.scalars(
            select(PriceBar).where(
                col(PriceBar.resolution) == resolution,
                tuple_(col(PriceBar.instrument_id), col(PriceBar.start)).in_(chunk),
            )
        ):
            existing[(stored.instrument_id, stored.start)] = stored
    for (instrument_id, start), bar in fresh.items():
        row = existing.get((instrument_id, start))
        if row is None:
            session.add(_row_of(instrument_id, resolution, bar))
            continue
        merged = _bar_of(row).merged(bar)
        row.open, row.high, row.low, row.close = merged.open, merged.high, merged.low, merged.close
        row.open_ts, row.close_ts, row.tick_count = merged.open_ts, merged.close_ts, merged.ticks
        session.add(row)


def _row_of(instrument_id: int, resolution: int, bar: Bar) -> PriceBar:
    return PriceBar(
        instrument_id=instrument_id,
        resolution=resolution,
        start=bar.start,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        open_ts=bar.open_ts,
        close_ts=bar.close_ts,
        tick_count=bar.ticks,
    )


def _bar_of(row: PriceBar) -> Bar:
    return Bar(
        start=row.start,
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        open_ts=row.open_ts,
        close_ts=row.close_ts,
        ticks=row.tick_count,
    )


def read(
    *,
    session: Session,
    instrument_id: int,
    resolution: str,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[Bar]:
    """The bars of ``instrument_id`` at ``resolution`` (a key of :data:`RESOLUTIONS`) that
    cover ``[start, end)`` (the first is the one holding ``start``), oldest first; the
    newest ``limit`` of them.

    Raises KeyError for an unknown resolution.
    """
    length = RESOLUTIONS[resolution]
    base = max(stored for stored in STORED if stored <= length)
    first = bucket_start(start, length) if start is not None else None
    stored_query = select(PriceBar).where(
        col(PriceBar.instrument_id) == instrument_id, col(PriceBar.resolution) == base
    )
    tick_query = select(*stored_ticks.raw_columns()).where(
        col(Tick.instrument_id) == instrument_id,
        col(Tick.id) > cursor(session=session),
        stored_ticks.usable(dialect_of(session)),
    )
    if first is not None:
        stored_query = stored_query.where(col(PriceBar.start) >= first)
        tick_query = tick_query.where(col(Tick.ts) >= first)
    if end is not None:
        # Whole buckets: the last one that starts before ``end`` may reach past it.
        past_last = bucket_start(end, length) + timedelta(seconds=length)
        stored_query = stored_query.where(col(PriceBar.start) < past_last)
        tick_query = tick_query.where(col(Tick.ts) < past_last)
    if first is None:
        # Only the newest ``limit`` bars are wanted: read no further back than they reach.
        stored_query = stored_query.order_by(col(PriceBar.start).desc()).limit(
            limit * (length // base)
        )
    bars = {row.start: _bar_of(row) for row in session.scalars(stored_query)}
    pending = []
    for _id, _instrument, price, ts in session.execute(tick_query.order_by(col(Tick.id))):
        checked = stored_ticks.check(price, ts)
        if not isinstance(checked, str):
            pending.append(checked)
    for bucket, bar in from_ticks(pending, base).items():
        bars[bucket] = bars[bucket].merged(bar) if bucket in bars else bar
    ordered = [bars[bucket] for bucket in sorted(bars)]
    if length != base:
        ordered = regroup(ordered, length)
    if end is not None:
        ordered = [bar for bar in ordered if bar.start < end]
    return ordered[-limit:]


Closes = dict[int, tuple[datetime, float]]
"""Bucket number (seconds since the epoch // resolution) -> (the close's ts, the close)."""


def closes(
    *, session: Session, instrument_ids: Collection[int], start: datetime, resolution: int
) -> dict[int, Closes]:
    """The last price (by ``ts``) in each ``resolution``-second bucket from ``start`` on, of
    each instrument: what a sparkline draws, read from the stored bars (the coarsest that
    divides ``resolution``) and the ticks not rolled up yet, not from every tick.

    ``resolution`` must be a whole number of minutes.
    """
    base = max(stored for stored in STORED if resolution % stored == 0)
    found: dict[int, Closes] = {instrument_id: {} for instrument_id in instrument_ids}
    if not found:
        return found

    def fold(instrument_id: int, ts: datetime, price: float) -> None:
        number = int(ts.timestamp()) // resolution
        close = found[instrument_id].get(number)
        if close is None or ts >= close[0]:
            found[instrument_id][number] = (ts, price)

    stored = select(col(PriceBar.instrument_id), col(PriceBar.close_ts), col(PriceBar.close)).where(
        col(PriceBar.instrument_id).in_(found),
        col(PriceBar.resolution) == base,
        col(PriceBar.start) >= bucket_start(start, base),
    )
    for instrument_id, close_ts, close in session.execute(stored):
        if close_ts >= start:
            fold(instrument_id, close_ts, close)
    pending = select(*stored_ticks.raw_columns()).where(
        col(Tick.instrument_id).in_(found),
        col(Tick.id) > cursor(session=session),
        stored_ticks.usable(dialect_of(session)),
        col(Tick.ts) >= start,
    )
    for _id, instrument_id, price, ts in session.execute(pending):
        checked = stored_ticks.check(price, ts)
        if not isinstance(checked, str):
            fold(instrument_id, checked[1], checked[0])
    return found


def prune_minute_bars(*, session: Session, older_than: datetime) -> int:
    """Delete 1-minute bars that start before ``older_than``; the hour and day bars keep
    their history. Returns how many went."""
    result = session.execute(
        delete(PriceBar).where(col(PriceBar.resolution) == 60, col(PriceBar.start) < older_than)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def run_roll_up(
    open_session: SessionFactory, *, every: float, batch_size: int = 20_000
) -> None:
    """Fold new ticks into bars forever: batch after batch, then every ``every`` seconds."""
    while True:
        try:
            while await asyncio.to_thread(_roll_up_once, open_session, batch_size) == batch_size:
                await asyncio.sleep(0)  # a big import: let the loop breathe between batches
        except Exception:
            logger.exception("rolling ticks up into bars failed; trying again later")
        await asyncio.sleep(every)


def _roll_up_once(open_session: SessionFactory, batch_size: int) -> int:
    with open_session() as session:
        return roll_up(session=session, batch_size=batch_size)
