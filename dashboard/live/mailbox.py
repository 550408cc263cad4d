"""One open stream's mailbox, filled by the hub and drained by the stream's session.

Prices are conflated (a slow reader gets the latest tile per symbol, never a backlog);
notifications are queued in order and never dropped silently: a mailbox that overflows
closes its connection, and the client resumes from its cursor. What arrives is shared:
a connection only ever holds references to bytes the pollers encoded once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from dashboard.models import Notification

logger = logging.getLogger(__name__)

Tiles = Mapping[str, str]
"""Rendered whole tiles by symbol (what a new stream's snapshot shows)."""
Quotes = Mapping[str, bytes]
"""JSON-encoded price objects by symbol (for WebSocket and NDJSON readers)."""
PriceFormat = Literal["html", "json"]
StreamKind = Literal["sse", "ndjson", "ws"]


def part_symbol(key: str) -> str:
    """The symbol of a page update's key: ``q-BTC-USD`` -> ``BTC-USD`` (see PriceBatch)."""
    return key.partition("-")[2]


@dataclass(frozen=True, slots=True)
class PriceBatch:
    """What changed in one poll: for pages, the whole tiles (for snapshots), the one SSE
    message that is sent, and ``tile_updates``, the same changes as out-of-band swaps keyed
    by the element they replace (``tile-SYMBOL``, ``q-SYMBOL``, ``t-SYMBOL``,
    ``s-SYMBOL``); for programs, quotes by symbol.

    A reader that falls behind merges ``tile_updates`` by key (a plain dict merge: it runs
    for every reader behind, every batch), so it keeps the newest of each part; the parts
    still pending of a symbol in ``whole`` (its whole tile, or its removal, is in this
    batch) are dropped. ``removed``: the symbols whose instruments were retired; their
    tiles and quotes leave the hub's latest.
    """

    tiles: Tiles
    message: bytes
    tile_updates: Mapping[str, str] = field(default_factory=dict)
    quotes: Quotes = field(default_factory=dict)
    whole: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()

    def updates(self, price_format: PriceFormat) -> Mapping[str, object]:
        return self.tile_updates if price_format == "html" else self.quotes


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


EncodePrices = Callable[[Mapping[str, Any]], Any]


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
    login_session: int | None = None
    token_id: int | None = None
    # The client's address, for the limit on streams per address (None: not counted).
    address: str | None = None
    # Why the hub closed it (one of dashboard.live.wire.END_REASONS); None while open.
    end_reason: str | None = None
    pending_prices: Mapping[str, Any] | None = None
    # The shared SSE batch message, while the pending prices are exactly one batch.
    pending_message: bytes | None = None
    notices: deque[NoticeEvent] = field(default_factory=deque)
    keepalive_due: bool = False
    read_state_changed: bool = False
    # Notification ids another tab marked read, unread or archived since the stream last
    # looked: the stream reads their state again.
    changed_ids: set[int] = field(default_factory=set)
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

    def offer_prices(
        self,
        relevant: Mapping[str, Any],
        message: bytes | None,
        whole: frozenset[str] = frozenset(),
    ) -> bool:
        """Take this batch's updates (``message``: their shared encoding, if any; ``whole``:
        the symbols whose whole tile a page's updates hold).

        Returns whether there was anything for this reader; the caller wakes it.
        """
        if not relevant or self.closed:
            return False
        if self.pending_prices is None:
            self.pending_prices = relevant
            self.pending_message = message
        else:
            # Conflation: this reader has not taken the last batch yet; keep the newest
            # update per key (per symbol for programs, per tile part for pages) and build
            # its message when it is ready for one. A whole tile makes the parts of it
            # still pending obsolete: applied after it, they would undo it.
            pending = self.pending_prices
            if whole:
                pending = {k: v for k, v in pending.items() if part_symbol(k) not in whole}
            self.pending_prices = {**pending, **relevant}
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
            if self.busy_since and self.stream_task is not None:
                # Stuck in a send, the stream would notice the close only when that send
                # ends, maybe never: end it now. The client resumes from its cursor.
                self.stream_task.cancel()
                self.stream_task = None
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

    changed_ids: frozenset[int] = frozenset()
    archived_ids: frozenset[int] = frozenset()


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
                changed_ids=frozenset(connection.changed_ids),
                archived_ids=frozenset(connection.archived_ids),
            )
            connection.read_state_changed = False
            connection.changed_ids.clear()
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
