"""A user's settings: API tokens, watchlist, topic subscriptions, muting announcements,
how numbers and times read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from dashboard import display
from dashboard.accounts import auth, logins, tokens
from dashboard.inbox import actions, topics
from dashboard.models import User, utcnow
from dashboard.prices import alerts, watchlists
from dashboard.runtime import Runtime
from dashboard.web.deps import (
    CsrfChecked,
    HtmxDep,
    LoginDep,
    RowId,
    RuntimeDep,
    SessionDep,
    UserDep,
)
from dashboard.web.routes._html import render_page, see_other

router = APIRouter(include_in_schema=False)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, user: UserDep) -> HTMLResponse:
    assert user.id is not None
    return render_page(
        request, "pages/settings.html", _settings_context(request, session, user.id), user=user
    )


def _settings_context(request: Request, session: Session, user_id: int) -> dict[str, object]:
    runtime: Runtime = request.app.state.runtime
    secret = auth.cookie_secret(request)
    sessions = logins.list_for(session=session, user_id=user_id, lifetimes=runtime.lifetimes)
    return {
        "logins": [(login, logins.holds(login, secret)) for login in sessions],
        "topics": topics.all_topics(session=session, include_retired=True),
        "subscribed": topics.subscribed_topic_ids(session=session, user_id=user_id),
        "alerts": alerts.for_user(session=session, user_id=user_id),
        "watchlist": watchlists.choices(session=session, user_id=user_id),
        "watchlist_error": None,
        "api_tokens": tokens.list_for(session=session, user_id=user_id),
        "new_token": None,
        "display_error": None,
        "now": utcnow(),
    }


def _refused(request: Request, session: Session, user: User, **errors: str) -> HTMLResponse:
    """The settings page again, with why a form was refused beside it (422)."""
    assert user.id is not None
    context = {**_settings_context(request, session, user.id), **errors}
    return render_page(
        request,
        "pages/settings.html",
        context,
        user=user,
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


@router.post("/settings/tokens", dependencies=[CsrfChecked])
def create_api_token(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    name: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    """Answer with the page itself: the token is shown this once and never stored in clear."""
    assert user.id is not None
    try:
        _row, token = tokens.issue(
            session=session,
            user_id=user.id,
            name=name or "token",
            limit=runtime.settings.max_tokens_per_user,
        )
    except tokens.TokenLimitReached as refused:
        context = _settings_context(request, session, user.id)
        context["token_error"] = str(refused)
        return render_page(
            request,
            "pages/settings.html",
            context,
            user=user,
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
    context = _settings_context(request, session, user.id)
    context["new_token"] = token
    response = render_page(request, "pages/settings.html", context, user=user)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/settings/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def revoke_api_token(
    token_id: RowId, runtime: RuntimeDep, session: SessionDep, user: UserDep
) -> Response:
    """Revoke the token, and end the streams it opened in this process (they say "revoked")."""
    assert user.id is not None
    if not tokens.revoke(session=session, user_id=user.id, token_id=token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such token.")
    runtime.hub.end_soon(token_id=token_id, reason="revoked")
    return see_other("/settings#tokens")


@router.post("/settings/sessions/{login_id}/end", dependencies=[CsrfChecked])
def end_login(
    request: Request,
    login_id: RowId,
    runtime: RuntimeDep,
    session: SessionDep,
    user: UserDep,
    current: LoginDep,
) -> Response:
    """Sign one of the user's logins out, wherever it is (its pages say "signed out")."""
    assert user.id is not None
    this_browser = current is not None and current[0].id == login_id
    if not logins.end(session=session, login_id=login_id, user_id=user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such session.")
    runtime.hub.end_soon(login_session=login_id, reason="signed-out")
    if this_browser:
        request.session.clear()
        return see_other("/login")
    return see_other("/settings#sessions")


@router.post("/settings/sessions/end-all", dependencies=[CsrfChecked])
def end_all_logins(
    request: Request, runtime: RuntimeDep, session: SessionDep, user: UserDep
) -> Response:
    """Sign out everywhere: every login of the user, this one too (API tokens stay)."""
    assert user.id is not None
    for login_id in logins.end_all(session=session, user_id=user.id):
        runtime.hub.end_soon(login_session=login_id, reason="signed-out")
    request.session.clear()
    return see_other("/login")


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
        return _refused(request, session, user, watchlist_error=str(invalid))
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
        _settings_context(request, session, user.id),
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


@router.post("/settings/display", dependencies=[CsrfChecked])
def set_display(
    request: Request,
    session: SessionDep,
    user: UserDep,
    locale: Annotated[str, Form()] = "",
    times: Annotated[str, Form()] = "utc",
) -> Response:
    """Keep how this user reads numbers and times (dashboard.display); an unknown choice
    is refused with the reason (422), and nothing changes."""
    assert user.id is not None
    try:
        display.set_display(session=session, user_id=user.id, locale=locale, times=times)
    except display.DisplayError as error:
        return _refused(request, session, user, display_error=str(error))
    return see_other("/settings#display")
