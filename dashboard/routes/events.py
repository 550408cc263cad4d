"""``GET /events``: the page's one SSE stream (tiles for everyone, the inbox for users)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse

from dashboard import auth, notices, watchlists
from dashboard.hub import NoticeEvent, ReadStateChanged, drain
from dashboard.render import KEEPALIVE
from dashboard.services import Services

router = APIRouter()

# On SIGTERM streams get this long to end cleanly (less than uvicorn's graceful timeout).
SHUTDOWN_GRACE_SECONDS = 2.0
# Missed notifications are read from the store this many at a time.
REPLAY_PAGE = 200


def parse_cursor(value: str | None) -> int | None:
    """A notification id from ``Last-Event-ID`` or ``?after=``; junk counts as absent."""
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


@router.get("/events", include_in_schema=False)
async def events(
    request: Request,
    after: str | None = None,
    last_event_id: str | None = Header(default=None),
) -> EventSourceResponse:
    services: Services = request.app.state.services
    cursor = parse_cursor(last_event_id)
    if cursor is None:
        cursor = parse_cursor(after)
    stream = _stream(services, user_id=auth.session_user_id(request), cursor=cursor)
    return EventSourceResponse(
        stream,
        ping=0,  # the hub's one shared keep-alive replaces a timer per connection
        send_timeout=services.settings.sse_send_timeout,
        shutdown_event=services.shutdown_event,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        headers={"Cache-Control": "no-store"},
    )


async def _stream(
    services: Services, *, user_id: int | None, cursor: int | None
) -> AsyncIterator[bytes]:
    hub, renderer = services.hub, services.renderer
    symbols = None
    if user_id is not None:
        symbols = await asyncio.to_thread(_watchlist, services, user_id)
    # Register before reading the replay, so nothing published meanwhile is missed;
    # ids already replayed are skipped when they come out of the mailbox. The snapshot
    # comes after registering too, so no tile update falls between the two.
    connection = hub.connect(user_id=user_id, symbols=symbols)
    try:
        yield renderer.tiles_message(hub.snapshot(symbols))
        sent_up_to = 0
        unread = 0
        if user_id is not None:
            sent_up_to = await asyncio.to_thread(_start_cursor, services, cursor)
            while True:
                page = await asyncio.to_thread(_replay_page, services, user_id, sent_up_to)
                for item in page:
                    assert item.notification.id is not None
                    sent_up_to = item.notification.id
                    yield renderer.notice_message(item.notification, read=item.read)
                if len(page) < REPLAY_PAGE:
                    break
            unread = await asyncio.to_thread(_unread_up_to, services, user_id, sent_up_to)
            yield renderer.unread_badge_message(unread)
        async for message in drain(connection, renderer.tiles_message):
            if isinstance(message, NoticeEvent):
                if message.id <= sent_up_to:
                    continue
                sent_up_to = message.id
                unread += 1
                yield message.message
                yield renderer.unread_badge_message(unread)
            elif isinstance(message, ReadStateChanged):
                # Rare (a person clicked), and only this user's streams: recount exactly.
                assert user_id is not None
                unread = await asyncio.to_thread(_unread_up_to, services, user_id, sent_up_to)
                yield renderer.unread_badge_message(unread)
            elif message is None:
                yield KEEPALIVE
            else:
                yield message
    finally:
        hub.disconnect(connection)


def _watchlist(services: Services, user_id: int) -> list[str] | None:
    with services.open_session() as session:
        return watchlists.symbols_for(session=session, user_id=user_id)


def _start_cursor(services: Services, cursor: int | None) -> int:
    """Where replay starts: no cursor, or one from the future, means live from now on."""
    with services.open_session() as session:
        newest = notices.newest_id(session=session)
    return newest if cursor is None else min(cursor, newest)


def _replay_page(services: Services, user_id: int, after: int) -> list[notices.InboxItem]:
    with services.open_session() as session:
        return notices.missed(session=session, user_id=user_id, after=after, limit=REPLAY_PAGE)


def _unread_up_to(services: Services, user_id: int, up_to: int) -> int:
    # Counted up to the replay cursor: later ones are counted as they are delivered.
    with services.open_session() as session:
        return notices.unread_count(session=session, user_id=user_id, up_to=up_to)
