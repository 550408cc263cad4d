"""Leases in the store: a job that must run in one process at a time claims one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from dashboard.models import Lease, utcnow


def claim(*, session: Session, name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` for ``holder``; True when ``holder`` now has it.

    One conditional UPDATE decides atomically: it succeeds when the lease is ours or has
    expired. When no row exists yet, the unique name lets exactly one INSERT win.
    """
    now = utcnow()
    result = session.execute(
        update(Lease)
        .where(
            col(Lease.name) == name,
            or_(col(Lease.holder) == holder, col(Lease.expires_at) < now),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    session.commit()
    if getattr(result, "rowcount", 0) == 1:
        return True
    try:
        session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def release(*, session: Session, name: str, holder: str) -> None:
    """Give the lease up at once so another process need not wait for it to expire."""
    session.execute(
        update(Lease)
        .where(col(Lease.name) == name, col(Lease.holder) == holder)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
