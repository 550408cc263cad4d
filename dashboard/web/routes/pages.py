"""The HTML pages a person uses: dashboard, login, settings and notification history."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select

from dashboard.accounts import auth, tokens
from dashboard.inbox import actions, queries, topics
from dashboard.live.pollers import tile_for
from dashboard.models import Instrument, Severity, User
from dashboard.prices import alerts, ticks, watchlists
from dashboard.runtime import Runtime
from dashboard.web.deps import (
    MAX_ROW_ID,
    CsrfChecked,
    CurrentUser,
    HtmxDep,
    RowId,
    RuntimeDep,
    SessionDep,
    UserDep,
)
from dashboard.web.routes._html import render_page, safe_next, see_other

router = APIRouter(include_in_schema=False)

INBOX_SIZE = 20
HISTORY_PAGE = 50


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
        inbox = queries.inbox(session=session, user_id=user.id, before=cursor + 1, limit=INBOX_SIZE)
        symbols = watchlists.symbols_for(session=session, user_id=user.id)
    return render_page(
        request,
        "pages/dashboard.html",
        {
            "tiles": runtime.price_poller.tiles(symbols),
            "customised": symbols is not None,
            "inbox": inbox,
            "badge": badge,
            "stream_url": f"/events?after={cursor}",
        },
        user=user,
    )


CHART_POINTS = 600


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
    tile = runtime.price_poller.states.get(symbol) or tile_for(instrument, sparkline_size=1)
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
        "chart_points": CHART_POINTS,
        "alerts": user_alerts,
        "alert_errors": errors or {},
        "alert_draft": draft or {},
    }


@router.get("/instruments/{symbol}", response_class=HTMLResponse)
def instrument_page(
    request: Request, symbol: str, runtime: RuntimeDep, session: SessionDep, user: CurrentUser
) -> HTMLResponse:
    context = instrument_context(runtime, session, symbol, user)
    return render_page(request, "pages/instrument.html", context, user=user)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: CurrentUser, next: str | None = None) -> Response:
    if user is not None:
        return see_other(safe_next(next))
    return render_page(request, "pages/login.html", {"next": safe_next(next)}, user=None)


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    limiter = runtime.login_limiter
    address = request.client.host if request.client else "unknown"
    refusal = limiter.check(username, address)
    if refusal is not None:
        # Checked before the password: a guesser learns nothing more until the window ends.
        response = render_page(
            request,
            "pages/login.html",
            {"next": safe_next(next), "username": username, "error": refusal.message},
            user=None,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    user = auth.authenticate(session=session, username=username.strip(), password=password)
    if user is None:
        limiter.failed(username, address)
        # One message whatever was wrong, so the form does not reveal who has an account.
        return render_page(
            request,
            "pages/login.html",
            {"next": safe_next(next), "username": username, "error": "Wrong username or password."},
            user=None,
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    limiter.succeeded(username)
    auth.log_in(request, user)
    return see_other(safe_next(next))


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    auth.log_out(request)
    return see_other("/")


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, user: UserDep) -> HTMLResponse:
    assert user.id is not None
    return render_page(
        request, "pages/settings.html", _settings_context(session, user.id), user=user
    )


def _settings_context(session: Session, user_id: int) -> dict[str, object]:
    return {
        "topics": topics.all_topics(session=session, include_retired=True),
        "subscribed": topics.subscribed_topic_ids(session=session, user_id=user_id),
        "alerts": alerts.for_user(session=session, user_id=user_id),
        "watchlist": watchlists.choices(session=session, user_id=user_id),
        "watchlist_error": None,
        "api_tokens": tokens.list_for(session=session, user_id=user_id),
        "new_token": None,
    }


@router.post("/settings/tokens", dependencies=[CsrfChecked])
def create_api_token(
    request: Request,
    session: SessionDep,
    user: UserDep,
    name: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    """Answer with the page itself: the token is shown this once and never stored in clear."""
    assert user.id is not None
    _row, token = tokens.issue(session=session, user_id=user.id, name=name or "token")
    context = _settings_context(session, user.id)
    context["new_token"] = token
    response = render_page(request, "pages/settings.html", context, user=user)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def revoke_api_token(token_id: RowId, session: SessionDep, user: UserDep) -> Response:
    assert user.id is not None
    if not tokens.revoke(session=session, user_id=user.id, token_id=token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such token.")
    return see_other("/settings#tokens")


@router.post("/settings/watchlist", dependencies=[CsrfChecked])
def save_watchlist(
    request: Request,
    session: SessionDep,
    user: UserDep,
    symbol: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    order: Annotated[list[str], Form()] = [],  # noqa: B006
    show: Annotated[list[str], Form()] = [],  # noqa: B006
    reset: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Each row posts its ``symbol`` and ``order``; the checked rows post ``show``."""
    assert user.id is not None
    if reset == "default":
        watchlists.reset(session=session, user_id=user.id)
        return see_other("/settings#watchlist")
    positions = dict(zip(symbol, order, strict=False))

    def position(s: str) -> float:
        try:
            return float(positions.get(s, ""))
        except ValueError:
            return float("inf")  # a blank or odd order puts the row last

    try:
        watchlists.save(session=session, user_id=user.id, symbols=sorted(show, key=position))
    except watchlists.WatchlistInvalid as invalid:
        context = _settings_context(session, user.id)
        context["watchlist_error"] = str(invalid)
        return render_page(
            request,
            "pages/settings.html",
            context,
            user=user,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return see_other("/settings#watchlist")


@router.post("/settings/topics/{topic_id}", dependencies=[CsrfChecked])
def set_topic_subscription(
    request: Request,
    topic_id: RowId,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    subscribed: Annotated[bool, Form()] = False,
) -> Response:
    assert user.id is not None
    try:
        found = actions.set_subscription(
            session=session,
            live=runtime.live,
            user_id=user.id,
            topic_id=topic_id,
            subscribed=subscribed,
        )
    except topics.TopicRetired as retired:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(retired)) from None
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such topic.")
    if not htmx:
        return see_other("/settings")
    return render_page(
        request,
        "pages/settings.html",
        _settings_context(session, user.id),
        user=user,
        block_names=["topics"],
    )


