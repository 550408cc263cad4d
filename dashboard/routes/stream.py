"""``GET /api/stream``: the same live data as NDJSON, one JSON object per line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from dashboard import auth, replay, tokens
from dashboard.deps import bearer_token
from dashboard.hub import NoticeEvent, ReadStateChanged, drain
from dashboard.render import notification_json
from dashboard.services import Services

router = APIRouter(prefix="/api", tags=["streams"])

KEEPALIVE_LINE = b"\n"  # a blank line: readers skip it, proxies see traffic
MAX_SYMBOLS = 100


async def stream_user_id(request: Request, services: Services, token: str | None) -> int | None:
    """The user of a stream: a bearer (or ``?token=``) token, else the session cookie.

    A token that is given but wrong is refused, never downgraded to anonymous. No DB
    session is held for the stream's life: the look-up is one short session.
    """
    token = token or bearer_token(request)
    if token is None:
        return auth.session_user_id(request)
    user = await asyncio.to_thread(_token_user_id, services, token)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Invalid or revoked API token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


def _token_user_id(services: Services, token: str) -> int | None:
    with services.open_session() as session:
        user = tokens.user_for(session=session, token=token)
        return None if user is None else user.id


async def known_symbols(services: Services, symbols: Sequence[str]) -> None:
    """422 naming the unknown symbols (after picking up instruments added since start)."""
    if len(symbols) > MAX_SYMBOLS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"At most {MAX_SYMBOLS} symbols."
        )
    if any(s not in services.price_poller.states for s in symbols):
        await services.price_poller.refresh_instruments()
    unknown = sorted({s for s in symbols if s not in services.price_poller.states})
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Unknown symbols: {', '.join(unknown[:10])}."
        )


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def ndjson_stream(
    request: Request,
    symbols: Annotated[
        str | None, Query(max_length=2000, description="e.g. BTC-USD,ETH-USD")
    ] = None,
    after: Annotated[str | None, Query(max_length=40, description="Resume after this id")] = None,
) -> StreamingResponse:
    """Prices (and, when signed in, my notifications) as NDJSON, flushed as they happen.

    First the latest price of each symbol, then my notifications after ``after``, oldest
    first, then everything live. A blank line is a keep-alive.
    """
    services: Services = request.app.state.services
    user_id = await stream_user_id(request, services, None)
    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    if wanted is not None:
        await known_symbols(services, wanted)
    body = _lines(services, user_id=user_id, symbols=wanted, cursor=replay.parse_cursor(after))
    return StreamingResponse(
        body,
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _lines(
    services: Services, *, user_id: int | None, symbols: list[str] | None, cursor: int | None
) -> AsyncIterator[bytes]:
    hub = services.hub
    connection = hub.connect(user_id=user_id, symbols=symbols, price_format="json", kind="ndjson")
    try:
        wanted = symbols if symbols is not None else list(hub.latest_quotes)
        for symbol in wanted:
            quote = hub.latest_quotes.get(symbol)
            if quote is not None:
                yield quote + b"\n"
        sent = replay.Cursor(0)
        if user_id is not None:
            sent = await replay.start(services, cursor)
            async for item in replay.missed(services, user_id, sent):
                yield notification_json(item.notification) + b"\n"
        # Where this stream stands: a client that connected without ?after= resumes here.
        yield json.dumps({"type": "ready", "after": sent.position if user_id else None}).encode()
        yield b"\n"
        async for message in drain(connection, lambda quotes: list(quotes.values())):
            if isinstance(message, NoticeEvent):
                if sent.advance(message.id):
                    yield message.json + b"\n"
            elif isinstance(message, ReadStateChanged):
                assert user_id is not None
                badge, read = await replay.read_state(services, user_id, sent, message.read_ids)
                yield replay.unread_json(badge, read, message.archived_ids) + b"\n"
            elif isinstance(message, list):
                yield b"".join(quote + b"\n" for quote in message)
            elif message is None:
                yield KEEPALIVE_LINE
    finally:
        hub.disconnect(connection)
