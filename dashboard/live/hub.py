"""Fan-out from the pollers to open connections: one mailbox per connection.

Pollers render and encode each event once and hand the bytes here; a connection only
ever receives references to those bytes. Prices are conflated (a slow reader gets the
latest tile per symbol, never a backlog); notifications are queued in order and never
dropped silently: a mailbox that overflows closes its connection, and the client resumes
from its cursor.

When an event reaches many readers, they are woken a slice at a time, one slice per turn
of the event loop. With thousands of streams a round of sends takes longer than the poll
interval; between slices the poller can publish its next batch, and the readers not yet
reached send that instead, so the round no longer holds back everyone behind it.

A stream whose client stops reading is cut off by one watchdog for the whole process
(:func:`run_stall_watchdog`), not by a timer per message: with thousands of streams the
per-send timeout of the SSE layer was an eighth of the server's CPU.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any, Literal, cast

from dashboard.live._loop import call_on_loop

if TYPE_CHECKING:
    from dashboard.models import Notification

logger = logging.getLogger(__name__)

Tiles = Mapping[str, str]
"""Rendered tile fragments by symbol."""
Quotes = Mapping[str, bytes]
"""JSON-encoded price objects by symbol (for WebSocket and NDJSON readers)."""
PriceFormat = Literal["html", "json"]
StreamKind = Literal["sse", "ndjson", "ws"]


@dataclass(frozen=True, slots=True)
class PriceBatch:
    """What changed in one poll: tile fragments with their one SSE message, and quotes."""

    tiles: Tiles
    message: bytes
    quotes: Quotes = field(default_factory=dict)

    def updates(self, price_format: PriceFormat) -> Mapping[str, object]:
        return self.tiles if price_format == "html" else self.quotes


@dataclass(frozen=True, slots=True)
class NoticeEvent:
    """One new notification, rendered and encoded once for every recipient."""

    notification: Notification
    message: bytes  # the SSE message for pages
    json: bytes  # the wire NotificationEvent for WebSocket and NDJSON readers

    @property
    def id(self) -> int:
        assert self.notification.id is not None
        return self.notification.id


@dataclass(frozen=True, slots=True)
class Audience:
    """Who receives a notification: every signed-in user but ``excluded``, or the listed users.

    ``excluded`` holds the users who muted announcements (for a non-critical broadcast), so
    a live stream filters exactly as the inbox query does on reload.
    """

    everyone: bool = False
    user_ids: frozenset[int] = frozenset()
    excluded: frozenset[int] = frozenset()


EncodePrices = Callable[[Mapping[str, Any]], Any]

# Readers woken per turn of the event loop (see the module's docstring).
WAKE_SLICE = 64
# A stream restyles at most this many notifications after one read-state change (the
# newest ones: the inbox shows 20 and a history page 50); older ones are right on reload.
RESTYLE_LIMIT = 100


@dataclass(eq=False, slots=True)
class Connection:
    """One open stream's mailbox. The stream drains it; the hub fills it."""

    user_id: int | None
    symbols: frozenset[str] | None
    mailbox_size: int
    price_format: PriceFormat = "html"
    kind: StreamKind = "sse"
    # What opened the stream, so it can be ended from outside (see Hub.end): the login
    # session's id for a cookie, the API token's row id for a token.
    login_session: str | None = None
    token_id: int | None = None
    # Why the hub closed it (one of dashboard.live.wire.END_REASONS); None while open.
    end_reason: str | None = None
    pending_prices: Mapping[str, Any] | None = None
    # The shared SSE batch message, while the pending prices are exactly one batch.
    pending_message: bytes | None = None
    notices: deque[NoticeEvent] = field(default_factory=deque)
    keepalive_due: bool = False
    read_state_changed: bool = False
    # Notification ids another tab marked read or archived since the stream last looked.
    read_ids: set[int] = field(default_factory=set)
    archived_ids: set[int] = field(default_factory=set)
    closed: bool = False
    overflowed: bool = False
    # Something arrived since the stream last looked; the stream waits on a bare future
    # (an asyncio.Event would cost each idle stream ~1.4 KiB and more per wake-up).
    woken: bool = False
    _waiter: asyncio.Future[None] | None = None
    # In the hub's queue of readers to wake.
    wake_queued: bool = False
    # When (monotonic clock) the stream handed its client the message it is still sending;
    # 0.0 while it waits for the next one. A stream the watchdog finds stuck on one message
    # is cancelled through ``stream_task`` (None: the watchdog leaves it be).
    busy_since: float = 0.0
    stream_task: asyncio.Task[Any] | None = None

    def offer_prices(self, relevant: Mapping[str, Any], message: bytes | None) -> bool:
        """Take this batch's updates (``message``: their shared encoding, if any).

        Returns whether there was anything for this reader; the caller wakes it.
        """
        if not relevant or self.closed:
            return False
        if self.pending_prices is None:
            self.pending_prices = relevant
            self.pending_message = message
        else:
            # Conflation: this reader has not taken the last batch yet; keep the newest
            # update per symbol and build its message when it is ready for one.
            self.pending_prices = {**self.pending_prices, **relevant}
            self.pending_message = None
        return True

    def offer_notice(self, notice: NoticeEvent) -> bool:
        """Queue ``notice``; returns whether it was queued (the caller wakes the reader)."""
        if self.closed:
            return False
        if len(self.notices) >= self.mailbox_size:
            logger.warning("mailbox overflow for user %s; closing its stream", self.user_id)
            self.overflowed = True
            self.close("overflow")
            return False
        self.notices.append(notice)
        return True

    def take_prices(self, encode: EncodePrices) -> Any:
        """The pending price message (the shared SSE bytes when possible), or None."""
        prices, message = self.pending_prices, self.pending_message
        self.pending_prices = self.pending_message = None
        if prices is None:
            return None
        return message if message is not None else encode(prices)

    def close(self, reason: str | None = None) -> None:
        """End the stream; ``reason`` (the first one given wins) is told to the client."""
        if self.end_reason is None:
            self.end_reason = reason
        self.closed = True
        self.wake()

    def watch(self, task: asyncio.Task[Any] | None) -> None:
        """Let the stall watchdog cancel ``task`` (the one sending to this client).

        Counts as sending from now: the stream's first message (the snapshot) is covered.
        """
        self.stream_task = task
        self.sending()

    def sending(self) -> None:
        """The stream is handing its client a message (the watchdog's clock restarts)."""
        self.busy_since = monotonic()

    def wake(self) -> None:
        self.woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until something arrives (at once if it already has)."""
        if not self.woken:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self.woken = False


@dataclass(frozen=True, slots=True)
class ReadStateChanged:
    """Yielded by :func:`drain` when the user's read state changed (in any tab)."""

    read_ids: frozenset[int] = frozenset()
    archived_ids: frozenset[int] = frozenset()


