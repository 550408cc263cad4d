"""``WS /ws``: JSON both ways. Prices for anyone; notifications for a signed-in user.

A signed-in socket (session cookie or an API token) also receives the user's
notifications, resumes with ``?after=``, and may send ``{"type": "read", "id": N}``.
The token comes, in order of preference, in an ``Authorization: Bearer`` header (programs),
as the subprotocols ``dashboard, bearer.<token>`` (browsers, which cannot set headers on a
WebSocket; the server answers ``dashboard``), or as ``?token=`` (kept for old clients: a
URL ends up in proxies' logs, so the server's own log lines redact query strings).
A token that is given but wrong closes the socket with 1008. This module reads what the
client sends; dashboard.live.websocket sends the session's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from sqlmodel import Session

from dashboard.accounts import auth, logins, tokens
from dashboard.inbox import actions, queries
from dashboard.live import resume, wire
from dashboard.live.resume import parse_cursor
from dashboard.live.session import (
    LiveSession,
    NotAuthenticated,
    SignedOut,
    Subscriber,
    TooManyStreams,
    UnknownSymbols,
    authenticate,
    check_symbols,
)
from dashboard.live.websocket import SocketWriter, send_session
from dashboard.runtime import Runtime
from dashboard.web.deps import MAX_ROW_ID, bearer_token, subprotocol_token

router = APIRouter()

MAX_SYMBOLS_PER_MESSAGE = 100
MAX_MESSAGE_BYTES = 16_384
STALLED_CLOSE_SECONDS = 1.0


SUBPROTOCOL = "dashboard"


@router.websocket("/ws")
async def websocket_stream(
    websocket: WebSocket, token: str | None = None, after: str | None = None
) -> None:
    runtime: Runtime = websocket.app.state.runtime
    cursor = parse_cursor(after)
    if cursor is None:
        cursor = resume.now(runtime)  # before the client sees itself connected
    offered = websocket.scope.get("subprotocols", [])
    token = bearer_token(websocket) or subprotocol_token(offered) or token
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    if token is None and auth.cookie_secret(websocket) and not _same_origin(websocket):
        # The cookie rides along on a cross-site handshake (WebSockets have no CORS): a
        # page elsewhere must not read this user's notifications or mark them read.
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="cross-origin")
        return
    try:
        subscriber = await authenticate(runtime, websocket, token)
    except NotAuthenticated:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid token")
        return
    except SignedOut:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="signed-out")
        return
    except TooManyStreams:
        await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER, reason="too many streams")
        return
    session = LiveSession(runtime, subscriber, kind="ws", cursor=cursor, symbols=())
    writer = SocketWriter(websocket)
    sender = asyncio.create_task(send_session(session, writer))
    receiver = asyncio.create_task(_receive(session, writer))
    try:
        # Whichever ends first ends the socket: the client left, or the session ended (or
        # the stall watchdog cancelled a sender whose client stopped reading).
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if sender in done and sender.cancelled():
        # Cut off by the stall watchdog (not by the cancels above, after the client left): a
        # client that does not read will not read a close frame either, so the polite close
        # gets a moment and then the handler returns.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                websocket.close(code=status.WS_1013_TRY_AGAIN_LATER, reason="stalled"),
                STALLED_CLOSE_SECONDS,
            )


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: programs send no Origin
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


async def _receive(session: LiveSession, writer: SocketWriter) -> None:
    while True:
        frame = await writer.websocket.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000))
        text = frame.get("text")
        if text is None:
            await writer.send_event(wire.ErrorEvent("send text frames with JSON, not binary"))
            continue
        if text.strip() == "ping":
            await writer.send("pong")
            continue
        for reply in await _handle(text, session):
            await writer.send(reply.decode())


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


async def _handle(text: str, session: LiveSession) -> list[bytes]:
    message = _parse(text)
    if isinstance(message, str):
        return [wire.encode(wire.ErrorEvent(message))]
    kind = message.get("type")
    if kind == "ping":
        return [wire.encode(wire.PongEvent())]
    if kind in ("subscribe", "unsubscribe"):
        return await _subscription(kind, message.get("symbols"), session)
    if kind == "read":
        return [wire.encode(await _read(message.get("id"), session))]
    return [wire.encode(wire.ErrorEvent(f"unknown message type {kind!r}"))]


async def _subscription(kind: str, symbols: Any, session: LiveSession) -> list[bytes]:
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        return [wire.encode(wire.ErrorEvent(_SYMBOLS_RULE))]
    try:
        await check_symbols(session.runtime, symbols, limit=MAX_SYMBOLS_PER_MESSAGE)
    except UnknownSymbols as error:
        return [wire.encode(wire.ErrorEvent(f"unknown symbols: {', '.join(error.symbols)}"))]
    except ValueError:
        return [wire.encode(wire.ErrorEvent(_SYMBOLS_RULE))]
    if kind == "unsubscribe":
        session.unsubscribe(symbols)
        left = wire.UnsubscribedEvent(symbols=tuple(symbols), all=tuple(session.symbols))
        return [wire.encode(left)]
    added, quotes = session.subscribe(symbols)
    reply = wire.SubscribedEvent(symbols=tuple(added), all=tuple(session.symbols))
    return [wire.encode(reply), *quotes]


_SYMBOLS_RULE = f'"symbols" must be a list of up to {MAX_SYMBOLS_PER_MESSAGE} strings'


async def _read(notification_id: Any, session: LiveSession) -> wire.WireEvent:
    user_id = session.user_id
    if user_id is None:
        return wire.ErrorEvent("log in (or connect with ?token=) to mark notifications read")
    if (
        not isinstance(notification_id, int)
        or isinstance(notification_id, bool)
        or not 1 <= notification_id <= MAX_ROW_ID
    ):
        return wire.ErrorEvent('"id" must be a notification id')
    try:
        badge = await asyncio.to_thread(
            _mark_read, session.runtime, session.subscriber, notification_id
        )
    except CredentialEnded:
        return wire.ErrorEvent("this socket's login or token has ended; nothing was marked")
    if badge is None:
        return wire.ErrorEvent(f"no notification {notification_id}")
    return wire.MarkedReadEvent(id=notification_id, unread=badge.count, version=badge.stamp)


class CredentialEnded(Exception):
    """The login or token that opened the socket has ended (the socket closes shortly)."""


def _credential_live(session: Session, subscriber: Subscriber) -> bool:
    if subscriber.token_id is not None:
        return tokens.is_live(session=session, token_id=subscriber.token_id)
    if subscriber.login_session is not None:
        return logins.exists(session=session, login_id=subscriber.login_session)
    return True


def _mark_read(
    runtime: Runtime, subscriber: Subscriber, notification_id: int
) -> queries.Badge | None:
    """Mark read (telling the user's other tabs and sockets); the new count, or None.

    Checked against the store first: a revoked token or ended login writes nothing, even
    in the moment before its socket is closed.
    """
    user_id = subscriber.user_id
    assert user_id is not None
    with runtime.open_session() as session:
        if not _credential_live(session, subscriber):
            raise CredentialEnded()
        marked = actions.mark_read(
            session=session, live=runtime.live, user_id=user_id, notification_id=notification_id
        )
        return None if marked is None else queries.badge(session=session, user_id=user_id)
