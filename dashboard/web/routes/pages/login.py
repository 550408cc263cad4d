"""Logging in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, Response

from dashboard.accounts import auth
from dashboard.web.deps import (
    CsrfChecked,
    CurrentUser,
    RuntimeDep,
    SessionDep,
)
from dashboard.web.routes._html import render_page, safe_next, see_other

router = APIRouter(include_in_schema=False)


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
    limiter.succeeded(username, address)
    auth.log_in(request, user, session=session)
    return see_other(safe_next(next))


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, runtime: RuntimeDep, session: SessionDep) -> Response:
    """End the login in the store, and every stream it opened (they say "signed-out"):
    this process's at once, other processes' within settings.credential_poll_interval."""
    login_id = auth.log_out(request, session=session, lifetimes=runtime.lifetimes)
    if login_id is not None:
        runtime.hub.end_soon(login_session=login_id, reason="signed-out")
    return see_other("/")
