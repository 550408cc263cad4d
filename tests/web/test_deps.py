"""Request dependencies called directly on hand-built requests (no app, no routes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import HTTPException, Request
from sqlmodel import Session

from dashboard.accounts import auth, logins, tokens
from dashboard.models import LoginSession, User
from dashboard.web import deps
from tests.factories import make_user


def request(
    headers: dict[str, str] | None = None,
    *,
    session: dict[str, Any] | None = None,
    token_auth: bool | None = None,
) -> Request:
    """A POST request as SessionMiddleware would hand it on (``session`` in the scope)."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/x",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "session": session if session is not None else {},
    }
    built = Request(scope)
    if token_auth is not None:
        built.state.token_auth = token_auth
    return built


def uid(user: User) -> int:
    assert user.id is not None
    return user.id


LIFETIMES = logins.Lifetimes(idle=timedelta(hours=1), absolute=timedelta(days=1))


def signed_in_cookie(session: Session, user: User) -> dict[str, Any]:
    """The cookie session of a fresh login of ``user`` (its row is in the store)."""
    _login, secret = logins.start(session=session, user_id=uid(user), address=None, user_agent=None)
    return {auth.SESSION_SECRET_KEY: secret}


def login_of(built: Request, session: Session) -> tuple[LoginSession, User] | None:
    return deps.get_login(built, session, LIFETIMES)


# bearer_token


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer dash_abc", "dash_abc"),
        ("bearer dash_abc", "dash_abc"),
        ("BEARER dash_abc", "dash_abc"),
        ("Bearer    dash_abc  ", "dash_abc"),
        ("Bearer a b", "a b"),  # the rest of the header, trimmed: the token check judges it
    ],
)
def test_a_bearer_token_is_read_from_the_authorization_header(
    authorization: str, token: str
) -> None:
    assert deps.bearer_token(request({"Authorization": authorization})) == token


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Bearer    ", "Basic dXNlcjpwYXNz", "Token dash_abc", "dash_abc"],
)
def test_no_bearer_token_without_the_scheme_and_a_value(authorization: str) -> None:
    assert deps.bearer_token(request({"Authorization": authorization})) is None


def test_no_bearer_token_without_the_header() -> None:
    assert deps.bearer_token(request()) is None


# require_csrf_for_session


def test_a_token_request_needs_no_csrf_header() -> None:
    deps.require_csrf_for_session(request(token_auth=True))


def test_a_session_request_with_the_sessions_csrf_header_passes() -> None:
    deps.require_csrf_for_session(
        request({"X-CSRF-Token": "s3cret"}, session={auth.SESSION_CSRF_KEY: "s3cret"})
    )
    deps.require_csrf_for_session(
        request(
            {"X-CSRF-Token": "s3cret"}, session={auth.SESSION_CSRF_KEY: "s3cret"}, token_auth=False
        )
    )


@pytest.mark.parametrize(
    ("headers", "session"),
    [
        ({}, {auth.SESSION_CSRF_KEY: "s3cret"}),  # no header
        ({"X-CSRF-Token": "wrong"}, {auth.SESSION_CSRF_KEY: "s3cret"}),
        ({"X-CSRF-Token": "s3cre"}, {auth.SESSION_CSRF_KEY: "s3cret"}),
        ({"X-CSRF-Token": "s3cret"}, {}),  # the session never had a token
        ({"X-CSRF-Token": ""}, {auth.SESSION_CSRF_KEY: ""}),  # empty never matches
        ({"X-CSRF-Token": "s3cret"}, {auth.SESSION_CSRF_KEY: 123}),  # not a string
    ],
)
def test_a_session_request_without_a_matching_csrf_header_is_refused(
    headers: dict[str, str], session: dict[str, Any]
) -> None:
    with pytest.raises(HTTPException) as refused:
        deps.require_csrf_for_session(request(headers, session=session))
    assert refused.value.status_code == 403
    assert refused.value.detail == "Missing or invalid CSRF token (X-CSRF-Token header)."


def test_the_csrf_token_in_a_form_field_does_not_count_for_the_api() -> None:
    with pytest.raises(HTTPException):
        deps.require_csrf_for_session(
            request(
                {"Content-Type": "application/x-www-form-urlencoded"},
                session={auth.SESSION_CSRF_KEY: "s3cret"},
            )
        )


# is_htmx


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"HX-Request": "true"}, True),
        ({"hx-request": "true"}, True),
        ({"HX-Request": "True"}, False),
        ({"HX-Request": "1"}, False),
        ({"HX-Request": "false"}, False),
        ({}, False),
    ],
)
def test_is_htmx_only_for_the_exact_htmx_header(headers: dict[str, str], expected: bool) -> None:
    assert deps.is_htmx(request(headers)) is expected


