"""Request dependencies, declared once as ``Annotated`` aliases for the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from sqlmodel import Session
from starlette.requests import HTTPConnection

from dashboard.accounts import auth, logins, tokens
from dashboard.models import LoginSession, User
from dashboard.runtime import Runtime

# Ids are 64-bit in the store; a larger number in a URL is a 422, not a driver overflow.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Cursor = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]


class LoginRequired(Exception):
    """Raised for an anonymous visitor on a page that needs a user; answered by a redirect."""


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    # Only for ordinary request/response routes: a stream must not hold one open.
    with runtime.open_session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_lifetimes(runtime: RuntimeDep) -> logins.Lifetimes:
    return runtime.lifetimes


LifetimesDep = Annotated[logins.Lifetimes, Depends(get_lifetimes)]


def get_login(
    request: Request, session: SessionDep, lifetimes: LifetimesDep
) -> tuple[LoginSession, User] | None:
    """The request's live login (from the store) and its user, or None."""
    return auth.signed_in(request, session=session, lifetimes=lifetimes)


LoginDep = Annotated[tuple[LoginSession, User] | None, Depends(get_login)]


def get_current_user(login: LoginDep) -> User | None:
    return None if login is None else login[1]


CurrentUser = Annotated[User | None, Depends(get_current_user)]


def bearer_token(request: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer`` header (a request or a WebSocket handshake)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def subprotocol_token(offered: list[str]) -> str | None:
    """The token of a ``bearer.<token>`` WebSocket subprotocol (browsers cannot set headers
    on a WebSocket handshake, only subprotocols)."""
    for protocol in offered:
        if protocol.startswith("bearer."):
            return protocol.removeprefix("bearer.") or None
    return None


def get_api_user(request: Request, session: SessionDep, login: LoginDep) -> User | None:
    """The user of an API request: a bearer token, else the session cookie.

    A token that is given but wrong is refused (401) rather than treated as anonymous.
    """
    token = bearer_token(request)
    if token is None:
        return get_current_user(login)
    user = tokens.user_for(session=session, token=token)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Invalid or revoked API token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.token_auth = True
    return user


ApiUser = Annotated[User | None, Depends(get_api_user)]

# For every API router but POST /api/ticks (which resolves its own caller: a token of scope
# "feed" is good for nothing else), so a wrong token is a 401 even where none is needed.
CALLER_RESOLVED = [Depends(get_api_user)]


def require_csrf_for_session(request: Request) -> None:
    """A state-changing API call by session cookie needs the CSRF header; by token, not.

    A browser can be tricked into sending the cookie, never the token or the header.
    """
    if not getattr(request.state, "token_auth", False) and not auth.csrf_matches(
        request, request.headers.get(auth.CSRF_HEADER)
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Missing or invalid CSRF token (X-CSRF-Token header)."
        )


def require_api_admin(request: Request, user: ApiUser) -> User:
    """An admin, by token, or by session with the CSRF header."""
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Log in or send an API token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This needs an administrator.")
    require_csrf_for_session(request)
    return user


ApiAdmin = Annotated[User, Depends(require_api_admin)]


def require_feeder(request: Request, session: SessionDep, login: LoginDep) -> None:
    """Refuse (401, 403) all but who may write ticks: a token of scope "feed", an admin's
    token, or an admin's session with the CSRF header."""
    token = bearer_token(request)
    if token is None:
        require_api_admin(request, get_current_user(login))
        return
    if tokens.feeder_for(session=session, token=token) is not None:
        return
    if tokens.user_for(session=session, token=token) is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "This needs an administrator or a token of scope feed."
        )
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "Invalid or revoked API token.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_user(user: CurrentUser) -> User:
    if user is None:
        raise LoginRequired()
    return user


UserDep = Annotated[User, Depends(require_user)]


def require_admin(user: CurrentUser) -> User:
    if user is None or not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This needs an administrator.")
    return user


AdminDep = Annotated[User, Depends(require_admin)]


async def require_csrf(request: Request) -> None:
    """Refuse a state-changing request without this session's CSRF token (403)."""
    submitted = request.headers.get(auth.CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(auth.CSRF_FORM_FIELD)
        submitted = value if isinstance(value, str) else None
    if not auth.csrf_matches(request, submitted):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Missing or invalid CSRF token; reload the page."
        )


CsrfChecked = Depends(require_csrf)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


HtmxDep = Annotated[bool, Depends(is_htmx)]
