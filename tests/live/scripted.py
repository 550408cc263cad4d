"""A scripted stand-in for LiveSession and sample events, for the transport encoder tests.

The encoders (SSE, NDJSON, WebSocket) only iterate ``session.events()`` (and the WebSocket
logs ``session.user_id`` and asks ``session.runtime`` whether the server is stopping), so
a fixed list of events is enough to pin what they write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TypeVar, cast

import anyio

from dashboard.live.mailbox import NoticeEvent
from dashboard.live.session import Event, LiveSession
from dashboard.models import Audience, Notification, Severity

WHEN = datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)

_T = TypeVar("_T")


class ScriptedSession:
    """Yields ``events`` in order, then raises ``error`` if one is given."""

    def __init__(
        self,
        events: Sequence[Event],
        *,
        user_id: int | None = 7,
        error: Exception | None = None,
        shutting_down: bool = False,
    ) -> None:
        self._events = list(events)
        self.user_id = user_id
        self._error = error
        # The WebSocket sender asks the runtime whether the server is stopping.
        shutdown = anyio.Event()
        if shutting_down:
            shutdown.set()
        self.runtime = SimpleNamespace(shutdown_event=shutdown)

    async def events(self) -> AsyncIterator[Event]:
        for event in self._events:
            yield event
        if self._error is not None:
            raise self._error


def scripted(
    events: Sequence[Event],
    *,
    user_id: int | None = 7,
    error: Exception | None = None,
    shutting_down: bool = False,
) -> LiveSession:
    """A :class:`ScriptedSession` typed as the LiveSession the encoders take."""
    return cast(
        LiveSession,
        ScriptedSession(events, user_id=user_id, error=error, shutting_down=shutting_down),
    )


def notification(
    notification_id: int,
    title: str = "Deploy finished",
    *,
    severity: Severity = Severity.info,
    link: str | None = None,
) -> Notification:
    return Notification(
        id=notification_id,
        title=title,
        body="All green.",
        severity=severity,
        audience=Audience.everyone,
        link=link,
        created_at=WHEN,
    )


def shared_notice(notification_id: int) -> NoticeEvent:
    """A live notification's encodings as the poller shares them (recognisable bytes)."""
    return NoticeEvent(
        notification=notification(notification_id),
        message=f"data: shared sse {notification_id}\r\n\r\n".encode(),
        json=f'{{"shared":{notification_id}}}'.encode(),
    )


def collect(stream: AsyncIterable[_T]) -> list[_T]:
    """Everything an async iterable yields, run to its end on a fresh loop."""

    async def drain() -> list[_T]:
        return [item async for item in stream]

    return asyncio.run(drain())
