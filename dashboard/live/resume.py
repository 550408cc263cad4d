"""Resuming a stream: where to start, and the notifications missed since the cursor.

Used by :class:`dashboard.live.session.LiveSession`, so every transport resumes the same
way. The connection must be registered with the hub *before* the replay is read, so
nothing published meanwhile is lost; ids already replayed are skipped when they come out
of the mailbox (see :class:`Cursor`). Store work runs in worker threads, never on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from dashboard.inbox import queries
from dashboard.live.hub import RESTYLE_LIMIT

if TYPE_CHECKING:
    from dashboard.runtime import Runtime

# Missed notifications are read from the store this many at a time.
PAGE = 200


def parse_cursor(value: str | None) -> int | None:
    """A notification id from ``Last-Event-ID`` or ``?after=``; junk counts as absent."""
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


class Cursor:
    """The newest notification id a stream has sent; later duplicates are skipped."""

    def __init__(self, position: int) -> None:
        self.position = position

    def advance(self, notification_id: int) -> bool:
        """Move past ``notification_id``; False when it was already sent."""
        if notification_id <= self.position:
            return False
        self.position = notification_id
        return True


def now(runtime: Runtime) -> int:
    """The cursor of a stream asked to start "from now", read when its request arrives.

    After the newest notification this process has published: one written meanwhile and
    not published yet is replayed, then skipped when the poller delivers it too. Read in
    the route, before the response's headers: reading it once the stream runs (after the
    client saw itself connected) lost a notification published in between.
    """
    return runtime.notification_poller.cursor


async def start(runtime: Runtime, cursor: int | None) -> Cursor:
    """No cursor, or one from the future, means: live from now on."""
    newest = await asyncio.to_thread(_newest, runtime)
    return Cursor(newest if cursor is None else min(cursor, newest))


async def missed(
    runtime: Runtime, user_id: int, cursor: Cursor
) -> AsyncIterator[queries.InboxItem]:
    """The user's notifications after the cursor, oldest first, advancing it."""
    while True:
        page = await asyncio.to_thread(_page, runtime, user_id, cursor.position)
        for item in page:
            assert item.notification.id is not None
            cursor.advance(item.notification.id)
            yield item
        if len(page) < PAGE:
            return


async def badge_up_to(runtime: Runtime, user_id: int, cursor: Cursor) -> queries.Badge:
    """Unread count up to the cursor: later ones are counted as they are delivered."""
    return await asyncio.to_thread(_badge, runtime, user_id, cursor.position)


async def read_state(
    runtime: Runtime, user_id: int, cursor: Cursor, changed_ids: frozenset[int]
) -> tuple[queries.Badge, list[queries.InboxItem]]:
    """After a read-state change: the new badge, and the changed notifications this stream
    sent, each with its read state now."""
    shown = sorted((i for i in changed_ids if i <= cursor.position), reverse=True)[:RESTYLE_LIMIT]
    return await asyncio.to_thread(_read_state, runtime, user_id, cursor.position, shown)


def _newest(runtime: Runtime) -> int:
    with runtime.open_session() as session:
        return queries.newest_id(session=session)


def _page(runtime: Runtime, user_id: int, after: int) -> list[queries.InboxItem]:
    with runtime.open_session() as session:
        return queries.missed(session=session, user_id=user_id, after=after, limit=PAGE)


def _badge(runtime: Runtime, user_id: int, up_to: int) -> queries.Badge:
    with runtime.open_session() as session:
        return queries.badge(session=session, user_id=user_id, up_to=up_to)


def _read_state(
    runtime: Runtime, user_id: int, up_to: int, ids: list[int]
) -> tuple[queries.Badge, list[queries.InboxItem]]:

    with runtime.open_session() as session:
        badge = queries.badge(session=session, user_id=user_id, up_to=up_to)
        items = queries.by_ids(session=session, user_id=user_id, ids=ids)
        return badge, items
