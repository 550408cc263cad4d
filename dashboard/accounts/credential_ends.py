"""The credential end log: one row each time a login session or an API token ends.

Written in the same transaction as the end itself; every process reads it after a cursor
(dashboard.live.credential_poller) and ends the streams that credential opened there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from dashboard.models import CredentialEnd

Kind = Literal["login", "token"]


def record(*, session: Session, kind: Kind, credential_id: int, reason: str) -> None:
    """Add an end to the session's transaction (the caller commits)."""
    session.add(CredentialEnd(kind=kind, credential_id=credential_id, reason=reason))


def newest_id(*, session: Session) -> int:
    newest = session.exec(select(func.max(CredentialEnd.id))).one()
    return newest or 0


def after(*, session: Session, cursor: int, limit: int) -> list[CredentialEnd]:
    """Ends logged after ``cursor``, oldest first, at most ``limit``."""
    return list(
        session.exec(
            select(CredentialEnd)
            .where(col(CredentialEnd.id) > cursor)
            .order_by(col(CredentialEnd.id))
            .limit(limit)
        ).all()
    )


def prune(*, session: Session, before: datetime) -> None:
    """Forget ends logged before ``before`` (a process reading later starts at the newest)."""
    session.exec(delete(CredentialEnd).where(col(CredentialEnd.created_at) < before))
    session.commit()
