"""One subscriber session: a stream's whole life, whatever the transport.

A session authenticates its subscriber, registers with the hub, sends a snapshot of the
newest price of every symbol it watches, replays the notifications missed since its
cursor, marks the end of the replay, and then passes on live events until the hub ends
it (shutdown, overflow, or ended from outside by user, login session or API token).

It yields the typed events below and nothing else; SSE, NDJSON and WebSocket only encode
them (:mod:`dashboard.live.sse`, :mod:`dashboard.live.ndjson`, :mod:`dashboard.live.websocket`).
Events carry the shared bytes the pollers encoded once for every reader, so no transport
renders per reader what the hub already has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from dashboard.accounts import auth, tokens
from dashboard.inbox import queries
from dashboard.live import resume
from dashboard.live.mailbox import (
    Connection,
    NoticeEvent,
    PriceFormat,
    ReadStateChanged,
    StreamKind,
    drain,
)
from dashboard.models import Notification
from dashboard.prices import watchlists

if TYPE_CHECKING:
    from dashboard.runtime import Runtime


class NotAuthenticated(Exception):
    """A token was given and it is wrong or revoked: the stream is refused, not downgraded."""


class SignedOut(Exception):
    """The cookie names a login that has ended (signed out, elsewhere too, or expired): the
    stream is refused rather than served anonymously under a page that shows a user."""


@dataclass(frozen=True, slots=True)
class Subscriber:
    """Who a stream is for (``user_id`` None: anonymous, prices only), what opened it,
    and from which client address."""

    user_id: int | None
    login_session: int | None = None
    token_id: int | None = None
    address: str | None = None


class TooManyStreams(Exception):
    """The user or the client address already holds as many streams as the settings allow."""


async def authenticate(runtime: Runtime, conn: HTTPConnection, token: str | None) -> Subscriber:
    """The subscriber of a stream: an API token when one is given, else the session cookie.

    Raises :class:`NotAuthenticated` for a token that is wrong or revoked,
    :class:`SignedOut` for a cookie whose login has ended, and
    :class:`TooManyStreams` past the settings' limits per user or address. The look-up is
    one short store session in a worker thread: nothing is held for the stream's life.
    """
    address = conn.client.host if conn.client is not None else None
    if token is None:
        # No cookie login, nothing to look up: no hop to a worker thread (a reconnect storm
        # of visitors who are not signed in spent 7 % of the server there).
        no_login = auth.cookie_secret(conn) is None
        login = None if no_login else await asyncio.to_thread(_login_row, runtime, conn)
        if login is None:
            subscriber = Subscriber(user_id=None, address=address)
        else:
            subscriber = Subscriber(user_id=login[0], login_session=login[1], address=address)
    else:
        row = await asyncio.to_thread(_token_row, runtime, token)
        if row is None:
            raise NotAuthenticated("Invalid or revoked API token.")
        subscriber = Subscriber(user_id=row[0], token_id=row[1], address=address)
    _admit(runtime, subscriber)
    return subscriber


def _admit(runtime: Runtime, subscriber: Subscriber) -> None:
    """Refuse one stream too many for the user or the address (this process's count).

    Checked when the stream is asked for; it registers when its response starts, so a
    burst of simultaneous requests can overshoot by the few still starting.
    """
    hub, settings = runtime.hub, runtime.settings
    if (
        subscriber.user_id is not None
        and hub.streams_of(subscriber.user_id) >= settings.max_streams_per_user
    ):
        raise TooManyStreams(
            f"You have {settings.max_streams_per_user} streams open, the most allowed; "
            "close one (a tab or a program) first."
        )
    if (
        subscriber.address is not None
        and hub.streams_from(subscriber.address) >= settings.max_streams_per_address
    ):
        raise TooManyStreams(
            f"Your address has {settings.max_streams_per_address} streams open, the most "
            "allowed; close one first."
        )


def _login_row(runtime: Runtime, conn: HTTPConnection) -> tuple[int, int]:
    """``(user id, login id)`` of the cookie's live login (the cookie carries one).

    Raises :class:`SignedOut` when the cookie names a login that has ended.
    """
    with runtime.open_session() as session:
        found = auth.signed_in(conn, session=session, lifetimes=runtime.lifetimes)
    if found is None:
        raise SignedOut("This login has ended; sign in again.")
    login, user = found
    assert login.id is not None and user.id is not None
    return user.id, login.id


def _token_row(runtime: Runtime, token: str) -> tuple[int, int] | None:
    with runtime.open_session() as session:
        return tokens.owner_of(session=session, token=token)


# The events a session yields.


@dataclass(frozen=True, slots=True)
class Prices:
    """Newest prices: on connect every watched symbol, then the symbols a poll changed.

    Pages get ``message`` (one SSE message of out-of-band tile swaps); programs get
    ``quotes`` (wire PriceEvent objects). Both are shared by every reader of the batch.
    """

    message: bytes | None = None
    quotes: Sequence[bytes] = ()
    # True for the snapshot on connect: every watched symbol, whatever changed.
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification for this subscriber, replayed (missed while away) or live.

    ``badge`` is the unread count with this notification counted (live ones only; after
    a replay the count comes with :class:`Ready`). ``shared`` holds a live notification's
    encodings, made once by the poller for every recipient.
    """

    notification: Notification
    read: bool
    replayed: bool
    badge: queries.Badge | None = None
    shared: NoticeEvent | None = None

    @property
    def id(self) -> int:
        assert self.notification.id is not None
        return self.notification.id


@dataclass(frozen=True, slots=True)
class ReadState:
    """The subscriber's read state changed (in any tab or program): the new count, the
    notifications this stream has sent that are now read, those unread again, and those
    now archived."""

    badge: queries.Badge
    read: tuple[Notification, ...]
    archived_ids: frozenset[int]
    unread: tuple[Notification, ...] = ()


@dataclass(frozen=True, slots=True)
class Ready:
    """The replay is over. ``after`` is where a reconnect resumes (None when anonymous);
    ``badge`` the unread count up to it."""

    after: int | None
    badge: queries.Badge | None


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """The process's one keep-alive timer fired: send the transport's keep-alive."""


@dataclass(frozen=True, slots=True)
class End:
    """The hub ended the stream; ``reason`` is one of dashboard.live.wire.END_REASONS."""

    reason: str


Event = Prices | Notice | ReadState | Ready | KeepAlive | End
KEEPALIVE = KeepAlive()


class LiveSession:
    """One open stream's subscription: what it watches, where it stands, its mailbox."""

    # Thousands stay open per process: no per-instance __dict__.
    __slots__ = (
        "_connection",
        "_cursor",
        "_symbols",
        "_watchlist",
        "kind",
        "price_format",
        "runtime",
        "subscriber",
    )

    def __init__(
        self,
        runtime: Runtime,
        subscriber: Subscriber,
        *,
        kind: StreamKind,
        cursor: int | None = None,
        symbols: Collection[str] | None = None,
        watchlist: bool = False,
        price_format: PriceFormat | None = None,
    ) -> None:
        """``symbols``: the symbols to send prices of (None: all); ``watchlist``: a
        signed-in subscriber's watchlist replaces them when they have one;
        ``price_format``: tiles ("html") or wire price objects ("json"), by default tiles
        for SSE and objects for the others."""
        self.runtime = runtime
        self.subscriber = subscriber
        self.kind = kind
        self.price_format: PriceFormat = price_format or ("html" if kind == "sse" else "json")
        self._cursor = cursor
        self._symbols = None if symbols is None else list(symbols)
        self._watchlist = watchlist
        self._connection: Connection | None = None

    @property
    def user_id(self) -> int | None:
        return self.subscriber.user_id

    async def events(self) -> AsyncGenerator[Event, None]:
        """The stream, from snapshot to end (see the module's docstring)."""
        runtime, hub, user_id = self.runtime, self.runtime.hub, self.subscriber.user_id
        symbols = self._symbols
        if self._watchlist and user_id is not None:
            symbols = await asyncio.to_thread(_watchlist, runtime, user_id) or symbols
        # Registered before the snapshot and the replay are read: nothing falls between.
        connection = self._connection = hub.connect(
            user_id=user_id,
            symbols=symbols,
            price_format=self.price_format,
            kind=self.kind,
            login_session=self.subscriber.login_session,
            token_id=self.subscriber.token_id,
            address=self.subscriber.address,
        )
        # This generator runs in the task that sends to the client (the SSE layer's, the
        # streaming response's, the WebSocket's sender): cancelling it ends the stream, which
        # is how the stall watchdog cuts off a client that stopped reading, on every transport.
        connection.watch(asyncio.current_task())
        try:
            snapshot = self._snapshot(symbols)
            if snapshot is not None:
                yield snapshot
            sent = resume.Cursor(0)
            badge: queries.Badge | None = None
            if user_id is not None:
                sent = await resume.start(runtime, self._cursor)
                async for item in resume.missed(runtime, user_id, sent):
                    if item.archived and self.kind == "sse":
                        # Archived in another tab while this page was away: its inbox
                        # shows none (programs get them all, with their state).
                        continue
                    connection.sending()
                    yield Notice(notification=item.notification, read=item.read, replayed=True)
                badge = await resume.badge_up_to(runtime, user_id, sent)
            connection.sending()
            yield Ready(after=sent.position if user_id is not None else None, badge=badge)
            async for message in drain(connection, self._conflated):
                if isinstance(message, NoticeEvent):
                    if sent.advance(message.id):
                        badge = badge.plus_one(message.id) if badge is not None else None
                        yield Notice(
                            notification=message.notification,
                            read=False,
                            replayed=False,
                            badge=badge,
                            shared=message,
                        )
                elif isinstance(message, ReadStateChanged):
                    # Rare (a person clicked), and only this user's streams: recount exactly.
                    assert user_id is not None
                    badge, changed = await resume.read_state(
                        runtime, user_id, sent, message.changed_ids
                    )
                    yield ReadState(
                        badge=badge,
                        read=tuple(item.notification for item in changed if item.read),
                        archived_ids=message.archived_ids,
                        unread=tuple(item.notification for item in changed if not item.read),
                    )
                elif message is None:
                    yield KEEPALIVE
                elif isinstance(message, bytes):
                    yield Prices(message=message)  # one batch's shared SSE message
                else:
                    yield message
            if connection.end_reason is not None:
                yield End(connection.end_reason)
        finally:
            hub.disconnect(connection)

    def _snapshot(self, symbols: Collection[str] | None) -> Prices | None:
        """The newest price of every watched symbol, or None when it watches none."""
        hub = self.runtime.hub
        if symbols is not None and not symbols:
            return None
        if self.price_format == "html":
            # Shared: encoded once per set of symbols and batch, not per reader.
            return Prices(message=hub.snapshot_message(symbols), snapshot=True)
        wanted = symbols if symbols is not None else list(hub.latest_quotes)
        quotes = [hub.latest_quotes[s] for s in wanted if s in hub.latest_quotes]
        return Prices(quotes=quotes, snapshot=True)

    def _conflated(self, pending: Mapping[str, object]) -> Prices:
        """A reader that fell behind gets the newest of each symbol in one message.

        Pages get the newest of each tile part they missed (mailbox.PriceBatch), encoded
        once for every reader behind by the same batches; programs get the pending quotes.
        Was: pages got the shared snapshot of whole tiles, which once a price update became
        a ~90-byte part made every reader that fell behind receive seven times the bytes
        (5,000 streams: 1.4 GB in ten seconds instead of 0.4), and so fall further behind.
        """
        if self.price_format == "html":
            return Prices(message=self.runtime.hub.catch_up_message(pending))  # type: ignore[arg-type]
        return Prices(quotes=[q for q in pending.values() if isinstance(q, bytes)])

    # For the WebSocket, whose client changes its symbols while the stream runs.

    def subscribe(self, symbols: Iterable[str]) -> tuple[list[str], list[bytes]]:
        """Add ``symbols``; return the newly added ones and their newest quotes."""
        connection = self._require_connection()
        current = connection.symbols or frozenset()
        added = [s for s in dict.fromkeys(symbols) if s not in current]
        connection.symbols = current | set(added)
        latest = self.runtime.hub.latest_quotes
        return added, [latest[s] for s in added if s in latest]

    def unsubscribe(self, symbols: Iterable[str]) -> None:
        connection = self._require_connection()
        connection.symbols = (connection.symbols or frozenset()) - set(symbols)

    @property
    def symbols(self) -> list[str]:
        """The symbols this session sends prices of now, sorted."""
        connection = self._connection
        return sorted(connection.symbols or ()) if connection is not None else []

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the session has not started")
        return self._connection


class UnknownSymbols(ValueError):
    """Symbols that name no instrument (after looking for instruments added since start)."""

    def __init__(self, symbols: Sequence[str]) -> None:
        super().__init__(f"Unknown symbols: {', '.join(symbols)}.")
        self.symbols = symbols


async def check_symbols(runtime: Runtime, symbols: Sequence[str], *, limit: int) -> None:
    """Raise :class:`UnknownSymbols` (or ValueError past ``limit``) naming what is wrong."""
    if len(symbols) > limit:
        raise ValueError(f"At most {limit} symbols.")
    poller = runtime.price_poller
    if any(s not in poller.states for s in symbols):
        await poller.refresh_instruments()  # added since start?
    unknown = sorted({s for s in symbols if s not in poller.states})
    if unknown:
        raise UnknownSymbols(unknown[:10])


def _watchlist(runtime: Runtime, user_id: int) -> list[str] | None:
    with runtime.open_session() as session:
        return watchlists.symbols_for(session=session, user_id=user_id)
