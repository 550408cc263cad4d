"""The WebSocket transport (``WS /ws``), sending side: one wire object per text frame.

The socket's receiving side (subscribe, ping, read) is in dashboard.web.routes.ws; both write
to one socket, so sends go through :class:`SocketWriter`, which serialises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import WebSocket, WebSocketDisconnect, status

from dashboard.live import wire
from dashboard.live.programs import wire_messages
from dashboard.live.session import End, LiveSession

logger = logging.getLogger(__name__)

# Why the server ends a socket, as the close code its client sees (RFC 6455, 7.4.1).
CLOSE_CODES = {
    "shutdown": status.WS_1012_SERVICE_RESTART,
    "overflow": status.WS_1013_TRY_AGAIN_LATER,
    "signed-out": status.WS_1008_POLICY_VIOLATION,
    "revoked": status.WS_1008_POLICY_VIOLATION,
}


class SocketWriter:
    """Serialised text sends to one socket (two tasks write to it)."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self._lock:
            await self.websocket.send_text(text)

    async def send_event(self, event: wire.WireEvent) -> None:
        await self.send(wire.encode(event).decode())


async def send_session(session: LiveSession, writer: SocketWriter) -> None:
    """Send the session's events until it ends, then close the socket saying why.

    A session that fails (the store down during a replay, say) closes the socket with
    1011, so the client reconnects and resumes instead of waiting on a silent socket.
    """
    reason = "error"
    try:
        async for event in session.events():
            if isinstance(event, End):
                reason = event.reason
            for message in wire_messages(event):
                await writer.send(message.decode())
    except WebSocketDisconnect:
        # The client left, or the server closed the socket itself on shutdown (1012):
        # nothing failed, and there is nobody left to tell.
        return
    except Exception:
        shutdown = session.runtime.shutdown_event
        if shutdown is not None and shutdown.is_set():
            reason = "shutdown"  # a query cut short by the stop: a restart, not a fault
        else:
            logger.exception("WebSocket session of user %s failed; closing", session.user_id)
    code = CLOSE_CODES.get(reason, status.WS_1011_INTERNAL_ERROR)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        # RuntimeError: the socket closed meanwhile (starlette refuses a second close).
        await writer.websocket.close(code=code, reason=reason)
