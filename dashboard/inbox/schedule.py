"""Notifications to publish later: stored, published when due (once across processes),
listed and cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, update
from sqlmodel import Session, col, select

from dashboard.inbox.compose import CONTENT_FIELDS, Checked, write_once
from dashboard.models import Notification, ScheduledNotification, utcnow

# The scheduled publisher asks this in every process and the answer is nearly always "no":
# built once, run as Core on a bare connection (see queries.any_after).
_ANY_DUE = (
    select(ScheduledNotification.id)
    .where(
        col(ScheduledNotification.send_at) <= bindparam("now"),
        col(ScheduledNotification.notification_id).is_(None),
    )
    .limit(1)
)


def schedule(
    *,
    session: Session,
    checked: Checked,
    created_by: int | None,
    idempotency_key: str | None = None,
) -> ScheduledNotification:
    """Store ``checked`` to be published at its ``send_at`` (once per idempotency key)."""
    if checked.send_at is None:
        raise ValueError("a notification without a send time is published, not scheduled")
    scheduled = ScheduledNotification(
        **checked.fields(),
        send_at=checked.send_at,
        created_by=created_by,
        idempotency_key=idempotency_key,
    )
    return write_once(session, scheduled)


def any_due(connection: Connection, now: datetime | None = None) -> bool:
    """Whether a scheduled notification is due and not yet published."""
    return connection.execute(_ANY_DUE, {"now": now or utcnow()}).first() is not None


def publish_due(*, session: Session, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Publish the scheduled notifications whose time has come; return the new ids.

    Every process runs this. Each row is claimed by a conditional UPDATE in the same
    transaction as its insert, so exactly one process publishes it: a second claimant's
    UPDATE matches nothing and its insert is rolled back.
    """
    due = session.exec(
        select(ScheduledNotification)
        .where(
            col(ScheduledNotification.send_at) <= (now or utcnow()),
            col(ScheduledNotification.notification_id).is_(None),
        )
        .order_by(col(ScheduledNotification.send_at), col(ScheduledNotification.id))
        .limit(limit)
    ).all()
    published: list[int] = []
    for row in due:
        notification = Notification(
            **{name: getattr(row, name) for name in CONTENT_FIELDS}, created_by=row.created_by
        )
        session.add(notification)
        session.flush()
        claimed = session.execute(
            update(ScheduledNotification)
            .where(
                col(ScheduledNotification.id) == row.id,
                col(ScheduledNotification.notification_id).is_(None),
            )
            .values(notification_id=notification.id)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()  # another process published it first
            continue
        session.commit()
        assert notification.id is not None
        published.append(notification.id)
    return published


def pending(*, session: Session) -> Sequence[ScheduledNotification]:
    """Scheduled notifications not published yet, soonest first."""
    return session.exec(
        select(ScheduledNotification)
        .where(col(ScheduledNotification.notification_id).is_(None))
        .order_by(col(ScheduledNotification.send_at), col(ScheduledNotification.id))
    ).all()


def cancel_scheduled(*, session: Session, scheduled_id: int) -> bool:
    """Drop a scheduled notification that has not gone out; False when there is none."""
    result = session.execute(
        delete(ScheduledNotification).where(
            col(ScheduledNotification.id) == scheduled_id,
            col(ScheduledNotification.notification_id).is_(None),
        )
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]
