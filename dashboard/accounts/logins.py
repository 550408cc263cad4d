"""Login sessions in the store: one row per signed-in browser, so every worker and node
agrees on who is signed in, and signing out ends a session everywhere at once.

The cookie (signed by Starlette's SessionMiddleware) carries a random secret; the row keeps
only its SHA-256. A session ends when it is signed out, when it has been idle for
``idle`` (no request and no open page), or ``absolute`` after sign-in, whichever is first
(OWASP Session Management Cheat Sheet, "Session Expiration"). Each end is written to the
credential end log (:mod:`dashboard.accounts.credential_ends`) in the same transaction,
which is how the streams the session opened learn of it in every process.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select, update

from dashboard.accounts import credential_ends
from dashboard.models import LoginSession, User, utcnow

# last_seen_at is written at most this often per session: a page's every request must not
# be a write.
TOUCH_EVERY = timedelta(minutes=1)
_USER_AGENT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long a login lasts: ``idle`` after its last use, ``absolute`` after sign-in."""

    idle: timedelta
    absolute: timedelta

    def expired(self, login: LoginSession, now: datetime) -> bool:
        return now >= login.last_seen_at + self.idle or now >= login.created_at + self.absolute


def _digest(secret: str) -> str:
    # 128 random bits: a fast hash is enough (nothing to guess from a dictionary).
    return hashlib.sha256(secret.encode()).hexdigest()


def start(
    *, session: Session, user_id: int, address: str | None, user_agent: str | None
) -> tuple[LoginSession, str]:
    """Create a login for ``user_id``; return the row and its secret (for the cookie only)."""
    secret = secrets.token_urlsafe(16)
    now = utcnow()
    row = LoginSession(
        user_id=user_id,
        created_at=now,
        last_seen_at=now,
        secret_hash=_digest(secret),
        address=address,
        user_agent=(user_agent or "")[:_USER_AGENT_CHARS] or None,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, secret


def find(
    *, session: Session, secret: str, lifetimes: Lifetimes, now: datetime | None = None
) -> tuple[LoginSession, User] | None:
    """The live login with this secret and its user, or None.

    A login found expired is ended (and logged) here; a live one has ``last_seen_at``
    moved to ``now`` when it is older than :data:`TOUCH_EVERY`.
    """
    if not secret or len(secret) > 100:
        return None
    now = now or utcnow()
    found = session.exec(
        select(LoginSession, User)
        .join(User, col(User.id) == col(LoginSession.user_id))
        .where(LoginSession.secret_hash == _digest(secret))
    ).first()
    if found is None:
        return None
    login, user = found
    if lifetimes.expired(login, now):
        _end_rows(session, [login], reason="signed-out")
        session.commit()
        return None
    if now - login.last_seen_at >= TOUCH_EVERY:
        login.last_seen_at = now
        session.add(login)
        session.commit()
        session.refresh(login)
    return login, user


def list_for(
    *, session: Session, user_id: int, lifetimes: Lifetimes, now: datetime | None = None
) -> list[LoginSession]:
    """The user's live logins, most recently used first."""
    now = now or utcnow()
    rows = session.exec(
        select(LoginSession)
        .where(LoginSession.user_id == user_id)
        .order_by(col(LoginSession.last_seen_at).desc(), col(LoginSession.id).desc())
    ).all()
    return [row for row in rows if not lifetimes.expired(row, now)]


def end(*, session: Session, login_id: int, user_id: int | None = None) -> bool:
    """Sign one login out (only ``user_id``'s, when given); False if there is no such login."""
    row = session.get(LoginSession, login_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        return False
    _end_rows(session, [row], reason="signed-out")
    session.commit()
    return True


def end_all(*, session: Session, user_id: int) -> list[int]:
    """Sign every login of ``user_id`` out ("sign out everywhere"); their ids."""
    rows = session.exec(select(LoginSession).where(LoginSession.user_id == user_id)).all()
    _end_rows(session, rows, reason="signed-out")
    session.commit()
    return [row.id for row in rows if row.id is not None]


def exists(*, session: Session, login_id: int) -> bool:
    """The login has not been signed out (its lifetimes are checked by the sweep)."""
    return session.get(LoginSession, login_id) is not None


def holds(login: LoginSession, secret: str | None) -> bool:
    """``secret`` is this login's (the settings page marks "this browser" with it)."""
    return secret is not None and secrets.compare_digest(login.secret_hash, _digest(secret))


def keep_alive(
    *, session: Session, login_ids: Collection[int], now: datetime | None = None
) -> None:
    """Mark these logins used now: an open page counts as use, so it never goes idle."""
    if not login_ids:
        return
    session.exec(
        update(LoginSession)
        .where(col(LoginSession.id).in_(login_ids))
        .values(last_seen_at=now or utcnow())
    )
    session.commit()


def end_expired(
    *, session: Session, lifetimes: Lifetimes, now: datetime | None = None, limit: int = 500
) -> int:
    """End logins past either lifetime (logging each end); how many were ended."""
    now = now or utcnow()
    rows = session.exec(
        select(LoginSession)
        .where(
            (col(LoginSession.last_seen_at) <= now - lifetimes.idle)
            | (col(LoginSession.created_at) <= now - lifetimes.absolute)
        )
        .limit(limit)
    ).all()
    _end_rows(session, rows, reason="signed-out")
    session.commit()
    return len(rows)


def _end_rows(session: Session, rows: Sequence[LoginSession], *, reason: str) -> None:
    ids = [row.id for row in rows if row.id is not None]
    if not ids:
        return
    session.exec(delete(LoginSession).where(col(LoginSession.id).in_(ids)))
    for login_id in ids:
        credential_ends.record(session=session, kind="login", credential_id=login_id, reason=reason)
