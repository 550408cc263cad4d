"""One poller per kind per process: read new rows after a cursor, render once, publish.

A writer in this process calls :meth:`Poller.wake` so its row is seen at once; writes from
other processes are picked up within one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, func
from sqlmodel import Session, col, select

from dashboard.inbox import queries, schedule
from dashboard.live import wire
from dashboard.live._loop import call_on_loop
from dashboard.live.hub import Audience, Hub, NoticeEvent, PriceBatch
from dashboard.live.programs import notification_event, price_event
from dashboard.models import Audience as NoticeAudience
from dashboard.models import (
    Instrument,
    Notification,
    Severity,
    Subscription,
    Tick,
    User,
    utcnow,
)
from dashboard.prices.alerts import AlertEvaluator, Move, armed_among
from dashboard.prices.tiles import TileState
from dashboard.store.db import SessionFactory
from dashboard.web.fragments import Renderer

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# After a failed poll, wait this long before trying again (the store may be restarting).
_ERROR_BACKOFF_SECONDS = 1.0
# The reference price (first tick of the window) is re-read this often.
_REFERENCE_REFRESH_SECONDS = 60.0
# Looking for newly added instruments (asked for by clients) at most this often.
_REFRESH_MIN_SECONDS = 1.0


class Poller:
    """The loop shared by the pollers: wait for a wake-up or the interval, then poll."""

    def __init__(self, *, interval: float) -> None:
        self._interval = interval
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # A thread of its own: the streams' per-connection queries (replays, badges) go to
        # the shared default pool, and a reconnect storm of them must not make live
        # delivery to everyone wait in the same queue.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=type(self).__name__)
        # When the last poll succeeded (monotonic clock), for /readyz and /metrics.
        self.last_success: float | None = None
        self.failures = 0

    async def in_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run blocking store work on this poller's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def interval(self) -> float:
        return self._interval

    def lag(self) -> float | None:
        """Seconds since the last successful poll (None before the first)."""
        return None if self.last_success is None else time.monotonic() - self.last_success

    def wake(self) -> None:
        """Poll now instead of at the end of the interval (a local writer has written).

        Safe from any thread: sync routes run in worker threads.
        """
        call_on_loop(self._loop, self._wake.set)

    async def poll_once(self) -> bool:
        """Handle one batch; return True when more rows are waiting."""
        raise NotImplementedError

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                more = await self.poll_once()
            except Exception:
                self.failures += 1
                logger.exception("%s failed; retrying", type(self).__name__)
                await asyncio.sleep(_ERROR_BACKOFF_SECONDS)
                continue
            self.last_success = time.monotonic()
            if more:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()


@dataclass(frozen=True, slots=True)
class _TickRow:
    id: int
    instrument_id: int
    price: float
    ts: datetime


def tile_for(instrument: Instrument, *, sparkline_size: int) -> TileState:
    """A tile for ``instrument`` with no price yet."""
    return TileState(
        symbol=instrument.symbol,
        name=instrument.name,
        decimals=instrument.decimals,
        ttl_seconds=instrument.ttl_seconds,
        sparkline_size=sparkline_size,
    )


class PricePoller(Poller):
    """Turns new ticks into tile fragments and publishes one message per batch."""

    def __init__(
        self,
        *,
        engine: Engine,
        open_session: SessionFactory,
        hub: Hub,
        renderer: Renderer,
        interval: float,
        batch_size: int,
        sparkline_points: int,
        reference_window: timedelta,
        alerts: AlertEvaluator | None = None,
        on_alerts_fired: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(interval=interval)
        self._alerts = alerts
        self._on_alerts_fired = on_alerts_fired
        self._engine = engine
        self._open_session = open_session
        # Built once and run as Core on a bare connection: this runs ten times a second in
        # every process, and through a Session and the ORM the same query cost about three
        # times the CPU (docs/benchmarks.md, "The idle floor").
        self._new_ticks = (
            select(Tick.id, Tick.instrument_id, Tick.price, Tick.ts)
            .where(col(Tick.id) > bindparam("cursor"))
            .order_by(col(Tick.id))
            .limit(batch_size)
        )
        self._hub = hub
        self._renderer = renderer
        self._batch_size = batch_size
        self._sparkline_points = sparkline_points
        self._reference_window = reference_window
        self._by_instrument: dict[int, TileState] = {}
        self.states: dict[str, TileState] = {}
        self.cursor = 0
        self.ticks_seen = 0
        self._references_read_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._refreshed_at = -math.inf

    async def prime(self) -> None:
        """Load instruments, recent ticks and reference prices; render every tile."""
        self.cursor = await self.in_thread(self._newest_tick_id)
        await self._refresh_instruments()
        now = utcnow()
        for state in self.states.values():
            state.refresh_staleness(now)
        fragments = {s: self._renderer.tile(t, oob=True) for s, t in self.states.items()}
        self._hub.set_latest(fragments, {s: _quote(t) for s, t in self.states.items()})

    def tiles(self, symbols: Sequence[str] | None = None) -> list[TileState]:
        """Current tile states in dashboard order (or in the order of ``symbols``)."""
        if symbols is None:
            return list(self.states.values())
        return [self.states[s] for s in symbols if s in self.states]

    def _newest_tick_id(self) -> int:
        with self._open_session() as session:
            return session.exec(select(func.max(Tick.id))).one() or 0

    async def refresh_instruments(self) -> None:
        """Pick up instruments added since start (read in a thread, applied on the loop).

        Anyone can ask for an unknown symbol, so refreshes run one at a time and at most
        once a second; asking more often waits for the running one or returns at once.
        """
        async with self._refresh_lock:
            if time.monotonic() - self._refreshed_at < _REFRESH_MIN_SECONDS:
                return
            await self._refresh_instruments()
            self._refreshed_at = time.monotonic()

    async def _refresh_instruments(self) -> None:
        known = set(self._by_instrument)
        loaded = await self.in_thread(self._read_new_instruments, known, self.cursor)
        for instrument_id, state in loaded:
            if instrument_id not in self._by_instrument:
                self._by_instrument[instrument_id] = state
                self.states[state.symbol] = state
        if loaded:
            await self.in_thread(self._refresh_references)

    def _read_new_instruments(self, known: set[int], cursor: int) -> list[tuple[int, TileState]]:
        loaded: list[tuple[int, TileState]] = []
        with self._open_session() as session:
            instruments = session.exec(
                select(Instrument).order_by(col(Instrument.position), col(Instrument.symbol))
            ).all()
            for instrument in instruments:
                if instrument.id is None or instrument.id in known:
                    continue
                state = tile_for(instrument, sparkline_size=self._sparkline_points)
                # Only ticks up to the cursor: the poll loop applies the ones after it.
                recent = session.exec(
                    select(Tick)
                    .where(Tick.instrument_id == instrument.id, col(Tick.id) <= cursor)
                    .order_by(col(Tick.id).desc())
                    .limit(self._sparkline_points)
                ).all()
                for tick in reversed(recent):
                    assert tick.id is not None
                    state.apply_tick(tick_id=tick.id, price=tick.price, ts=tick.ts)
                loaded.append((instrument.id, state))
        return loaded

    def _refresh_references(self) -> None:
        with self._open_session() as session:
            self._read_references(session)

    def _read_references(self, session: Session) -> None:
        """The reference price of each tile: its first tick inside the reference window.

        One index seek per instrument on (instrument_id, ts), rather than a scan of a day
        of ticks.
        """
        cutoff = utcnow() - self._reference_window
        for instrument_id, state in self._by_instrument.items():
            first = session.exec(
                select(Tick.price)
                .where(Tick.instrument_id == instrument_id, col(Tick.ts) >= cutoff)
                .order_by(col(Tick.ts))
                .limit(1)
            ).first()
            state.reference_price = first if first is not None else state.price
        self._references_read_at = time.monotonic()

    def _fetch(self, cursor: int) -> tuple[list[_TickRow], set[int]]:
        """The ticks after ``cursor``, and which of their instruments have armed alerts."""
        if time.monotonic() - self._references_read_at > _REFERENCE_REFRESH_SECONDS:
            self._refresh_references()
        with self._engine.connect() as connection:
            rows = [
                _TickRow(*row) for row in connection.execute(self._new_ticks, {"cursor": cursor})
            ]
            armed: set[int] = set()
            if self._alerts is not None and rows:
                armed = armed_among(connection, {row.instrument_id for row in rows})
            return rows, armed

    async def poll_once(self) -> bool:
        rows, armed = await self.in_thread(self._fetch, self.cursor)
        if any(row.instrument_id not in self._by_instrument for row in rows):
            await self._refresh_instruments()  # a tick names an instrument added since start
        changed: dict[str, TileState] = {}
        previous: dict[int, float | None] = {}
        for row in rows:
            state = self._by_instrument.get(row.instrument_id)
            if state is not None:
                previous.setdefault(row.instrument_id, state.price)
                state.apply_tick(tick_id=row.id, price=row.price, ts=row.ts)
                changed[state.symbol] = state
        self.ticks_seen += len(rows)
        if rows:
            # Advanced before alerts are checked: a failed check must not make the next
            # poll apply these ticks again (and read their price as the "previous" one).
            self.cursor = rows[-1].id
        if armed:
            try:
                await self._evaluate_alerts(
                    [row for row in rows if row.instrument_id in armed], previous
                )
            except Exception:
                logger.exception("alert evaluation failed for ticks up to %s", self.cursor)
        now = utcnow()
        for state in self.states.values():
            if state.refresh_staleness(now):
                changed[state.symbol] = state
        if changed:
            fragments = {
                symbol: self._renderer.tile(state, flash=True, oob=True)
                for symbol, state in changed.items()
            }
            batch = PriceBatch(
                tiles=fragments,
                message=self._renderer.tiles_message(fragments),
                quotes={symbol: _quote(state) for symbol, state in changed.items()},
            )
            self._hub.publish_prices(batch)
        return len(rows) == self._batch_size

    async def _evaluate_alerts(
        self, rows: list[_TickRow], previous: dict[int, float | None]
    ) -> None:
        assert self._alerts is not None
        ticks: dict[int, list[tuple[int, float, datetime]]] = {}
        for row in rows:
            ticks.setdefault(row.instrument_id, []).append((row.id, row.price, row.ts))
        moves = [
            Move(
                instrument_id=instrument_id,
                symbol=state.symbol,
                decimals=state.decimals,
                ttl_seconds=state.ttl_seconds,
                previous=previous[instrument_id],
                ticks=instrument_ticks,
            )
            for instrument_id, instrument_ticks in ticks.items()
            if (state := self._by_instrument.get(instrument_id)) is not None
        ]
        fired = await self.in_thread(self._alerts.evaluate, moves)
        if fired and self._on_alerts_fired is not None:
            self._on_alerts_fired()  # on the loop: the notification poller's wake is an Event


class NotificationPoller(Poller):
    """Routes each new notification to the open streams of exactly the users it addresses."""

    def __init__(
        self,
        *,
        engine: Engine,
        open_session: SessionFactory,
        hub: Hub,
        renderer: Renderer,
        interval: float,
        batch_size: int,
    ) -> None:
        super().__init__(interval=interval)
        self._engine = engine
        self._open_session = open_session
        self._hub = hub
        self._renderer = renderer
        self._batch_size = batch_size
        self.cursor = 0

    async def prime(self) -> None:
        """Start after the newest notification: older ones reach clients by replay."""
        self.cursor = await self.in_thread(self._newest_id)

    def _newest_id(self) -> int:
        with self._open_session() as session:
            return queries.newest_id(session=session)

    def _fetch(self, cursor: int) -> tuple[list[Notification], dict[int, set[int]], frozenset[int]]:
        """New notifications, the subscribers of their topics, and who muted broadcasts."""
        with self._engine.connect() as connection:
            if not queries.any_after(connection, cursor):
                return [], {}, frozenset()  # nearly every poll: no Session, no ORM
        with self._open_session() as session:
            batch = list(
                session.exec(
                    select(Notification)
                    .where(col(Notification.id) > cursor)
                    .order_by(col(Notification.id))
                    .limit(self._batch_size)
                ).all()
            )
            topic_ids = {n.topic_id for n in batch if n.audience == NoticeAudience.topic}
            subscribers: dict[int, set[int]] = {}
            if topic_ids:
                # One query per batch, never one per connection.
                rows = session.exec(
                    select(Subscription.topic_id, Subscription.user_id).where(
                        col(Subscription.topic_id).in_(topic_ids)
                    )
                ).all()
                for topic_id, user_id in rows:
                    subscribers.setdefault(topic_id, set()).add(user_id)
            muted: frozenset[int] = frozenset()
            if any(_mutable(n) for n in batch):
                # One query per batch: a muted user's streams skip the broadcast, exactly
                # as the inbox query hides it on reload (dashboard.inbox.queries.visible_to).
                ids = session.exec(select(User.id).where(col(User.mute_broadcasts).is_(True)))
                muted = frozenset(user_id for user_id in ids if user_id is not None)
            return batch, subscribers, muted

    async def poll_once(self) -> bool:
        batch, subscribers, muted = await self.in_thread(self._fetch, self.cursor)
        for notification in batch:
            assert notification.id is not None
            event = NoticeEvent(
                notification=notification,
                message=self._renderer.notice_message(notification),
                json=wire.encode(notification_event(notification, read=False)),
            )
            self._hub.publish_notice(event, _audience_of(notification, subscribers, muted))
            self.cursor = notification.id
        return len(batch) == self._batch_size


def _quote(state: TileState) -> bytes:
    return wire.encode(price_event(state))


def _mutable(notification: Notification) -> bool:
    """A broadcast that users who muted announcements do not get (critical ones they do)."""
    return (
        notification.audience == NoticeAudience.everyone
        and notification.severity != Severity.critical
    )


def _audience_of(
    notification: Notification, subscribers: dict[int, set[int]], muted: frozenset[int]
) -> Audience:
    if notification.audience == NoticeAudience.everyone:
        return Audience(everyone=True, excluded=muted if _mutable(notification) else frozenset())
    if notification.audience == NoticeAudience.user and notification.user_id is not None:
        return Audience(user_ids=frozenset({notification.user_id}))
    if notification.audience == NoticeAudience.topic and notification.topic_id is not None:
        return Audience(user_ids=frozenset(subscribers.get(notification.topic_id, ())))
    return Audience()


class ScheduledPublisher(Poller):
    """Publishes scheduled notifications when their time comes (once, across processes)."""

    def __init__(
        self,
        *,
        engine: Engine,
        open_session: SessionFactory,
        interval: float,
        on_published: Callable[[], None],
    ) -> None:
        super().__init__(interval=interval)
        self._engine = engine
        self._open_session = open_session
        self._on_published = on_published

    def _publish(self) -> list[int]:
        with self._engine.connect() as connection:
            if not schedule.any_due(connection):
                return []
        with self._open_session() as session:
            return schedule.publish_due(session=session)

    async def poll_once(self) -> bool:
        published = await self.in_thread(self._publish)
        if published:
            logger.info("published scheduled notifications %s", published)
            self._on_published()
        return False
