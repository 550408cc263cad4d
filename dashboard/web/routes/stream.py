"""``GET /api/stream``: the same live data as NDJSON, one JSON object per line."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from dashboard.live import ndjson, resume
from dashboard.live.resume import parse_cursor
from dashboard.live.session import (
    LiveSession,
    NotAuthenticated,
    SignedOut,
    TooManyStreams,
    authenticate,
    check_symbols,
)
from dashboard.runtime import Runtime
from dashboard.web.deps import bearer_token

router = APIRouter(prefix="/api", tags=["streams"])

MAX_SYMBOLS = 100


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
    first, then a ``ready`` line, then everything live. A blank line is a keep-alive.
    """
    runtime: Runtime = request.app.state.runtime
    cursor = parse_cursor(after)
    if cursor is None:
        cursor = resume.now(runtime)
    try:
        subscriber = await authenticate(runtime, request, bearer_token(request))
    except (NotAuthenticated, SignedOut) as refused:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(refused), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    except TooManyStreams as refused:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(refused)) from None
    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    if wanted is not None:
        try:
            await check_symbols(runtime, wanted, limit=MAX_SYMBOLS)
        except ValueError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    session = LiveSession(runtime, subscriber, kind="ndjson", cursor=cursor, symbols=wanted)
    return ndjson.response(session)
