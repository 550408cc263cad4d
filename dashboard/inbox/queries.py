"""Reading the inbox: who sees which notification, the lists, and the unread badge."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, bindparam, exists, func, literal, or_
from sqlmodel import Session, col, select

from dashboard.models import (
    Audience,
    Notification,
    NotificationArchive,
    NotificationRead,
    Severity,
    Subscription,
    User,
)


def visible_to(user_id: int) -> ColumnElement[bool]:
    """The SQL condition for notifications addressed to ``user_id``.

    Everyone's (unless the user muted them; critical ones cannot be muted), the user's
    own, and those of the topics the user is subscribed to now.
    """
    subscribed = select(Subscription.topic_id).where(Subscription.user_id == user_id)
    muted = exists().where(col(User.id) == user_id, col(User.mute_broadcasts).is_(True))
    return or_(
        and_(
            col(Notification.audience) == Audience.everyone,
            or_(col(Notification.severity) == Severity.critical, ~muted),
        ),
        and_(col(Notification.audience) == Audience.user, col(Notification.user_id) == user_id),
        and_(
            col(Notification.audience) == Audience.topic,
            col(Notification.topic_id).in_(subscribed),
        ),
    )


def is_read(user_id: int) -> ColumnElement[bool]:
    """The SQL condition for notifications ``user_id`` has read."""
    return exists().where(
        col(NotificationRead.notification_id) == col(Notification.id),
        col(NotificationRead.user_id) == user_id,
    )


def is_archived(user_id: int) -> ColumnElement[bool]:
    """The SQL condition for notifications ``user_id`` has archived."""
    return exists().where(
        col(NotificationArchive.notification_id) == col(Notification.id),
        col(NotificationArchive.user_id) == user_id,
    )


@dataclass(frozen=True, slots=True)
class InboxItem:
    notification: Notification
    read: bool
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Filters:
    """What the history page narrows the list to; the defaults are the inbox."""

    unread_only: bool = False
    severity: Severity | None = None
    topic_id: int | None = None
    archived: bool = False


# The notification poller asks this several times a second in every process and the answer
# is nearly always "no": built once, run as Core on a bare connection. An empty poll through
# the ORM cost about three times as much CPU (docs/benchmarks.md, "The idle floor").
_ANY_AFTER = select(Notification.id).where(col(Notification.id) > bindparam("cursor")).limit(1)


def any_after(connection: Connection, cursor: int) -> bool:
    """Whether a notification newer than ``cursor`` exists."""
    return connection.execute(_ANY_AFTER, {"cursor": cursor}).first() is not None


def newest_id(*, session: Session) -> int:
    """The id of the newest notification in the store (0 when there is none)."""
    return session.exec(select(func.max(Notification.id))).one() or 0


def inbox(
    *,
    session: Session,
    user_id: int,
    after: int = 0,
    before: int | None = None,
    limit: int = 50,
    filters: Filters = Filters(),  # noqa: B008  (frozen, so sharing the default is safe)
) -> list[InboxItem]:
    """The user's notifications with ``after < id < before`` that pass ``filters``, newest first."""
    archived = is_archived(user_id)
    query = select(Notification, is_read(user_id)).where(
        visible_to(user_id),
        col(Notification.id) > after,
        archived if filters.archived else ~archived,
    )
    if before is not None:
        query = query.where(col(Notification.id) < before)
    if filters.unread_only:
        query = query.where(~is_read(user_id))
    if filters.severity is not None:
        query = query.where(col(Notification.severity) == filters.severity)
    if filters.topic_id is not None:
        query = query.where(col(Notification.topic_id) == filters.topic_id)
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(limit)).all()
    return [InboxItem(notification=n, read=bool(r), archived=filters.archived) for n, r in rows]


def missed(*, session: Session, user_id: int, after: int, limit: int) -> list[InboxItem]:
    """The user's notifications after the cursor ``after``, oldest first, with their read
    and archived states (for replay)."""
    rows = session.exec(
        select(Notification, is_read(user_id), is_archived(user_id))
        .where(visible_to(user_id), col(Notification.id) > after)
        .order_by(col(Notification.id))
        .limit(limit)
    ).all()
    return [
        InboxItem(notification=n, read=bool(read), archived=bool(archived))
        for n, read, archived in rows
    ]


def find(*, session: Session, user_id: int, notification_id: int) -> InboxItem | None:
    """One notification as ``user_id`` sees it; None when it is not addressed to them."""
    row = session.exec(
        select(Notification, is_read(user_id), is_archived(user_id)).where(
            col(Notification.id) == notification_id, visible_to(user_id)
        )
    ).first()
    if row is None:
        return None
    notification, read, archived = row
    return InboxItem(notification=notification, read=bool(read), archived=bool(archived))


def by_ids(*, session: Session, user_id: int, ids: Collection[int]) -> list[InboxItem]:
    """The listed notifications that ``user_id`` may see, with their read state."""
    if not ids:
        return []
    rows = session.exec(
        select(Notification, is_read(user_id)).where(
            col(Notification.id).in_(ids), visible_to(user_id)
        )
    ).all()
    return [InboxItem(notification=n, read=bool(read)) for n, read in rows]


@dataclass(frozen=True, slots=True, order=True)
class Badge:
    """An unread count and how new it is.

    ``version`` is the user's inbox version when it was counted and ``cursor`` the newest
    notification id it counts. A count with a smaller (version, cursor) is older and must
    never replace a newer one on a page (a slow response racing a stream message).
    """

    version: int
    cursor: int
    count: int

    @property
    def stamp(self) -> str:
        return f"{self.version}.{self.cursor}"

    def plus_one(self, notification_id: int) -> Badge:
        """The badge after one more (unread) notification arrived."""
        return Badge(version=self.version, cursor=notification_id, count=self.count + 1)


def badge(*, session: Session, user_id: int, up_to: int | None = None) -> Badge:
    """The user's unread count with its version, read in one statement (one snapshot)."""
    limit: ColumnElement[int] = (
        literal(up_to)
        if up_to is not None
        else select(func.coalesce(func.max(Notification.id), 0)).scalar_subquery()
    )
    count = (
        select(func.count())
        .select_from(Notification)
        .where(visible_to(user_id), ~is_read(user_id), col(Notification.id) <= limit)
        .scalar_subquery()
    )
    row = session.exec(select(User.inbox_version, count, limit).where(User.id == user_id)).first()
    if row is None:
        return Badge(version=0, cursor=0, count=0)
    version, unread, cursor = row
    return Badge(version=version, cursor=int(cursor or 0), count=unread)


def unread_count(*, session: Session, user_id: int, up_to: int | None = None) -> int:
    """How many of the user's notifications (with ``id <= up_to``) are unread."""
    return badge(session=session, user_id=user_id, up_to=up_to).count
