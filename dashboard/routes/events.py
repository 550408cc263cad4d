"""``GET /events``: the page's one SSE stream (tiles for everyone, the inbox for users)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse

from dashboard import auth, replay, watchlists
from dashboard.hub import NoticeEvent, ReadStateChanged, drain
from dashboard.inbox import queries
from dashboard.render import KEEPALIVE
from dashboard.services import Services

router = APIRouter()

# On SIGTERM streams get this long to end cleanly (less than uvicorn's graceful timeout).
SHUTDOWN_GRACE_SECONDS = 2.0


@router.get("/events", include_in_schema=False)
async def events(
    request: Request,
    after: str | None = None,
    view: str | None = None,
    last_event_id: str | None = Header(default=None),
) -> EventSourceResponse:
    """``?view=inbox`` (pages without tiles): the inbox, badge and toasts, no prices."""
    services: Services = request.app.state.services
    cursor = replay.parse_cursor(last_event_id)
    if cursor is None:
        cursor = replay.parse_cursor(after)
    stream = _stream(
        services,
        user_id=auth.session_user_id(request),
        cursor=cursor,
        prices=view != "inbox",
    )
    return EventSourceResponse(
        stream,
        ping=0,  # the hub's one shared keep-alive replaces a timer per connection
        # No timer per message either: the hub's one stall watchdog cuts off a client that
        # stopped reading (settings.sse_send_timeout; see dashboard.hub).
        send_timeout=None,
        shutdown_event=services.shutdown_event,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        headers={"Cache-Control": "no-store"},
    )


async def _stream(
    services: Services, *, user_id: int | None, cursor: int | None, prices: bool
) -> AsyncIterator[bytes]:
    hub, renderer = services.hub, services.renderer
    symbols: list[str] | None = []
    if prices:
        symbols = None
        if user_id is not None:
            symbols = await asyncio.to_thread(_watchlist, services, user_id)
    # Registered before the snapshot and the replay are read: nothing falls between.
    connection = hub.connect(user_id=user_id, symbols=symbols)
    # This generator runs in the SSE layer's sending task: cancelling it ends the response.
    connection.watch(asyncio.current_task())
    try:
        if prices:
            yield hub.snapshot_message(symbols)
        sent = replay.Cursor(0)
        badge = queries.Badge(version=0, cursor=0, count=0)
        if user_id is not None:
            sent = await replay.start(services, cursor)
            async for item in replay.missed(services, user_id, sent):
                connection.sending()
                yield renderer.notice_message(item.notification, read=item.read)
            badge = await replay.badge_up_to(services, user_id, sent)
            connection.sending()
            yield renderer.unread_badge_message(badge)
        # A reader that fell behind (conflated) gets the shared snapshot of its tiles, which
        # is the newest of each: encoded once per batch and set of symbols, not per reader.
        async for message in drain(connection, lambda _: hub.snapshot_message(symbols)):
            if isinstance(message, NoticeEvent):
                if sent.advance(message.id):
                    badge = badge.plus_one(message.id)
                    # Two SSE messages in one write: a broadcast costs each stream one send.
                    yield message.message + renderer.unread_badge_message(badge)
            elif isinstance(message, ReadStateChanged):
                # Rare (a person clicked), and only this user's streams: recount exactly.
                assert user_id is not None
                badge, read = await replay.read_state(services, user_id, sent, message.read_ids)
                yield renderer.read_state_message(
                    [item.notification for item in read], message.archived_ids
                )
                yield renderer.unread_badge_message(badge)
            elif message is None:
                yield KEEPALIVE
            else:
                yield message
    finally:
        hub.disconnect(connection)


def _watchlist(services: Services, user_id: int) -> list[str] | None:
    with services.open_session() as session:
        return watchlists.symbols_for(session=session, user_id=user_id)