class Hub:
    """Keeps the open connections and the latest tile of every symbol."""

    def __init__(
        self, *, mailbox_size: int, encode_tiles: Callable[[Tiles], bytes] | None = None
    ) -> None:
        self._mailbox_size = mailbox_size
        # Encodes a watchlist's subset of a batch once for every connection showing it.
        self._encode_tiles = encode_tiles
        self._connections: set[Connection] = set()
        self._by_user: dict[int, set[Connection]] = {}
        self.latest_tiles: dict[str, str] = {}
        self.latest_quotes: dict[str, bytes] = {}
        self._snapshots: dict[frozenset[str] | None, bytes] = {}
        self._to_wake: deque[Connection] = deque()
        self._waking = False
        # The loop the connections live on, for calls from worker threads (set at start).
        self.loop: asyncio.AbstractEventLoop | None = None
        # Plain counters, read by the metrics collector at scrape time.
        self.overflows = 0
        self.stalled_cut_offs = 0
        self.price_batches = 0
        self.notices_published = 0
        self.deliveries = 0

    def connect(
        self,
        *,
        user_id: int | None,
        symbols: Iterable[str] | None = None,
        price_format: PriceFormat = "html",
        kind: StreamKind = "sse",
        login_session: str | None = None,
        token_id: int | None = None,
    ) -> Connection:
        connection = Connection(
            user_id=user_id,
            symbols=None if symbols is None else frozenset(symbols),
            mailbox_size=self._mailbox_size,
            price_format=price_format,
            kind=kind,
            login_session=login_session,
            token_id=token_id,
        )
        self._connections.add(connection)
        if user_id is not None:
            self._by_user.setdefault(user_id, set()).add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        connection.close()
        if connection.overflowed:
            self.overflows += 1
        self._connections.discard(connection)
        if connection.user_id is not None:
            peers = self._by_user.get(connection.user_id)
            if peers is not None:
                peers.discard(connection)
                if not peers:
                    del self._by_user[connection.user_id]

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def online_user_ids(self) -> set[int]:
        return set(self._by_user)

    def connections_by_kind(self) -> dict[str, int]:
        counts = {"sse": 0, "ndjson": 0, "ws": 0}
        for connection in self._connections:
            counts[connection.kind] += 1
        return counts

    def snapshot(self, symbols: Iterable[str] | None = None) -> dict[str, str]:
        """The latest tile fragment of each symbol (all symbols when ``symbols`` is None)."""
        if symbols is None:
            return dict(self.latest_tiles)
        return {s: self.latest_tiles[s] for s in symbols if s in self.latest_tiles}

    def set_latest(self, tiles: Tiles, quotes: Quotes) -> None:
        """The current tile and quote of each symbol (at start, before any batch)."""
        self.latest_tiles.update(tiles)
        self.latest_quotes.update(quotes)
        self._snapshots.clear()

    def snapshot_message(self, symbols: Iterable[str] | None = None) -> bytes:
        """The SSE message of :meth:`snapshot`, encoded once per set of symbols and batch.

        Shared, not rebuilt per connection: an idle stream keeps a reference to the last
        message it sent, and a private copy of every tile would cost each one ~14 KiB.
        """
        key = None if symbols is None else frozenset(symbols)
        message = self._snapshots.get(key)
        if message is None:
            assert self._encode_tiles is not None
            ordered = self.snapshot(symbols)
            message = self._snapshots[key] = self._encode_tiles(ordered)
        return message

    def publish_prices(self, batch: PriceBatch) -> None:
        self.price_batches += 1
        self._snapshots.clear()
        self.latest_tiles.update(batch.tiles)
        self.latest_quotes.update(batch.quotes)
        # Connections showing the same subset of symbols share one filtered mapping and,
        # for pages, one encoded message: per batch, work per distinct subset, not per reader.
        filtered: dict[tuple[PriceFormat, frozenset[str]], tuple[Mapping[str, Any], bytes | None]]
        filtered = {}
        for connection in self._connections:
            updates = batch.updates(connection.price_format)
            message = batch.message if connection.price_format == "html" else None
            wanted = connection.symbols
            if wanted is not None:
                key = (connection.price_format, wanted)
                cached = filtered.get(key)
                if cached is None:
                    subset = {s: u for s, u in updates.items() if s in wanted}
                    if subset.keys() == updates.keys():
                        cached = (updates, message)
                    else:
                        encoded = None
                        if subset and message is not None and self._encode_tiles is not None:
                            # A message exists only for html readers: the subset is tiles.
                            encoded = self._encode_tiles(cast(Tiles, subset))
                        cached = (subset, encoded)
                    filtered[key] = cached
                updates, message = cached
            if connection.offer_prices(updates, message):
                self.deliveries += 1
                self._wake_soon(connection)

    def publish_notice(self, notice: NoticeEvent, audience: Audience) -> int:
        """Queue ``notice`` for every open connection of its audience; return how many."""
        if audience.everyone:
            targets: Iterable[set[Connection]] = self._by_user.values()
        else:
            targets = (self._by_user[u] for u in audience.user_ids if u in self._by_user)
        delivered = 0
        for connections in targets:
            for connection in connections:
                if connection.user_id in audience.excluded:
                    continue
                if connection.offer_notice(notice):
                    self._wake_soon(connection)
                delivered += 1
        self.notices_published += 1
        self.deliveries += delivered
        return delivered

    def publish_read_state(
        self,
        user_id: int,
        *,
        read_ids: Iterable[int] = (),
        archived_ids: Iterable[int] = (),
    ) -> None:
        """Tell ``user_id``'s open streams that their read state changed (another tab).

        Safe from any thread: the routes that mark things read run in worker threads. Only
        the newest :data:`RESTYLE_LIMIT` read ids are passed on.
        """
        read = frozenset(sorted(read_ids, reverse=True)[:RESTYLE_LIMIT])
        archived = frozenset(archived_ids)
        call_on_loop(self.loop, lambda: self._read_state_changed(user_id, read, archived))

    def _read_state_changed(
        self, user_id: int, read_ids: frozenset[int], archived_ids: frozenset[int]
    ) -> None:
        for connection in self._by_user.get(user_id, ()):
            connection.read_state_changed = True
            connection.read_ids |= read_ids
            connection.archived_ids |= archived_ids
            connection.wake()

    def keepalive(self) -> None:
        """Ask every connection to send a keep-alive comment (one timer for all)."""
        for connection in self._connections:
            connection.keepalive_due = True
            self._wake_soon(connection)

    def _wake_soon(self, connection: Connection) -> None:
        """Wake ``connection`` in the next slice (at once when the hub has no loop yet)."""
        if self.loop is None:
            connection.wake()
            return
        if connection.wake_queued:
            return
        connection.wake_queued = True
        self._to_wake.append(connection)
        if not self._waking:
            self._waking = True
            self.loop.call_soon(self._wake_slice)

    def _wake_slice(self) -> None:
        queue = self._to_wake
        for _ in range(min(WAKE_SLICE, len(queue))):
            connection = queue.popleft()
            connection.wake_queued = False
            connection.wake()
        if queue:
            assert self.loop is not None
            self.loop.call_soon(self._wake_slice)
        else:
            self._waking = False

    def cut_off_stalled(self, timeout: float, *, now: float | None = None) -> int:
        """Cancel the watched streams stuck on one message for over ``timeout`` s; count them.

        That long on one message means the client stopped reading: the socket's buffers
        are full and the send is waiting for room. The stream ends and the client, if it
        is still there, reconnects and resumes from its cursor.
        """
        now = monotonic() if now is None else now
        stalled = [
            connection
            for connection in self._connections
            if connection.stream_task is not None
            and connection.busy_since
            and now - connection.busy_since > timeout
        ]
        for connection in stalled:
            assert connection.stream_task is not None
            logger.warning(
                "cutting off a stream (user %s) whose client has not read for %.0f s",
                connection.user_id,
                now - connection.busy_since,
            )
            connection.stream_task.cancel()
            connection.stream_task = None
        self.stalled_cut_offs += len(stalled)
        return len(stalled)

    def end(
        self,
        *,
        reason: str,
        user_id: int | None = None,
        login_session: str | None = None,
        token_id: int | None = None,
    ) -> int:
        """End the open streams of a user, a login session or an API token; count them.

        Call on the hub's loop (``call_on_loop`` from a worker thread). Each stream tells
        its client ``reason`` (see dashboard.live.wire.END_REASONS) and ends.
        """
        if user_id is None and login_session is None and token_id is None:
            raise ValueError("name a user, a login session or a token")
        ending = [
            connection
            for connection in self._connections
            if (user_id is not None and connection.user_id == user_id)
            or (login_session is not None and connection.login_session == login_session)
            or (token_id is not None and connection.token_id == token_id)
        ]
        for connection in ending:
            connection.close(reason)
        return len(ending)

    def close_all(self) -> None:
        """End every stream: the server is shutting down."""
        for connection in list(self._connections):
            connection.close("shutdown")


