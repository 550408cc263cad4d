"""Notifications: who may see which, creating them, unread counts and read state."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from dashboard.models import (
    Audience,
    Notification,
    NotificationArchive,
    NotificationRead,
    ScheduledNotification,
    Severity,
    Subscription,
    Topic,
    User,
    utcnow,
)

TITLE_MAX = 120
BODY_MAX = 2000
_INSERT_CHUNK = 500


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


def _is_read(user_id: int) -> ColumnElement[bool]:
    return exists().where(
        col(NotificationRead.notification_id) == col(Notification.id),
        col(NotificationRead.user_id) == user_id,
    )


def _is_archived(user_id: int) -> ColumnElement[bool]:
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


# The pollers ask these several times a second in every process and the answer is nearly
# always "no": built once, run as Core on a bare connection. An empty poll through the ORM
# cost about three times as much CPU (docs/benchmarks.md, "The idle floor").
_ANY_AFTER = select(Notification.id).where(col(Notification.id) > bindparam("cursor")).limit(1)
_ANY_DUE = (
    select(ScheduledNotification.id)
    .where(
        col(ScheduledNotification.send_at) <= bindparam("now"),
        col(ScheduledNotification.notification_id).is_(None),
    )
    .limit(1)
)


def any_after(connection: Connection, cursor: int) -> bool:
    """Whether a notification newer than ``cursor`` exists."""
    return connection.execute(_ANY_AFTER, {"cursor": cursor}).first() is not None


def any_due(connection: Connection, now: datetime | None = None) -> bool:
    """Whether a scheduled notification is due and not yet published."""
    return connection.execute(_ANY_DUE, {"now": now or utcnow()}).first() is not None


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
    archived = _is_archived(user_id)
    query = select(Notification, _is_read(user_id)).where(
        visible_to(user_id),
        col(Notification.id) > after,
        archived if filters.archived else ~archived,
    )
    if before is not None:
        query = query.where(col(Notification.id) < before)
    if filters.unread_only:
        query = query.where(~_is_read(user_id))
    if filters.severity is not None:
        query = query.where(col(Notification.severity) == filters.severity)
    if filters.topic_id is not None:
        query = query.where(col(Notification.topic_id) == filters.topic_id)
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(limit)).all()
    return [InboxItem(notification=n, read=bool(r), archived=filters.archived) for n, r in rows]


def missed(*, session: Session, user_id: int, after: int, limit: int) -> list[InboxItem]:
    """The user's notifications after the cursor ``after``, oldest first (for replay)."""
    rows = session.exec(
        select(Notification, _is_read(user_id))
        .where(visible_to(user_id), col(Notification.id) > after)
        .order_by(col(Notification.id))
        .limit(limit)
    ).all()
    return [InboxItem(notification=n, read=bool(read)) for n, read in rows]


def find(*, session: Session, user_id: int, notification_id: int) -> InboxItem | None:
    """One notification as ``user_id`` sees it; None when it is not addressed to them."""
    row = session.exec(
        select(Notification, _is_read(user_id), _is_archived(user_id)).where(
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
        select(Notification, _is_read(user_id)).where(
            col(Notification.id).in_(ids), visible_to(user_id)
        )
    ).all()
    return [InboxItem(notification=n, read=bool(read)) for n, read in rows]


def unread_count(*, session: Session, user_id: int, up_to: int | None = None) -> int:
    """How many of the user's notifications (with ``id <= up_to``) are unread."""
    return badge(session=session, user_id=user_id, up_to=up_to).count


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
        .where(visible_to(user_id), ~_is_read(user_id), col(Notification.id) <= limit)
        .scalar_subquery()
    )
    row = session.exec(select(User.inbox_version, count, limit).where(User.id == user_id)).first()
    if row is None:
        return Badge(version=0, cursor=0, count=0)
    version, unread, cursor = row
    return Badge(version=version, cursor=int(cursor or 0), count=unread)


def bump_version(session: Session, user_id: int) -> None:
    """Count the user's read state as changed (call inside the changing transaction)."""
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(inbox_version=col(User.inbox_version) + 1)
    )


def mark_read(*, session: Session, user_id: int, notification_id: int) -> Notification | None:
    """Mark one notification read; None when it does not exist for this user."""
    notification = session.exec(
        select(Notification).where(col(Notification.id) == notification_id, visible_to(user_id))
    ).first()
    if notification is None:
        return None
    _insert_ignoring_duplicates(session, NotificationRead, user_id, [notification_id])
    bump_version(session, user_id)
    session.commit()
    return notification


def mark_all_read(*, session: Session, user_id: int) -> list[int]:
    """Mark every visible notification read; return the ids that changed, newest first."""
    unread_ids = session.exec(
        select(Notification.id)
        .where(visible_to(user_id), ~_is_read(user_id))
        .order_by(col(Notification.id).desc())
    ).all()
    ids = [i for i in unread_ids if i is not None]
    if ids:
        _insert_ignoring_duplicates(session, NotificationRead, user_id, ids)
        bump_version(session, user_id)
        session.commit()
    return ids