@router.post("/settings/broadcasts", dependencies=[CsrfChecked])
def set_broadcasts_muted(
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    muted: Annotated[bool, Form()] = False,
) -> Response:
    """Mute notifications to everyone; critical ones still come through."""
    assert user.id is not None
    actions.set_muted(session=session, live=runtime.live, user_id=user.id, muted=muted)
    return see_other("/settings#topics")


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(
    request: Request,
    session: SessionDep,
    user: UserDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    unread: bool = False,
    severity: Annotated[str, Query(max_length=20)] = "",
    topic: Annotated[str, Query(max_length=40)] = "",
    archived: bool = False,
) -> HTMLResponse:
    """History, newest first, filtered and paged by id (``before``); works without JS.

    The filter form sends empty fields for "any", so empty means no filter.
    """
    assert user.id is not None
    if severity and severity not in Severity.__members__:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Choose a severity: {', '.join(Severity.__members__)}.",
        )
    all_topics = topics.all_topics(session=session, include_retired=True)
    topic_id = None
    if topic:
        topic_id = next((t.id for t in all_topics if t.slug == topic), None)
        if topic_id is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"No topic {topic!r}.")
    filters = queries.Filters(
        unread_only=unread,
        severity=Severity(severity) if severity else None,
        topic_id=topic_id,
        archived=archived,
    )
    badge = queries.badge(session=session, user_id=user.id)
    items = queries.inbox(
        session=session,
        user_id=user.id,
        before=min(before, badge.cursor + 1) if before else badge.cursor + 1,
        limit=HISTORY_PAGE + 1,
        filters=filters,
    )
    more = len(items) > HISTORY_PAGE
    items = items[:HISTORY_PAGE]
    query = {
        k: v
        for k, v in {
            "unread": "1" if unread else "",
            "severity": severity,
            "topic": topic,
            "archived": "1" if archived else "",
        }.items()
        if v
    }
    return render_page(
        request,
        "pages/notifications.html",
        {
            "items": items,
            "filters": filters,
            "topic": topic,
            "topics": all_topics,
            "severities": [s.value for s in Severity],
            # New arrivals are prepended live only to the unfiltered first page.
            "live_list": before is None and filters == queries.Filters(),
            "older_url": (
                "/notifications?" + urlencode({**query, "before": items[-1].notification.id})
                if more
                else None
            ),
            "newest_url": "/notifications?" + urlencode(query) if before else None,
            "here": request.url.path + ("?" + request.url.query if request.url.query else ""),
            "badge": badge,
            "stream_url": f"/events?view=inbox&after={badge.cursor}",
        },
        user=user,
    )


