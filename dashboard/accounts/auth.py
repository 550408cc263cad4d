"""Passwords (argon2), users, the login session, and CSRF tokens."""

from __future__ import annotations

import re
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.requests import HTTPConnection

from dashboard.models import User

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")
PASSWORD_MIN_LENGTH = 8
SESSION_USER_KEY = "user_id"
SESSION_CSRF_KEY = "csrf"
# A random id per login, so the streams a login opened can be ended with it.
SESSION_ID_KEY = "sid"
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


def log_in(conn: HTTPConnection, user: User) -> None:
    """Start a fresh session for ``user`` (a new CSRF token too: no fixation)."""
    conn.session.clear()
    conn.session[SESSION_USER_KEY] = user.id
    conn.session[SESSION_ID_KEY] = secrets.token_urlsafe(16)
    conn.session[SESSION_CSRF_KEY] = secrets.token_urlsafe(32)


def log_out(conn: HTTPConnection) -> None:
    conn.session.clear()


def session_user_id(conn: HTTPConnection) -> int | None:
    value = conn.session.get(SESSION_USER_KEY)
    return value if isinstance(value, int) else None


def login_session_id(conn: HTTPConnection) -> str | None:
    """The id of this login (None for a session from before ids, or no login)."""
    value = conn.session.get(SESSION_ID_KEY)
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
