"""``GET /events``: the page's one SSE stream (tiles for everyone, the inbox for users)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from sse_starlette import EventSourceResponse

from dashboard.live import resume, sse
from dashboard.live.resume import parse_cursor
from dashboard.live.session import LiveSession, SignedOut, TooManyStreams, authenticate
from dashboard.runtime import Runtime
from dashboard.web.deps import MAX_ROW_ID

router = APIRouter()


@router.get("/events", include_in_schema=False)
async def events(
    request: Request,
    after: str | None = None,
    view: str | None = None,
    chart: Annotated[str | None, Query(max_length=20)] = None,
    user: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    last_event_id: str | None = Header(default=None),
) -> EventSourceResponse:
    """``?view=inbox`` (pages without tiles): the inbox, badge and toasts, no prices.
    ``?chart=SYMBOL`` (the instrument page): also that symbol's prices, as named ``price``
    events holding wire price objects, for the page's chart.

    Resumes from ``Last-Event-ID`` (a reconnect), else ``?after=`` (the page's render).
    ``?user=`` is the user the page was rendered for: when the cookie's login has ended,
    or belongs to someone else now, the stream is only an ``end`` event ("signed-out"),
    so the page shows that instead of going on as an anonymous visitor.
    """
    runtime: Runtime = request.app.state.runtime
    cursor = parse_cursor(last_event_id)
    if cursor is None:
        cursor = parse_cursor(after)
    if cursor is None:
        cursor = resume.now(runtime)
    try:
        subscriber = await authenticate(runtime, request, token=None)
    except SignedOut:
        return sse.ended("signed-out")
    except TooManyStreams as refused:
        # A browser's EventSource (and htmx) retries later with backoff.
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(refused)) from None
    if user is not None and subscriber.user_id != user:
        return sse.ended("signed-out")
    if chart is not None:
        session = LiveSession(
            runtime, subscriber, kind="sse", cursor=cursor, symbols=(chart,), price_format="json"
        )
    else:
        session = LiveSession(
            runtime,
            subscriber,
            kind="sse",
            cursor=cursor,
            symbols=() if view == "inbox" else None,
            watchlist=view != "inbox",
        )
    return sse.response(session, runtime)