@router.get("/notifications/{notification_id}", response_class=HTMLResponse)
def notification_page(
    request: Request,
    notification_id: RowId,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
) -> HTMLResponse:
    """One notification in full; opening it marks it read, as opening a message does."""
    assert user.id is not None
    item = _open_or_404(runtime, session, user.id, notification_id)
    return render_page(request, "pages/notification.html", {"item": item}, user=user)


@router.get("/notifications/{notification_id}/open")
def open_notification_link(
    notification_id: RowId, runtime: RuntimeDep, session: SessionDep, user: UserDep
) -> Response:
    """Follow a notification's link, marking it read on the way."""
    assert user.id is not None
    item = _open_or_404(runtime, session, user.id, notification_id)
    if not item.notification.link:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This notification has no link.")
    return see_other(item.notification.link)


def _open_or_404(
    runtime: Runtime, session: Session, user_id: int, notification_id: int
) -> queries.InboxItem:
    item = actions.open_notification(
        session=session, live=runtime.live, user_id=user_id, notification_id=notification_id
    )
    if item is None:
        # Someone else's notification looks exactly like a missing one.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    return item


@router.post("/notifications/{notification_id}/read", dependencies=[CsrfChecked])
def mark_read(
    request: Request,
    notification_id: RowId,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    assert user.id is not None
    notification = actions.mark_read(
        session=session, live=runtime.live, user_id=user.id, notification_id=notification_id
    )
    if notification is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    if not htmx:
        return see_other(safe_next(next))
    # The badge rides along, stamped with its version: the page keeps whichever is newer,
    # this answer or the stream's message about the same click.
    badge = queries.badge(session=session, user_id=user.id)
    item = runtime.renderer.notification_item(
        notification, read=True, csrf_token=auth.csrf_token(request)
    )
    return HTMLResponse(item + runtime.renderer.unread_badge(badge, oob=True))


@router.post("/notifications/{notification_id}/{action}", dependencies=[CsrfChecked])
def archive(
    notification_id: RowId,
    action: Literal["archive", "unarchive"],
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    htmx: HtmxDep,
    next: Annotated[str, Form(max_length=2000)] = "/notifications",
) -> Response:
    """Archive (out of the inbox, and read) or move back to the inbox."""
    assert user.id is not None
    move = actions.archive if action == "archive" else actions.unarchive
    notification = move(
        session=session, live=runtime.live, user_id=user.id, notification_id=notification_id
    )
    if notification is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    if not htmx:
        return see_other(safe_next(next))
    return Response(status_code=status.HTTP_200_OK)  # the form's hx-swap="delete" removes it


@router.post("/notifications/read-all", dependencies=[CsrfChecked])
def mark_all_read(
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    assert user.id is not None
    actions.mark_all_read(session=session, live=runtime.live, user_id=user.id)
    return see_other(safe_next(next))
