"""Notifications: who may see which, creating them, unread counts and read state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, func, or_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from dashboard.models import (
    Audience,
    Notification,
    NotificationRead,
    Severity,
    Subscription,
    Topic,
    User,
    utcnow,
)

TITLE_MAX = 120
BODY_MAX = 2000


def visible_to(user_id: int) -> ColumnElement[bool]:
    """The SQL condition for notifications addressed to ``user_id``.

    Everyone's, the user's own, and those of the topics the user is subscribed to now.
    """
    subscribed = select(Subscription.topic_id).where(Subscription.user_id == user_id)
    return or_(
        col(Notification.audience) == Audience.everyone,
        and_(col(Notification.audience) == Audience.user, col(Notification.user_id) == user_id),
        and_(
            col(Notification.audience) == Audience.topic,
            col(Notification.topic_id).in_(subscribed),
        ),
    )


def _is_read(user_id: int) -> ColumnElement[bool]:
    return exists().where(
        col(NotificationRead.notification_id) == col(Notification.id),
        col(NotificationRead.user_id) == user_id,
    )


@dataclass(frozen=True, slots=True)
class InboxItem:
    notification: Notification
    read: bool


def newest_id(*, session: Session) -> int:
    """The id of the newest notification in the store (0 when there is none)."""
    return session.exec(select(func.max(Notification.id))).one() or 0


def inbox(
    *, session: Session, user_id: int, after: int = 0, before: int | None = None, limit: int = 50
) -> list[InboxItem]:
    """The user's notifications with ``after < id < before``, newest first."""
    query = select(Notification, _is_read(user_id)).where(
        visible_to(user_id), col(Notification.id) > after
    )
    if before is not None:
        query = query.where(col(Notification.id) < before)
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(limit)).all()
    return [InboxItem(notification=n, read=bool(read)) for n, read in rows]


def missed(*, session: Session, user_id: int, after: int, limit: int) -> list[InboxItem]:
    """The user's notifications after the cursor ``after``, oldest first (for replay)."""
    rows = session.exec(
        select(Notification, _is_read(user_id))
        .where(visible_to(user_id), col(Notification.id) > after)
        .order_by(col(Notification.id))
        .limit(limit)
    ).all()
    return [InboxItem(notification=n, read=bool(read)) for n, read in rows]


def unread_count(*, session: Session, user_id: int, up_to: int | None = None) -> int:
    """How many of the user's notifications (with ``id <= up_to``) are unread."""
    query = (
        select(func.count())
        .select_from(Notification)
        .where(visible_to(user_id), ~_is_read(user_id))
    )
    if up_to is not None:
        query = query.where(col(Notification.id) <= up_to)
    return session.exec(query).one()


def mark_read(*, session: Session, user_id: int, notification_id: int) -> Notification | None:
    """Mark one notification read; None when it does not exist for this user."""
    notification = session.exec(
        select(Notification).where(col(Notification.id) == notification_id, visible_to(user_id))
    ).first()
    if notification is None:
        return None
    _insert_reads(session, user_id, [notification_id])
    return notification


def mark_all_read(*, session: Session, user_id: int) -> int:
    """Mark every visible notification read; return how many changed."""
    unread_ids = session.exec(
        select(Notification.id).where(visible_to(user_id), ~_is_read(user_id))
    ).all()
    ids = [i for i in unread_ids if i is not None]
    _insert_reads(session, user_id, ids)
    return len(ids)


def _insert_reads(session: Session, user_id: int, notification_ids: Sequence[int]) -> None:
    """Record reads; one that is already there is left alone.

    Two clicks (or two tabs) at once both insert: ON CONFLICT DO NOTHING makes the second
    a no-op instead of an IntegrityError.
    """
    if not notification_ids:
        return
    now = utcnow()
    rows = [{"user_id": user_id, "notification_id": n, "read_at": now} for n in notification_ids]
    dialect = session.get_bind().dialect.name
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert_(NotificationRead).values(rows).on_conflict_do_nothing())
    session.commit()


@dataclass(frozen=True, slots=True)
class Draft:
    """A notification as an admin typed it, before validation."""

    title: str = ""
    body: str = ""
    severity: str = Severity.info.value
    audience: str = Audience.everyone.value
    topic: str = ""
    username: str = ""
    link: str = ""


class DraftInvalid(Exception):
    """The draft has field errors; nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def create_notification(*, session: Session, draft: Draft, created_by: int | None) -> Notification:
    """Validate ``draft`` and write it as one notification, or raise :class:`DraftInvalid`."""
    errors: dict[str, str] = {}
    title = draft.title.strip()
    body = draft.body.strip()
    link = draft.link.strip()
    if not title:
        errors["title"] = "Enter a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title to {TITLE_MAX} characters (it has {len(title)})."
    if len(body) > BODY_MAX:
        errors["body"] = f"Keep the message to {BODY_MAX} characters (it has {len(body)})."
    if draft.severity not in Severity.__members__:
        errors["severity"] = "Choose info, success, warning or critical."
    if link and not (
        link.startswith(("https://", "http://"))
        or (link.startswith("/") and not link.startswith("//"))
    ):
        errors["link"] = "A link starts with https://, http:// or /."
    elif len(link) > 500:
        errors["link"] = "Keep the link to 500 characters."

    topic_id: int | None = None
    user_id: int | None = None
    if draft.audience == Audience.topic:
        topic = session.exec(select(Topic).where(Topic.slug == draft.topic.strip())).first()
        if topic is None:
            errors["topic"] = "Choose an existing topic."
        else:
            topic_id = topic.id
    elif draft.audience == Audience.user:
        name = draft.username.strip()
        user = session.exec(select(User).where(User.username == name)).first()
        if user is None:
            errors["username"] = "No user has that name." if name else "Enter a username."
        else:
            user_id = user.id
    elif draft.audience != Audience.everyone:
        errors["audience"] = "Choose everyone, a topic or one user."
    if errors:
        raise DraftInvalid(errors)

    notification = Notification(
        title=title,
        body=body,
        severity=Severity(draft.severity),
        audience=Audience(draft.audience),
        topic_id=topic_id,
        user_id=user_id,
        link=link or None,
        created_by=created_by,
    )
    session.add(notification)
    session.commit()
    session.refresh(notification)
    return notification


def recent(*, session: Session, limit: int = 20) -> Sequence[Notification]:
    """The newest notifications of all audiences (for the admin page)."""
    return session.exec(
        select(Notification).order_by(col(Notification.id).desc()).limit(limit)
    ).all()
