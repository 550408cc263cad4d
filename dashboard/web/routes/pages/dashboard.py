"""The dashboard (tiles and inbox) and one instrument's page."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from sqlmodel import Session, select

from dashboard.inbox import queries
from dashboard.live.price_poller import tile_for
from dashboard.models import Instrument, User
from dashboard.prices import alerts, ticks, watchlists
from dashboard.prices.tiles import sparkline_resolution
from dashboard.runtime import Runtime
from dashboard.web.deps import (
    CurrentUser,
    RuntimeDep,
    SessionDep,
)
from dashboard.web.routes._html import inbox_header, render_page
from dashboard.web.routes.pages.notifications import INBOX_KEEP

router = APIRouter(include_in_schema=False)

INBOX_SIZE = 20


@router.get("/", response_class=HTMLResponse)
def dashboard_page(
    request: Request, runtime: RuntimeDep, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    inbox: list[queries.InboxItem] = []
    badge = None
    cursor = 0
    symbols = None
    if user is not None:
        assert user.id is not None
        # The cursor first, and the inbox up to it: the stream replays what comes after,
        # so a notification written meanwhile is shown exactly once.
        badge = queries.badge(session=session, user_id=user.id)
        cursor = badge.cursor
        inbox = queries.inbox(
            session=session, user_id=user.id, before=cursor + 1, limit=INBOX_SIZE + 1
        )
        symbols = watchlists.symbols_for(session=session, user_id=user.id)
    tiles = runtime.price_poller.tiles(symbols)
    return render_page(
        request,
        "pages/dashboard.html",
        {
            "tiles": tiles,
            "kinds": sorted({tile.kind for tile in tiles}),
            "customised": symbols is not None,
            "inbox": inbox[:INBOX_SIZE],
            "inbox_older_than": inbox[INBOX_SIZE - 1].notification.id
            if len(inbox) > INBOX_SIZE
            else None,
            "inbox_keep": INBOX_KEEP,
            "badge": badge,
            "stream_url": f"/events?after={cursor}" + _watchlist_mark(symbols),
            "legend": tile_legend(timedelta(hours=runtime.settings.reference_window_hours)),
        },
        user=user,
    )


def tile_legend(window: timedelta) -> dict[str, str]:
    """What the tiles' legend names: the reference window ("24 h") and the sparkline's
    bucket ("15 min")."""
    return {
        "window": _duration(window.total_seconds()),
        "step": _duration(sparkline_resolution(window)),
    }


def _duration(seconds: float) -> str:
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds / 86400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"


def instrument_context(
    runtime: Runtime,
    session: Session,
    symbol: str,
    user: User | None,
    *,
    errors: dict[str, str] | None = None,
    draft: dict[str, str] | None = None,
) -> dict[str, object]:
    """What the instrument page shows; 404 for an unknown symbol."""
    instrument = session.exec(select(Instrument).where(Instrument.symbol == symbol)).first()
    if instrument is None or instrument.id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No instrument {symbol!r}.")
    # An instrument added since start is known to the poller only once it ticks.
    tile = runtime.price_poller.states.get(symbol) or tile_for(
        instrument, window=timedelta(hours=runtime.settings.reference_window_hours)
    )
    user_alerts = (
        alerts.for_user(session=session, user_id=user.id, symbol=symbol)
        if user is not None and user.id is not None
        else []
    )
    return {
        "tile": tile,
        "window": ticks.window(
            session=session,
            instrument_id=instrument.id,
            hours=runtime.settings.reference_window_hours,
        ),
        "alerts": user_alerts,
        "alert_errors": errors or {},
        "alert_draft": draft or {},
    }


@router.get("/instruments/{symbol}", response_class=HTMLResponse)
def instrument_page(
    request: Request, symbol: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    context = instrument_context(runtime, session, symbol, user)
    # The page's one stream: a signed-in user's inbox, badge and toasts, and this
    # instrument's prices for the chart (named "price" events of wire price objects).
    stream: dict[str, Any] = (
        inbox_header(session, user.id)
        if user is not None and user.id is not None
        else {"stream_url": "/events?view=inbox"}
    )
    stream["stream_url"] += f"&chart={quote(symbol, safe='')}"
    return render_page(request, "pages/instrument.html", {**stream, **context}, user=user)


def _watchlist_mark(symbols: Sequence[str] | None) -> str:
    """A query part that names the watchlist a dashboard's stream follows (the server
    ignores it): static/stream.js shares a stream only among tabs whose stream is the same,
    and one opened before the watchlist changed carries the old symbols."""
    if symbols is None:
        return ""
    digest = hashlib.sha256(",".join(symbols).encode()).hexdigest()[:12]
    return f"&watchlist={digest}"
