"""``WS /ws``: JSON both ways. Prices for anyone; notifications for a signed-in user.

A signed-in socket (session cookie or ``?token=``) also receives the user's
notifications, resumes with ``?after=``, and may send ``{"type": "read", "id": N}``.
A token that is given but wrong closes the socket with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from dashboard import auth, replay, tokens
from dashboard.deps import MAX_ROW_ID
from dashboard.hub import Connection, NoticeEvent, ReadStateChanged, drain
from dashboard.inbox import queries, read_state
from dashboard.render import notification_json
from dashboard.services import Services

router = APIRouter()

MAX_SYMBOLS_PER_MESSAGE = 100
MAX_MESSAGE_BYTES = 16_384


def _error(detail: str) -> dict[str, str]:
    return {"type": "error", "detail": detail}


class _Socket:
    """One socket's state; sends are serialised because two tasks write to it."""

    def __init__(self, websocket: WebSocket, services: Services, user_id: int | None) -> None:
        self.websocket = websocket
        self.services = services
        self.user_id = user_id
        self.connection: Connection = services.hub.connect(
            user_id=user_id, symbols=(), price_format="json", kind="ws"
        )
        self.sent = replay.Cursor(0)
        self._lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self._lock:
            await self.websocket.send_text(text)


@router.websocket("/ws")
async def websocket_stream(
    websocket: WebSocket, token: str | None = None, after: str | None = None
) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    user_id = auth.session_user_id(websocket)
    if token is None and user_id is not None and not _same_origin(websocket):
        # The cookie rides along on a cross-site handshake (WebSockets have no CORS): a
        # page elsewhere must not read this user's notifications or mark them read.
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="cross-origin")
        return
    if token is not None:
        user_id = await asyncio.to_thread(_token_user_id, services, token)
        if user_id is None:
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid token")
            return
    socket = _Socket(websocket, services, user_id)
    sender = asyncio.create_task(_send(socket, replay.parse_cursor(after)))
    try:
        await _receive(socket)
    except WebSocketDisconnect:
        pass
    finally:
        services.hub.disconnect(socket.connection)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: programs send no Origin
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def _token_user_id(services: Services, token: str) -> int | None:
    with services.open_session() as session:
        user = tokens.user_for(session=session, token=token)
        return None if user is None else user.id


async def _send(socket: _Socket, cursor: int | None) -> None:
    services, user_id = socket.services, socket.user_id
    if user_id is not None:
        socket.sent = await replay.start(services, cursor)
        async for item in replay.missed(services, user_id, socket.sent):
            await socket.send(notification_json(item.notification, read=item.read).decode())
    async for message in drain(socket.connection, lambda quotes: list(quotes.values())):
        if isinstance(message, NoticeEvent):
            if socket.sent.advance(message.id):
                await socket.send(message.json.decode())
        elif isinstance(message, ReadStateChanged):
            assert user_id is not None
            badge, read = await replay.read_state(services, user_id, socket.sent, message.read_ids)
            await socket.send(replay.unread_json(badge, read, message.archived_ids).decode())
        elif isinstance(message, list):
            for quote in message:
                await socket.send(quote.decode())
    await socket.websocket.close(code=status.WS_1011_INTERNAL_ERROR, reason="stream closed")


async def _receive(socket: _Socket) -> None:
    while True:
        frame = await socket.websocket.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000))
        text = frame.get("text")
        if text is None:
            await socket.send(json.dumps(_error("send text frames with JSON, not binary")))
            continue
        if text.strip() == "ping":
            await socket.send("pong")
            continue
        for reply in await _handle(text, socket):
            await socket.send(reply if isinstance(reply, str) else json.dumps(reply))


def _parse(text: str) -> dict[str, Any] | str:
    if len(text) > MAX_MESSAGE_BYTES:
        return f"message too long (over {MAX_MESSAGE_BYTES} bytes)"
    try:
        message = json.loads(text)
    except ValueError:
        return 'not JSON: send an object such as {"type": "ping"}'
    if not isinstance(message, dict):
        return 'send a JSON object with a "type"'
    return message


async def _handle(text: str, socket: _Socket) -> list[dict[str, Any] | str]:
    message = _parse(text)
    if isinstance(message, str):
        return [_error(message)]
    kind = message.get("type")
    if kind == "ping":
        return [{"type": "pong"}]
    if kind in ("subscribe", "unsubscribe"):
        return await _subscription(kind, message.get("symbols"), socket)
    if kind == "read":
        return [await _read(message.get("id"), socket)]
    return [_error(f"unknown message type {kind!r}")]


async def _subscription(kind: str, symbols: Any, socket: _Socket) -> list[dict[str, Any] | str]:
    if (
        not isinstance(symbols, list)
        or not all(isinstance(s, str) for s in symbols)
        or len(symbols) > MAX_SYMBOLS_PER_MESSAGE
    ):
        return [_error(f'"symbols" must be a list of up to {MAX_SYMBOLS_PER_MESSAGE} strings')]
    poller = socket.services.price_poller
    if any(s not in poller.states for s in symbols):
        await poller.refresh_instruments()  # added since start?
    unknown = sorted({s for s in symbols if s not in poller.states})
    if unknown:
        return [_error(f"unknown symbols: {', '.join(unknown[:10])}")]
    connection = socket.connection
    current = connection.symbols or frozenset()
    if kind == "unsubscribe":
        connection.symbols = current - set(symbols)
        return [{"type": "unsubscribed", "symbols": symbols, "all": sorted(connection.symbols)}]
    added = [s for s in dict.fromkeys(symbols) if s not in current]
    connection.symbols = current | set(symbols)
    replies: list[dict[str, Any] | str] = [
        {"type": "subscribed", "symbols": added, "all": sorted(connection.symbols)}
    ]
    latest = socket.services.hub.latest_quotes
    replies.extend(latest[s].decode() for s in added if s in latest)
    return replies


async def _read(notification_id: Any, socket: _Socket) -> dict[str, Any]:
    if socket.user_id is None:
        return _error("log in (or connect with ?token=) to mark notifications read")
    if (
        not isinstance(notification_id, int)
        or isinstance(notification_id, bool)
        or not 1 <= notification_id <= MAX_ROW_ID
    ):
        return _error('"id" must be a notification id')
    user_id = socket.user_id
    badge = await asyncio.to_thread(_mark_read, socket.services, user_id, notification_id)
    if badge is None:
        return _error(f"no notification {notification_id}")
    # The user's other tabs and sockets.
    socket.services.hub.publish_read_state(user_id, read_ids=[notification_id])
    return {"type": "read", "id": notification_id, "unread": badge.count, "version": badge.stamp}


def _mark_read(services: Services, user_id: int, notification_id: int) -> queries.Badge | None:
    with services.open_session() as session:
        if (
            read_state.mark_read(session=session, user_id=user_id, notification_id=notification_id)
            is None
        ):
            return None
        return queries.badge(session=session, user_id=user_id)
