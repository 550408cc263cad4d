"""The NDJSON transport (``GET /api/stream``): one wire object per line.

A blank line is the keep-alive: readers skip it, proxies see traffic. A stream the
server ends says why in a last ``{"type": "end", "reason": …}`` line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from dashboard.live.programs import wire_messages
from dashboard.live.session import KeepAlive, LiveSession

KEEPALIVE_LINE = b"\n"


async def lines(session: LiveSession) -> AsyncIterator[bytes]:
    """The session's events as NDJSON, one write per event."""
    async for event in session.events():
        if isinstance(event, KeepAlive):
            yield KEEPALIVE_LINE
        else:
            yield b"".join(message + b"\n" for message in wire_messages(event))


def response(session: LiveSession) -> StreamingResponse:
    return StreamingResponse(
        lines(session),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
