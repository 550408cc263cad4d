"""``GET /events``: the page's one SSE stream (tiles for everyone, the inbox for users).

A plain Starlette route, not a FastAPI one: FastAPI's request handling (dependency
solving, three exit stacks) stays alive as long as the response, which for a stream is
all day, and cost each open page ~2.5 KiB more (docs/benchmarks.md). Its four query
parameters are read here.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from starlette.responses import Response

from dashboard.live import resume, sse
from dashboard.live.resume import parse_cursor
from dashboard.live.session import LiveSession, SignedOut, TooManyStreams, authenticate
from dashboard.runtime import Runtime
from dashboard.web.deps import MAX_ROW_ID

router = APIRouter()

_CHART_MAX_LENGTH = 20


async def events(request: Request) -> Response:
    """``?view=inbox`` (pages without tiles): the inbox, badge and toasts, no prices.
    ``?chart=SYMBOL`` (the instrument page): also that symbol's prices, as named ``price``
    events holding wire price objects, for the page's chart.

    Resumes from ``Last-Event-ID`` (a reconnect), else ``?after=`` (the page's render).
    ``?user=`` is the user the page was rendered for: when the cookie's login has ended,
    or belongs to someone else now, the stream is only an ``end`` event ("signed-out"),
    so the page shows that instead of going on as an anonymous visitor.

    Errors: 405 for HEAD; 422 for a ``chart`` over 20 characters or a ``user`` that is
    not a row id; 429 past the streams one user may hold.
    """
    if request.method != "GET":
        # Starlette adds HEAD to a GET route; a stream has no head to give, and answering
        # one would take a look-up and a place under the stream limits for nothing.
        return Response(status_code=status.HTTP_405_METHOD_NOT_ALLOWED, headers={"Allow": "GET"})
    runtime: Runtime = request.app.state.runtime
    query = request.query_params
    view = query.get("view")
    chart = query.get("chart")
    if chart is not None and len(chart) > _CHART_MAX_LENGTH:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"chart: at most {_CHART_MAX_LENGTH} characters",
        )
    user = _row_id(query.get("user"))
    cursor = parse_cursor(request.headers.get("last-event-id"))
    if cursor is None:
        cursor = parse_cursor(query.get("after"))
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


def _row_id(text: str | None) -> int | None:
    """``?user=``: None when absent; 422 unless a whole number from 1 to MAX_ROW_ID."""
    if text is None:
        return None
    # The length first: int() refuses strings of over 4,300 digits with a ValueError.
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ROW_ID))
    if not digits or not 1 <= int(text) <= MAX_ROW_ID:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"user: a whole number from 1 to {MAX_ROW_ID}",
        )
    return int(text)


router.add_route("/events", events, methods=["GET"], include_in_schema=False)
