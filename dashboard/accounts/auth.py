"""Passwords (argon2), users, signing in and out of the cookie session, and CSRF tokens."""

from __future__ import annotations

import re
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.requests import HTTPConnection

from dashboard.accounts import logins
from dashboard.models import LoginSession, User

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
PASSWORD_MIN_LENGTH = 8
SESSION_CSRF_KEY = "csrf"
# The login's secret (see dashboard.accounts.logins); the store knows only its hash.
SESSION_SECRET_KEY = "sid"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


class UserInvalid(ValueError):
    """A username or password that cannot be used; nothing was written."""


def create_user(*, session: Session, username: str, password: str, is_admin: bool = False) -> User:
    """Create a user with an argon2 hash of ``password``."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserInvalid("a username is 2-40 letters, digits, '.', '_' or '-'")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise UserInvalid(f"a password has at least {PASSWORD_MIN_LENGTH} characters")
    user = User(username=username, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise UserInvalid(f"the username {username!r} is taken") from None
    session.refresh(user)
    return user


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The user with these credentials, or None.

    An unknown name costs the same argon2 work as a wrong password, so the answer's
    timing does not tell which usernames exist.
    """
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
        session.commit()
    return user


def log_in(conn: HTTPConnection, user: User, *, session: Session) -> LoginSession:
    """Start a login for ``user`` in the store and a fresh cookie session (a new CSRF
    token too: no fixation)."""
    assert user.id is not None
    login, secret = logins.start(
        session=session,
        user_id=user.id,
        address=conn.client.host if conn.client else None,
        user_agent=conn.headers.get("user-agent"),
    )
    conn.session.clear()
    conn.session[SESSION_SECRET_KEY] = secret
    conn.session[SESSION_CSRF_KEY] = secrets.token_urlsafe(32)
    return login


def signed_in(
    conn: HTTPConnection, *, session: Session, lifetimes: logins.Lifetimes
) -> tuple[LoginSession, User] | None:
    """This cookie's live login and its user, or None (no cookie, signed out, expired)."""
    secret = cookie_secret(conn)
    if secret is None:
        return None
    found = logins.find(session=session, secret=secret, lifetimes=lifetimes)
    if found is None:
        # The login ended: the cookie forgets it, so later requests are plainly anonymous.
        conn.session.pop(SESSION_SECRET_KEY, None)
    return found


def log_out(conn: HTTPConnection, *, session: Session, lifetimes: logins.Lifetimes) -> int | None:
    """End this cookie's login in the store and clear the cookie; the login's id, if any."""
    found = signed_in(conn, session=session, lifetimes=lifetimes)
    conn.session.clear()
    if found is None or found[0].id is None:
        return None
    logins.end(session=session, login_id=found[0].id)
    return found[0].id


def cookie_secret(conn: HTTPConnection) -> str | None:
    """The login secret the cookie carries (not yet checked against the store)."""
    value = conn.session.get(SESSION_SECRET_KEY)
    return value if isinstance(value, str) else None


def csrf_token(conn: HTTPConnection) -> str:
    """This session's CSRF token, created on first use."""
    token = conn.session.get(SESSION_CSRF_KEY)
    if not isinstance(token, str):
        token = conn.session[SESSION_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_matches(conn: HTTPConnection, submitted: str | None) -> bool:
    expected = conn.session.get(SESSION_CSRF_KEY)
    if not isinstance(expected, str) or not submitted:
        return False
    return secrets.compare_digest(expected.encode(), submitted.encode())
