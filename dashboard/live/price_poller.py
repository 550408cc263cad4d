"""The price poller: new ticks become tile fragments and quotes, one batch per poll."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, func
from sqlmodel import Session, col, select

from dashboard.live import wire
from dashboard.live.fragments import Renderer
from dashboard.live.hub import Hub
from dashboard.live.mailbox import PriceBatch
from dashboard.live.pollers import Poller
from dashboard.live.programs import price_event
from dashboard.models import (
    Instrument,
    Tick,
    utcnow,
)
from dashboard.prices import bars, stored_ticks
from dashboard.prices.alerts import AlertEvaluator, Move, armed_among
from dashboard.prices.tiles import Sparkline, TileState, format_tick_time, sparkline_resolution
from dashboard.store.db import SessionFactory

logger = logging.getLogger(__name__)

# The reference price (first tick of the window) is re-read this often.
_REFERENCE_REFRESH_SECONDS = 60.0
# Sparklines sent per batch at most: when a bucket closes every tile's line moves, and 500
# of them in one message were one long task for the page that swaps them in; spread over
# batches (ten a second), 500 take two seconds.
SPARKLINES_PER_BATCH = 25
# Looking for newly added instruments (asked for by clients) at most this often.
_REFRESH_MIN_SECONDS = 1.0


@dataclass(slots=True)  # not frozen: one per tick read, see ingest.TickIn
class _TickRow:
    id: int
    instrument_id: int
    price: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class _Fetched:
    """One poll's read: the usable ticks, the last id read (skipped rows too, so the cursor
    moves past them), how many rows were read, and the instruments with armed alerts."""

    rows: list[_TickRow]
    last_id: int | None
    read: int
    armed: set[int]
    references_changed: list[TileState]


def tile_for(instrument: Instrument, *, window: timedelta) -> TileState:
    """A tile for ``instrument`` with no price yet; its sparkline spans ``window``."""
    return TileState(
        symbol=instrument.symbol,
        name=instrument.name,
        kind=instrument.kind,
        decimals=instrument.decimals,
        ttl_seconds=instrument.ttl_seconds,
        sparkline=Sparkline.over(window),
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
        reference_window: timedelta,
        alerts: AlertEvaluator | None = None,
        on_alerts_fired: Callable[[], None] | None = None,
        min_spacing: float = 0.0,
    ) -> None:
        super().__init__(interval=interval, min_spacing=min_spacing)
        self._alerts = alerts
        self._on_alerts_fired = on_alerts_fired
        self._engine = engine
        self._open_session = open_session
        # Built once and run as Core on a bare connection: this runs ten times a second in
        # every process, and through a Session and the ORM the same query cost about three
        # times the CPU (docs/benchmarks.md, "The idle floor").
        # Raw values, checked row by row (stored_ticks.check): another program's row that
        # breaks the store contract is skipped and counted, never retried forever.
        self._new_ticks = (
            select(*stored_ticks.raw_columns())
            .where(col(Tick.id) > bindparam("cursor"))
            .order_by(col(Tick.id))
            .limit(batch_size)
        )
        self._usable = stored_ticks.usable(engine.dialect.name)
        self._hub = hub
        self._renderer = renderer
        self._batch_size = batch_size
        # The sparkline spans the window the change is measured over: its dashed level is
        # the reference price, and its colour the change's.
        self._reference_window = reference_window
        self._sparkline_resolution = sparkline_resolution(reference_window)
        self._sparkline_bucket = 0
        # Tiles whose sparkline is to be sent, oldest first (an ordered set).
        self._sparklines_due: dict[str, None] = {}
        # What each tile's page parts show now: (price, reference price) and the time text;
        # a tick that changes neither sends nothing to pages.
        self._shown_quotes: dict[str, tuple[float | None, float | None]] = {}
        self._shown_times: dict[str, str] = {}
        self._by_instrument: dict[int, TileState] = {}
        self.states: dict[str, TileState] = {}
        # Tiles that came or went since the last batch, for the pages open meanwhile: a new
        # instrument's tile is added to them, a retired one's taken off.
        self._appeared: set[str] = set()
        self._retired: set[str] = set()
        self.cursor = 0
        self.ticks_seen = 0
        # Rows skipped for breaking the store contract: counts by kind, and the last one.
        self.rejected: dict[str, int] = {}
        self.last_rejection: str | None = None
        self._references_read_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._refreshed_at = -math.inf

    async def prime(self) -> None:
        """Load instruments, recent ticks and reference prices; render every tile."""
        self.cursor = await self.in_thread(self._newest_tick_id)
        await self._refresh_instruments()
        self._references_read_at = time.monotonic()  # every tile's, as it was loaded
        now = utcnow()
        self._sparkline_bucket = self._bucket_of(now)
        for state in self.states.values():
            state.refresh_staleness(now)
        fragments = {s: self._render_whole(t) for s, t in self.states.items()}
        self._hub.set_latest(fragments, {s: _quote(t) for s, t in self.states.items()})
        self._appeared.clear()  # no page is older than these tiles

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
                self._appeared.add(state.symbol)
                self._retired.discard(state.symbol)

    def _read_new_instruments(self, known: set[int], cursor: int) -> list[tuple[int, TileState]]:
        """Tiles of the instruments not in ``known``: the newest tick by time up to
        ``cursor`` (the poll loop applies the ones after it), the sparkline's closes and
        the reference price, so that a tile is whole when a page first shows it."""
        loaded: list[tuple[int, TileState]] = []
        with self._open_session() as session:
            instruments = session.exec(
                select(Instrument)
                .where(col(Instrument.retired_at).is_(None))
                .order_by(col(Instrument.position), col(Instrument.symbol))
            ).all()
            new = [i for i in instruments if i.id is not None and i.id not in known]
            closes = bars.closes(
                session=session,
                instrument_ids=[i.id for i in new if i.id is not None],
                start=utcnow() - self._reference_window,
                resolution=self._sparkline_resolution,
            )
            for instrument in new:
                assert instrument.id is not None
                state = tile_for(instrument, window=self._reference_window)
                state.sparkline.closes.update(closes[instrument.id])
                newest = session.exec(
                    select(Tick)
                    .where(
                        Tick.instrument_id == instrument.id, col(Tick.id) <= cursor, self._usable
                    )
                    .order_by(col(Tick.ts).desc(), col(Tick.id).desc())
                    .limit(1)
                ).first()
                if newest is not None:
                    assert newest.id is not None
                    state.apply_tick(tick_id=newest.id, price=newest.price, ts=newest.ts)
                state.sparkline_changed = False
                loaded.append((instrument.id, state))
            self._read_references(session, loaded)
        return loaded

    def _refresh_references(self, states: Sequence[tuple[int, TileState]]) -> list[TileState]:
        """Every tile's reference price read again (``states``: every instrument's); the
        tiles whose reference moved."""
        moved = self._read_references_of(states)
        self._references_read_at = time.monotonic()
        return moved

    def _read_references(
        self, session: Session, states: Sequence[tuple[int, TileState]]
    ) -> list[TileState]:
        """The reference price of each tile in ``states`` ((instrument id, tile) pairs,
        taken on the event loop: this runs in a thread while the loop adds and retires
        instruments): the price at the start of the reference window, by event time. That
        is the last tick at or before the window's start; for an instrument younger than
        the window, its first tick. Imported history then gives a change over the window,
        not over the file (its first row was the reference, ten years back), and an
        instrument whose newest tick is older than the window shows no change.

        At most two index seeks per instrument on (instrument_id, ts), not a scan. Returns
        the tiles whose reference moved (older history imported, the window slid on).
        """
        moved: list[TileState] = []
        cutoff = utcnow() - self._reference_window
        for instrument_id, state in states:
            mine = (Tick.instrument_id == instrument_id, self._usable)
            at_start = session.exec(
                select(Tick.price)
                .where(*mine, col(Tick.ts) <= cutoff)
                .order_by(col(Tick.ts).desc(), col(Tick.id).desc())
                .limit(1)
            ).first()
            if at_start is None:
                at_start = session.exec(
                    select(Tick.price)
                    .where(*mine, col(Tick.ts) > cutoff)
                    .order_by(col(Tick.ts), col(Tick.id))
                    .limit(1)
                ).first()
            reference = at_start if at_start is not None else state.price
            if reference != state.reference_price:
                state.reference_price = reference
                moved.append(state)
        return moved

    def _read_references_of(self, states: Sequence[tuple[int, TileState]]) -> list[TileState]:
        with self._open_session() as session:
            return self._read_references(session, states)

    def instruments_changed(self) -> None:
        """An instrument was added, changed or retired in this process: apply it at the
        next poll (other processes' changes are applied within a minute)."""
        self._references_read_at = -math.inf
        self.wake()

    def _read_instrument_fields(self) -> dict[int, Instrument]:
        with self._open_session() as session:
            return {i.id: i for i in session.exec(select(Instrument)).all() if i.id is not None}

    def _apply_instrument_fields(self, current: dict[int, Instrument]) -> set[str]:
        """Renames, new kinds, decimals and time-to-live, retirements; the symbols changed."""
        changed: set[str] = set()
        for instrument_id, state in list(self._by_instrument.items()):
            instrument = current.get(instrument_id)
            if instrument is None or instrument.retired_at is not None:
                del self._by_instrument[instrument_id]
                self.states.pop(state.symbol, None)
                self._retired.add(state.symbol)
                self._appeared.discard(state.symbol)
                continue
            fields = (instrument.name, instrument.kind, instrument.decimals, instrument.ttl_seconds)
            if fields != (state.name, state.kind, state.decimals, state.ttl_seconds):
                state.name, state.kind, state.decimals, state.ttl_seconds = fields
                changed.add(state.symbol)
        return changed

    def _fetch(
        self, cursor: int, references_due: Sequence[tuple[int, TileState]] | None
    ) -> _Fetched:
        """The ticks after ``cursor``, and which of their instruments have armed alerts;
        first, when ``references_due`` (every instrument's tile), the reference prices."""
        moved = self._refresh_references(references_due) if references_due is not None else []
        with self._engine.connect() as connection:
            rows: list[_TickRow] = []
            last_id, read = None, 0
            # .all(): fetched in one call; iterating the result fetched row by row (1.14 µs
            # a row against 0.90 here, and every tick written is read).
            for tick_id, instrument_id, price, ts in connection.execute(
                self._new_ticks, {"cursor": cursor}
            ).all():
                last_id, read = tick_id, read + 1
                checked = stored_ticks.check(price, ts)
                if isinstance(checked, str):
                    self._reject(tick_id, checked, kind="breaks the contract")
                else:
                    rows.append(_TickRow(tick_id, instrument_id, *checked))
            armed: set[int] = set()
            if self._alerts is not None and rows:
                armed = armed_among(connection, {row.instrument_id for row in rows})
            return _Fetched(rows, last_id, read, armed, references_changed=moved)

    def _reject(self, tick_id: int, reason: str, *, kind: str) -> None:
        """Skip a tick row: logged once (the cursor moves past it) and counted."""
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        self.last_rejection = f"tick {tick_id}: {reason}"
        logger.warning("skipped tick %s, which %s: %s", tick_id, kind, reason)

    async def poll_once(self) -> bool:
        renamed: set[str] = set()
        references_due = None
        if time.monotonic() - self._references_read_at > _REFERENCE_REFRESH_SECONDS:
            # Changes made anywhere: applied here on the loop, then new instruments loaded,
            # then (in the fetch's thread hop) every tile's reference read again.
            renamed = self._apply_instrument_fields(
                await self.in_thread(self._read_instrument_fields)
            )
            await self._refresh_instruments()
            references_due = list(self._by_instrument.items())
        fetched = await self.in_thread(self._fetch, self.cursor, references_due)
        rows, armed = fetched.rows, fetched.armed
        if any(row.instrument_id not in self._by_instrument for row in rows):
            await self._refresh_instruments()  # a tick names an instrument added since start
        changed: dict[str, TileState] = {s: self.states[s] for s in renamed if s in self.states}
        # Pages get the whole tile again when more than its parts changed.
        whole: set[str] = set(changed)
        touched: set[str] = set()  # tiles a tick was applied to (shown or not)
        previous: dict[int, float | None] = {}
        # A tile's first ticks (an instrument just added, or history just imported) take
        # their reference from the store, not from whichever of them came first.
        unreferenced = {
            row.instrument_id: state
            for row in rows
            if (state := self._by_instrument.get(row.instrument_id)) is not None
            and state.reference_price is None
        }
        arrived = utcnow()
        for row in rows:
            state = self._by_instrument.get(row.instrument_id)
            if state is None:
                # Only another program can write this (foreign keys off on SQLite).
                self._reject(
                    row.id,
                    f"instrument {row.instrument_id} is unknown or retired",
                    kind="names no instrument",
                )
                continue
            previous.setdefault(row.instrument_id, state.price)
            touched.add(state.symbol)
            first_price = state.price is None
            if state.apply_tick(tick_id=row.id, price=row.price, ts=row.ts, arrived=arrived):
                changed[state.symbol] = state
                if first_price:
                    whole.add(state.symbol)
            self.ticks_seen += 1
        for state in fetched.references_changed:
            # Its change and % moved with no tick (older history imported, the window
            # slid on): pages get the quote, programs the price, new streams the tile.
            if self.states.get(state.symbol) is state:  # not retired meanwhile
                changed[state.symbol] = state
                touched.add(state.symbol)
        if unreferenced:
            await self.in_thread(self._read_references_of, list(unreferenced.items()))
        if fetched.last_id is not None:
            # Advanced before alerts are checked: a failed check must not make the next
            # poll apply these ticks again (and read their price as the "previous" one).
            self.cursor = fetched.last_id
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
                whole.add(state.symbol)
        appeared, self._appeared = self._appeared, set()
        retired, self._retired = self._retired, set()
        self._publish(changed, whole | appeared, touched, now, appeared, retired)
        return fetched.read == self._batch_size

    def _bucket_of(self, now: datetime) -> int:
        return int(now.timestamp()) // self._sparkline_resolution

    def _publish(
        self,
        changed: dict[str, TileState],
        whole: set[str],
        touched: set[str],
        now: datetime,
        appeared: set[str],
        retired: set[str],
    ) -> None:
        """Publish one batch: to programs, the quotes of the ``changed`` tiles; to pages, the
        whole tile (``whole``, which holds the tiles that ``appeared``) or, of the tiles
        ``touched`` by a tick, only the parts whose text changed, and the removal of each
        ``retired`` tile. Every sparkline is sent again when a bucket closes, at most
        :data:`SPARKLINES_PER_BATCH` a batch."""
        bucket = self._bucket_of(now)
        if bucket != self._sparkline_bucket:
            self._sparklines_due.update(dict.fromkeys(self.states))
        self._sparkline_bucket = bucket
        for symbol in touched:
            state = self.states.get(symbol)
            if state is not None and state.sparkline_changed:
                state.sparkline_changed = False
                self._sparklines_due[symbol] = None
        due = list(self._sparklines_due)[:SPARKLINES_PER_BATCH]
        for symbol in due:
            del self._sparklines_due[symbol]
        tiles: dict[str, str] = {}  # whole tiles, for snapshots
        sent: list[str] = []  # what the batch's message swaps
        updates: dict[str, str] = {}  # the same, by element id, for readers behind
        candidates: Iterable[str] = whole | touched | set(due)
        if appeared:  # open pages add new tiles in the order they come: the dashboard's
            candidates = [symbol for symbol in self.states if symbol in candidates]
        for symbol in candidates:
            state = self.states.get(symbol)
            if state is None:
                continue  # retired
            if symbol in whole:
                tiles[symbol] = self._render_whole(state)
                sent.append(tiles[symbol])
                updates[f"tile-{symbol}"] = tiles[symbol]
                continue
            parts: dict[str, str] = {}
            if (state.price, state.reference_price) != self._shown_quotes.get(symbol):
                self._shown_quotes[symbol] = (state.price, state.reference_price)
                parts[f"q-{symbol}"] = self._renderer.tile_quote(state)
            if state.ts is not None:
                shown_time = format_tick_time(state.ts, now)
                if shown_time != self._shown_times.get(symbol):
                    self._shown_times[symbol] = shown_time
                    parts[f"t-{symbol}"] = self._renderer.tile_time(state)
            if symbol in due:
                parts[f"s-{symbol}"] = self._renderer.tile_sparkline(state)
            if parts:
                tiles[symbol] = self._renderer.tile(state, oob=True)
                sent.extend(parts.values())
                updates.update(parts)
        for symbol in retired:
            self._shown_quotes.pop(symbol, None)
            self._shown_times.pop(symbol, None)
            self._sparklines_due.pop(symbol, None)
            removal = self._renderer.tile_removal(symbol)
            sent.append(removal)
            updates[f"tile-{symbol}"] = removal
        if not tiles and not changed and not retired:
            return
        self._hub.publish_prices(
            PriceBatch(
                tiles=tiles,
                message=self._renderer.tiles_message(sent),
                tile_updates=updates,
                quotes={symbol: _quote(state) for symbol, state in changed.items()},
                whole=frozenset(whole & tiles.keys()) | retired,
                removed=frozenset(retired),
            )
        )

    def _render_whole(self, state: TileState) -> str:
        """The whole tile as an out-of-band swap; notes the parts it shows."""
        self._shown_quotes[state.symbol] = (state.price, state.reference_price)
        if state.ts is not None:
            self._shown_times[state.symbol] = format_tick_time(state.ts)
        state.sparkline_changed = False
        return self._renderer.tile(state, oob=True)

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


def _quote(state: TileState) -> bytes:
    return wire.encode(price_event(state))
