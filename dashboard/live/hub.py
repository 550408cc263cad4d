"""Fan-out from the pollers to open connections, each with its mailbox
(:mod:`dashboard.live.mailbox`).

Pollers render and encode each event once and hand the bytes here; a connection only
ever receives references to those bytes.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any, cast

from dashboard.live._loop import call_on_loop

if TYPE_CHECKING:
    pass

from dashboard.live.mailbox import (
    Connection,
    NoticeEvent,
    PriceBatch,
    PriceFormat,
    Quotes,
    StreamKind,
    Tiles,
    part_symbol,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who receives a notification: every signed-in user but ``excluded``, or the listed users.

    ``excluded`` holds the users who muted announcements (for a non-critical broadcast), so
    a live stream filters exactly as the inbox query does on reload.
    """

    everyone: bool = False
    user_ids: frozenset[int] = frozenset()
    excluded: frozenset[int] = frozenset()


# Readers woken per turn of the event loop (see the module's docstring).
WAKE_SLICE = 64
# A stream restyles at most this many notifications after one read-state change (the
# newest ones: the inbox shows 20 and a history page 50); older ones are right on reload.
RESTYLE_LIMIT = 100


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
        self._by_address: dict[str, int] = {}
        self.latest_tiles: dict[str, str] = {}
        self.latest_quotes: dict[str, bytes] = {}
        self._snapshots: dict[frozenset[str] | None, bytes] = {}
        # Catch-up messages of readers that fell behind, by their pending swaps: readers
        # behind by the same batches share one encoding (cleared by each batch).
        self._catch_ups: dict[tuple[str, ...], bytes] = {}
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
        login_session: int | None = None,
        token_id: int | None = None,
        address: str | None = None,
    ) -> Connection:
        connection = Connection(
            user_id=user_id,
            symbols=None if symbols is None else frozenset(symbols),
            mailbox_size=self._mailbox_size,
            price_format=price_format,
            kind=kind,
            login_session=login_session,
            token_id=token_id,
            address=address,
        )
        self._connections.add(connection)
        if address is not None:
            self._by_address[address] = self._by_address.get(address, 0) + 1
        if user_id is not None:
            self._by_user.setdefault(user_id, set()).add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        connection.close()
        if connection.overflowed:
            self.overflows += 1
        if connection in self._connections and connection.address is not None:
            left = self._by_address[connection.address] - 1
            if left:
                self._by_address[connection.address] = left
            else:
                del self._by_address[connection.address]
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

    def streams_of(self, user_id: int) -> int:
        """How many streams ``user_id`` has open in this process."""
        return len(self._by_user.get(user_id, ()))

    def streams_from(self, address: str) -> int:
        """How many streams the client at ``address`` has open in this process."""
        return self._by_address.get(address, 0)

    def open_logins(self) -> set[int]:
        """The login sessions with a stream open in this process (their pages are in use)."""
        return {c.login_session for c in self._connections if c.login_session is not None}

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

    def catch_up_message(self, pending: Mapping[str, str]) -> bytes:
        """The SSE message of a page's merged pending swaps, encoded once for every reader
        whose pending swaps are the same."""
        key = tuple(pending.values())
        message = self._catch_ups.get(key)
        if message is None:
            assert self._encode_tiles is not None
            message = self._catch_ups[key] = self._encode_tiles(pending)
        return message

    def publish_prices(self, batch: PriceBatch) -> None:
        self.price_batches += 1
        self._snapshots.clear()
        self._catch_ups.clear()
        self.latest_tiles.update(batch.tiles)
        self.latest_quotes.update(batch.quotes)
        for symbol in batch.removed:
            # A new stream's snapshot would otherwise bring a retired instrument's tile
            # back onto its page (static/tiles.js adds the tiles it does not have).
            self.latest_tiles.pop(symbol, None)
            self.latest_quotes.pop(symbol, None)
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
                    # Pages' updates are keyed by element id (q-SYMBOL), programs' by symbol.
                    html = connection.price_format == "html"
                    subset = {
                        k: u
                        for k, u in updates.items()
                        if (part_symbol(k) if html else k) in wanted
                    }
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
            whole = batch.whole if connection.price_format == "html" else frozenset()
            if connection.offer_prices(updates, message, whole):
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
        changed_ids: Iterable[int] = (),
        archived_ids: Iterable[int] = (),
    ) -> None:
        """Tell ``user_id``'s open streams that their read state changed (another tab).

        ``changed_ids``: notifications marked read or unread, whose items the streams
        restyle. Safe from any thread: the routes that mark things read run in worker
        threads. Only the newest :data:`RESTYLE_LIMIT` changed ids are passed on.
        """
        read = frozenset(sorted(changed_ids, reverse=True)[:RESTYLE_LIMIT])
        archived = frozenset(archived_ids)
        call_on_loop(self.loop, lambda: self._read_state_changed(user_id, read, archived))

    def _read_state_changed(
        self, user_id: int, changed_ids: frozenset[int], archived_ids: frozenset[int]
    ) -> None:
        for connection in self._by_user.get(user_id, ()):
            connection.read_state_changed = True
            connection.changed_ids |= changed_ids
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
        login_session: int | None = None,
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

    def end_soon(
        self,
        *,
        reason: str,
        user_id: int | None = None,
        login_session: int | None = None,
        token_id: int | None = None,
    ) -> None:
        """:meth:`end`, safe from any thread (the routes that log out or revoke run in
        worker threads). Ends this process's streams only."""
        if user_id is None and login_session is None and token_id is None:
            raise ValueError("name a user, a login session or a token")
        call_on_loop(
            self.loop,
            lambda: self.end(
                reason=reason, user_id=user_id, login_session=login_session, token_id=token_id
            ),
        )

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