# get_current_user and get_api_user


def test_the_current_user_comes_from_the_cookies_login_in_the_store(session: Session) -> None:
    alice = make_user(session, "alice")
    cookie = signed_in_cookie(session, alice)
    user = deps.get_current_user(login_of(request(session=cookie), session))
    assert user is not None and user.username == "alice"
    assert deps.get_current_user(login_of(request(), session)) is None
    for forged in ("not-a-login", "", 7, "x" * 500):
        dead = {auth.SESSION_SECRET_KEY: forged}
        assert deps.get_current_user(login_of(request(session=dead), session)) is None


def test_a_signed_out_login_is_nobody_and_the_cookie_forgets_it(session: Session) -> None:
    alice = make_user(session, "alice")
    cookie = signed_in_cookie(session, alice)
    found = login_of(request(session=cookie), session)
    assert found is not None and found[0].id is not None
    assert logins.end(session=session, login_id=found[0].id)
    built = request(session=cookie)
    assert login_of(built, session) is None
    assert auth.SESSION_SECRET_KEY not in built.session


def test_an_api_user_by_token_is_marked_as_token_authenticated(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    _, token = tokens.issue(session=session, user_id=uid(alice), name="t")
    # The token wins over a cookie of someone else.
    built = request({"Authorization": f"Bearer {token}"}, session=signed_in_cookie(session, bob))
    user = deps.get_api_user(built, session, login_of(built, session))
    assert user is not None and user.username == "alice"
    assert built.state.token_auth is True


def test_an_api_user_without_a_token_is_the_session_user(session: Session) -> None:
    alice = make_user(session, "alice")
    built = request(session=signed_in_cookie(session, alice))
    user = deps.get_api_user(built, session, login_of(built, session))
    assert user is not None and user.username == "alice"
    assert getattr(built.state, "token_auth", False) is False
    assert deps.get_api_user(request(), session, None) is None


@pytest.mark.parametrize("kind", ["wrong", "revoked"])
def test_a_wrong_or_revoked_token_is_refused_not_treated_as_anonymous(
    session: Session, kind: str
) -> None:
    alice = make_user(session, "alice")
    row, token = tokens.issue(session=session, user_id=uid(alice), name="t")
    if kind == "revoked":
        assert row.id is not None
        tokens.revoke(session=session, user_id=uid(alice), token_id=row.id)
    else:
        token += "x"  # one character more: another token
    built = request({"Authorization": f"Bearer {token}"}, session=signed_in_cookie(session, alice))
    with pytest.raises(HTTPException) as refused:
        deps.get_api_user(built, session, login_of(built, session))
    assert refused.value.status_code == 401
    assert refused.value.detail == "Invalid or revoked API token."
    assert refused.value.headers == {"WWW-Authenticate": "Bearer"}
    assert getattr(built.state, "token_auth", False) is False


# require_api_admin, require_user, require_admin


def test_an_api_admin_by_token_needs_no_csrf(session: Session) -> None:
    admin = make_user(session, "admin", is_admin=True)
    assert deps.require_api_admin(request(token_auth=True), admin) is admin


def test_an_api_admin_by_session_needs_the_csrf_header(session: Session) -> None:
    admin = make_user(session, "admin", is_admin=True)
    cookie = {**signed_in_cookie(session, admin), auth.SESSION_CSRF_KEY: "s3cret"}
    assert (
        deps.require_api_admin(request({"X-CSRF-Token": "s3cret"}, session=cookie), admin) is admin
    )
    with pytest.raises(HTTPException) as refused:
        deps.require_api_admin(request(session=cookie), admin)
    assert refused.value.status_code == 403 and "CSRF" in str(refused.value.detail)


def test_the_api_refuses_anonymous_401_and_non_admins_403(session: Session) -> None:
    alice = make_user(session, "alice")
    with pytest.raises(HTTPException) as anonymous:
        deps.require_api_admin(request(token_auth=True), None)
    assert anonymous.value.status_code == 401
    assert anonymous.value.headers == {"WWW-Authenticate": "Bearer"}
    with pytest.raises(HTTPException) as not_admin:
        deps.require_api_admin(request(token_auth=True), alice)
    assert not_admin.value.status_code == 403
    assert not_admin.value.detail == "This needs an administrator."


def test_pages_send_anonymous_visitors_to_log_in_and_refuse_non_admins(session: Session) -> None:
    alice, admin = make_user(session, "alice"), make_user(session, "admin", is_admin=True)
    with pytest.raises(deps.LoginRequired):
        deps.require_user(None)
    assert deps.require_user(alice) is alice
    assert deps.require_admin(admin) is admin
    for user in (None, alice):
        with pytest.raises(HTTPException) as refused:
            deps.require_admin(user)
        assert refused.value.status_code == 403
