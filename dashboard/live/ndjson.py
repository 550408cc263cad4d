"""The NDJSON transport (``GET /api/stream``): one wire object per line.

A blank line is the keep-alive: readers skip it, proxies see traffic. A stream the
server ends says why in a last ``{"type": "end", "reason": …}`` line.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from fastapi.responses import StreamingResponse
from starlette.types import Send

from dashboard.live.programs import wire_messages
from dashboard.live.session import KeepAlive, LiveSession

KEEPALIVE_LINE = b"\n"


async def lines(session: LiveSession) -> AsyncGenerator[bytes, None]:
    """The session's events as NDJSON, one write per event."""
    async for event in session.events():
        if isinstance(event, KeepAlive):
            yield KEEPALIVE_LINE
        else:
            yield b"".join(message + b"\n" for message in wire_messages(event))


class _SessionResponse(StreamingResponse):
    """A streaming response that always closes its session's generator.

    Starlette leaves the body iterator as it is when the sending task is cancelled (the
    stall watchdog cuts off a client that stopped reading by cancelling it): the session
    would never leave the hub. Closing the generator runs its ``finally``.
    """

    body_iterator: AsyncGenerator[bytes, None]

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()


def response(session: LiveSession) -> StreamingResponse:
    return _SessionResponse(
        lines(session),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