def set_archived(
    *, session: Session, user_id: int, notification_id: int, archived: bool
) -> Notification | None:
    """Move a notification out of the inbox (which also marks it read) or back into it."""
    notification = session.exec(
        select(Notification).where(col(Notification.id) == notification_id, visible_to(user_id))
    ).first()
    if notification is None:
        return None
    if archived:
        _insert_ignoring_duplicates(session, NotificationRead, user_id, [notification_id])
        _insert_ignoring_duplicates(session, NotificationArchive, user_id, [notification_id])
    else:
        session.execute(
            delete(NotificationArchive).where(
                col(NotificationArchive.user_id) == user_id,
                col(NotificationArchive.notification_id) == notification_id,
            )
        )
    bump_version(session, user_id)
    session.commit()
    return notification


def _insert_ignoring_duplicates(
    session: Session,
    table: type[NotificationRead] | type[NotificationArchive],
    user_id: int,
    notification_ids: Sequence[int],
) -> None:
    """Record per-user state rows; one that is already there is left alone.

    Two clicks (or two tabs) at once both insert: ON CONFLICT DO NOTHING makes the second
    a no-op instead of an IntegrityError.
    """
    stamp = "read_at" if table is NotificationRead else "archived_at"
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # In chunks: SQLite allows only so many bound parameters in one statement.
    for start in range(0, len(notification_ids), _INSERT_CHUNK):
        chunk = notification_ids[start : start + _INSERT_CHUNK]
        rows = [{"user_id": user_id, "notification_id": n, stamp: now} for n in chunk]
        session.execute(insert_(table).values(rows).on_conflict_do_nothing())


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
    # Empty: now. Else an ISO 8601 time; one without a zone is read as UTC.
    send_at: str = ""


class DraftInvalid(Exception):
    """The draft has field errors; nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# How far ahead a notification can be scheduled.
SCHEDULE_HORIZON = timedelta(days=366)


# What a notification says and to whom: shared by a checked draft, a scheduled
# notification and the notification it becomes.
CONTENT_FIELDS = ("title", "body", "severity", "audience", "topic_id", "user_id", "link")


@dataclass(frozen=True, slots=True)
class Checked:
    """A valid draft, resolved to what the store holds."""

    title: str
    body: str
    severity: Severity
    audience: Audience
    topic_id: int | None
    user_id: int | None
    link: str | None
    send_at: datetime | None

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}


def check(*, session: Session, draft: Draft, now: datetime | None = None) -> Checked:
    """Validate ``draft`` against the store, or raise :class:`DraftInvalid` naming each field."""
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
        slug = draft.topic.strip()
        topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
        if topic is None:
            errors["topic"] = "Choose an existing topic." if not slug else f"No topic {slug!r}."
        elif topic.archived_at is not None:
            errors["topic"] = f"The topic {topic.name!r} is retired; choose another."
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

    send_at = _parse_send_at(draft.send_at, now or utcnow(), errors)
    if errors:
        raise DraftInvalid(errors)
    return Checked(
        title=title,
        body=body,
        severity=Severity(draft.severity),
        audience=Audience(draft.audience),
        topic_id=topic_id,
        user_id=user_id,
        link=link or None,
        send_at=send_at,
    )


def _parse_send_at(value: str, now: datetime, errors: dict[str, str]) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        errors["send_at"] = "Give the time as YYYY-MM-DD HH:MM (UTC)."
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        errors["send_at"] = "That time has passed; choose a time in the future, or leave it empty."
    elif when - now > SCHEDULE_HORIZON:
        errors["send_at"] = "Schedule at most a year ahead."
    return when


def preview(*, session: Session, draft: Draft) -> Notification:
    """The notification ``draft`` would become, not written anywhere (for the admin's preview)."""
    checked = check(session=session, draft=draft)
    return Notification(id=0, created_at=checked.send_at or utcnow(), **checked.fields())


def create_notification(*, session: Session, draft: Draft, created_by: int | None) -> Notification:
    """Validate ``draft`` and write it as one notification, or raise :class:`DraftInvalid`."""
    checked = check(session=session, draft=draft)
    if checked.send_at is not None:
        raise DraftInvalid({"send_at": "Use schedule() for a notification with a send time."})
    return _publish(session, checked.fields(), created_by)


def schedule(
    *, session: Session, draft: Draft, created_by: int | None
) -> Notification | ScheduledNotification:
    """Send ``draft`` now, or store it to be published at its ``send_at``."""
    checked = check(session=session, draft=draft)
    if checked.send_at is None:
        return _publish(session, checked.fields(), created_by)
    scheduled = ScheduledNotification(
        **checked.fields(), send_at=checked.send_at, created_by=created_by
    )
    session.add(scheduled)
    session.commit()
    session.refresh(scheduled)
    return scheduled


def _publish(session: Session, fields: dict[str, Any], created_by: int | None) -> Notification:
    notification = Notification(**fields, created_by=created_by)
    session.add(notification)
    session.commit()
    session.refresh(notification)
    return notification


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


def set_muted(*, session: Session, user_id: int, muted: bool) -> None:
    """Mute (or unmute) non-critical notifications to everyone for this user."""
    session.execute(update(User).where(col(User.id) == user_id).values(mute_broadcasts=muted))
    bump_version(session, user_id)
    session.commit()
