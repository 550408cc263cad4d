"""Delivery statistics for the admin page: recent notifications, recipients and reads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from dashboard.models import Audience, Notification, NotificationRead, Severity, Subscription, User


@dataclass(frozen=True, slots=True)
class Delivery:
    """A sent notification with how many of its recipients have read it."""

    notification: Notification
    recipients: int
    read: int


def recent(*, session: Session, limit: int = 20) -> list[Delivery]:
    """The newest notifications of all audiences with read counts (for the admin page).

    Recipients are counted as the audience stands now (today's subscribers of a topic).
    """
    notifications = session.exec(
        select(Notification).order_by(col(Notification.id).desc()).limit(limit)
    ).all()
    ids = [n.id for n in notifications]
    reads = dict(
        session.exec(
            select(NotificationRead.notification_id, func.count())
            .where(col(NotificationRead.notification_id).in_(ids))
            .group_by(col(NotificationRead.notification_id))
        ).all()
    )
    topic_ids = {n.topic_id for n in notifications if n.topic_id is not None}
    subscribers = dict(
        session.exec(
            select(Subscription.topic_id, func.count())
            .where(col(Subscription.topic_id).in_(topic_ids))
            .group_by(col(Subscription.topic_id))
        ).all()
    )
    users = session.exec(select(func.count()).select_from(User)).one()
    unmuted = session.exec(
        select(func.count()).select_from(User).where(col(User.mute_broadcasts).is_(False))
    ).one()

    def recipients(n: Notification) -> int:
        if n.audience == Audience.user:
            return 1
        if n.audience == Audience.topic:
            return subscribers.get(n.topic_id or 0, 0)
        return users if n.severity == Severity.critical else unmuted

    return [
        Delivery(notification=n, recipients=recipients(n), read=reads.get(n.id or 0, 0))
        for n in notifications
    ]