async def run_keepalive(hub: Hub, interval: float) -> None:
    """The one keep-alive timer of the process."""
    while True:
        await asyncio.sleep(interval)
        hub.keepalive()


async def run_stall_watchdog(hub: Hub, timeout: float) -> None:
    """The one send timeout of the process: a stuck stream goes within 1.5 x ``timeout``."""
    while True:
        await asyncio.sleep(timeout / 2)
        hub.cut_off_stalled(timeout)


async def drain(connection: Connection, encode_prices: EncodePrices) -> AsyncIterator[Any]:
    """Yield what arrives in ``connection``'s mailbox until it is closed.

    Yields :class:`NoticeEvent` objects (so the stream can add per-user extras such as the
    unread count), :class:`ReadStateChanged`, price messages (what ``encode_prices``
    makes of the pending updates, or the shared SSE bytes), and ``None`` for a keep-alive.
    """
    while True:
        connection.busy_since = 0.0  # waiting: nothing is being sent
        await connection.wait()
        # Before each yield: the consumer sends what is yielded before it asks for more.
        while connection.notices:
            connection.sending()
            yield connection.notices.popleft()
        if connection.closed:
            return
        if connection.read_state_changed:
            change = ReadStateChanged(
                read_ids=frozenset(connection.read_ids),
                archived_ids=frozenset(connection.archived_ids),
            )
            connection.read_state_changed = False
            connection.read_ids.clear()
            connection.archived_ids.clear()
            connection.sending()
            yield change
        message = connection.take_prices(encode_prices)
        if message is not None:
            connection.sending()
            yield message
        if connection.keepalive_due:
            connection.keepalive_due = False
            connection.sending()
            yield None
