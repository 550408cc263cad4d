"""The SSE transport (``GET /events``): the page's one stream, as htmx swaps.

Prices and live notifications arrive already encoded (once per batch, for every page);
this module adds the per-reader parts: replayed items, the unread badge, read-state
restyling. The end of the replay and the end of the stream are named events whose data
is the wire object (``ready``, ``end``): htmx dispatches named events as DOM events on
the connection element instead of swapping them. So is the keep-alive (``ping``), so that
the page can tell a quiet stream from a dead one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Message, Send

from dashboard.live import wire
from dashboard.live.fragments import Renderer
from dashboard.live.session import End, KeepAlive, LiveSession, Notice, Prices, ReadState, Ready

if TYPE_CHECKING:
    from dashboard.runtime import Runtime

# htmx's SSE extension drops comments unseen, but dispatches a named event even without
# data: the page's watchdog counts it as a sign of life. The comment stays for readers
# that already took comments as keep-alives; a browser's EventSource ignores both lines.
KEEPALIVE = ServerSentEvent(comment="ping", event="ping").encode()
# On SIGTERM streams get this long to end cleanly (less than uvicorn's graceful timeout).
SHUTDOWN_GRACE_SECONDS = 2.0


def _price(quote: bytes) -> bytes:
    return ServerSentEvent(data=quote.decode(), event="price").encode()


def _named(event: wire.WireEvent) -> bytes:
    return ServerSentEvent(data=wire.encode(event).decode(), event=event.type).encode()


async def messages(session: LiveSession, renderer: Renderer) -> AsyncIterator[bytes]:
    """The session's events as SSE messages, one write per event."""
    async for event in session.events():
        if isinstance(event, Prices):
            if event.message is not None:
                yield event.message
            elif event.quotes:  # a chart's prices (?chart=): a named event per symbol
                yield b"".join(_price(quote) for quote in event.quotes)
        elif isinstance(event, Notice):
            if event.shared is not None:
                message = event.shared.message
            else:
                message = renderer.notice_message(event.notification, read=event.read)
            if event.badge is not None:
                # Two SSE messages in one write: a broadcast costs each stream one send.
                message += renderer.unread_badge_message(event.badge)
            yield message
        elif isinstance(event, ReadState):
            yield renderer.read_state_message(
                event.read, event.archived_ids, unread=event.unread
            ) + renderer.unread_badge_message(event.badge)
        elif isinstance(event, Ready):
            badge = b"" if event.badge is None else renderer.unread_badge_message(event.badge)
            yield badge + _named(wire.ReadyEvent(after=event.after))
        elif isinstance(event, KeepAlive):
            yield KEEPALIVE
        else:
            assert isinstance(event, End)
            yield _named(wire.EndEvent(reason=event.reason))


class _EventSourceResponse(EventSourceResponse):
    """sse-starlette's response, without a cancel scope around each send when it has no
    send timeout, as here (the hub's one stall watchdog stands in for a timer per send).

    The library's ``_send_with_timeout`` enters and leaves ``anyio.move_on_after(None)``
    even then: 6-7 µs per send, against 0.3 µs for the send itself, and a page's stream
    sends up to ten times a second. A send that fails or is cancelled is marked as the
    library marks it, so that no closing chunk is written after it
    (tests/live/test_sse.py checks both names still exist).
    """

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        if self.send_timeout is not None:
            await super()._send_with_timeout(send, message)
            return
        try:
            await send(message)
        except BaseException:
            self._send_interrupted = True
            raise


def response(session: LiveSession, runtime: Runtime) -> EventSourceResponse:
    return _EventSourceResponse(
        messages(session, runtime.renderer),
        ping=0,  # the hub's one shared keep-alive replaces a timer per connection
        # No timer per message either: the hub's one stall watchdog cuts off a client that
        # stopped reading (settings.sse_send_timeout; see dashboard.live.hub).
        send_timeout=None,
        shutdown_event=runtime.shutdown_event,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        headers={"Cache-Control": "no-store"},
    )


def ended(reason: str) -> EventSourceResponse:
    """A stream that is only its ``end`` event (e.g. "signed-out": the page's login ended)."""

    async def end_only() -> AsyncIterator[bytes]:
        yield _named(wire.EndEvent(reason=reason))

    return _EventSourceResponse(end_only(), ping=0, headers={"Cache-Control": "no-store"})
