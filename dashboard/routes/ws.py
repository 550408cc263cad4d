"""``WS /ws``: JSON messages both ways. Prices for anyone; a bad token closes with 1008."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from starlette.websockets import WebSocketState

from dashboard import tokens
from dashboard.hub import Connection, drain
from dashboard.models import User
from dashboard.services import Services

router = APIRouter()

MAX_SYMBOLS_PER_MESSAGE = 100
MAX_MESSAGE_BYTES = 16_384


def _error(detail: str) -> dict[str, str]:
    return {"type": "error", "detail": detail}


@router.websocket("/ws")
async def websocket_stream(websocket: WebSocket, token: str | None = None) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    # Prices need no login; a token that is given must be valid.
    if token is not None and await asyncio.to_thread(_token_user, services, token) is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="invalid token")
        return
    connection = services.hub.connect(user_id=None, symbols=(), price_format="json")
    sender = asyncio.create_task(_send_prices(websocket, connection))
    try:
        await _receive(websocket, services, connection)
    except WebSocketDisconnect:
        pass
    finally:
        services.hub.disconnect(connection)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _token_user(services: Services, token: str) -> User | None:
    with services.open_session() as session:
        return tokens.user_for(session=session, token=token)


async def _send_prices(websocket: WebSocket, connection: Connection) -> None:
    async for message in drain(connection, lambda quotes: list(quotes.values())):
        if isinstance(message, list):
            for quote in message:
                await websocket.send_text(quote.decode())
    if websocket.client_state == WebSocketState.CONNECTED:
        await websocket.close(code=status.WS_1011_INTERNAL_ERROR, reason="stream closed")


async def _receive(websocket: WebSocket, services: Services, connection: Connection) -> None:
    while True:
        text = await websocket.receive_text()
        if text.strip() == "ping":
            await websocket.send_text("pong")
            continue
        if '"subscribe"' in text and not _symbols_known(text, services):
            await services.price_poller.refresh_instruments()  # added since start?
        reply = _handle(text, services, connection)
        if reply is not None:
            await websocket.send_json(reply)
        if isinstance(reply, dict) and reply.get("type") == "subscribed":
            for symbol in reply["symbols"]:
                quote = services.hub.latest_quotes.get(symbol)
                if quote is not None:
                    await websocket.send_text(quote.decode())


def _symbols_known(text: str, services: Services) -> bool:
    try:
        symbols = json.loads(text).get("symbols")
    except (ValueError, AttributeError):
        return True
    if not isinstance(symbols, list):
        return True
    return all(s in services.price_poller.states for s in symbols if isinstance(s, str))


def _handle(text: str, services: Services, connection: Connection) -> dict[str, Any] | None:
    if len(text) > MAX_MESSAGE_BYTES:
        return _error(f"message too long (over {MAX_MESSAGE_BYTES} bytes)")
    try:
        message = json.loads(text)
    except ValueError:
        return _error('not JSON: send an object such as {"type": "ping"}')
    if not isinstance(message, dict):
        return _error('send a JSON object with a "type"')
    kind = message.get("type")
    if kind == "ping":
        return {"type": "pong"}
    if kind in ("subscribe", "unsubscribe"):
        symbols = message.get("symbols")
        if (
            not isinstance(symbols, list)
            or not all(isinstance(s, str) for s in symbols)
            or len(symbols) > MAX_SYMBOLS_PER_MESSAGE
        ):
            return _error(f'"symbols" must be a list of up to {MAX_SYMBOLS_PER_MESSAGE} strings')
        known = services.price_poller.states
        unknown = [s for s in symbols if s not in known]
        if unknown:
            return _error(f"unknown symbols: {', '.join(sorted(unknown)[:10])}")
        current = connection.symbols or frozenset()
        if kind == "subscribe":
            added = [s for s in symbols if s not in current]
            connection.symbols = current | set(symbols)
            return {"type": "subscribed", "symbols": added, "all": sorted(connection.symbols)}
        connection.symbols = current - set(symbols)
        return {"type": "unsubscribed", "symbols": symbols, "all": sorted(connection.symbols)}
    return _error(f"unknown message type {kind!r}")
