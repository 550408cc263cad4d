"""Writing a user's read state: read, archived, muted, and the version that counts changes.

Each function here is one transaction and commits it. Routes go through
:mod:`dashboard.inbox.actions`, which also tells the user's open streams: a change made
here alone leaves the user's other tabs showing the old state.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from dashboard.inbox.queries import is_read, visible_to
from dashboard.models import (
    Notification,
    NotificationArchive,
    NotificationRead,
    Severity,
    User,
    utcnow,
)

_INSERT_CHUNK = 500


def bump_version(session: Session, user_id: int) -> None:
    """Count the user's read state as changed (call inside the changing transaction)."""
    session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(inbox_version=col(User.inbox_version) + 1)
    )


def mark_read(*, session: Session, user_id: int, notification_id: int) -> Notification | None:
    """Mark one notification read; None when it does not exist for this user."""
    notification = _visible(session, user_id, notification_id)
    if notification is None:
        return None
    _insert_ignoring_duplicates(session, NotificationRead, user_id, [notification_id])
    bump_version(session, user_id)
    session.commit()
    return notification


def mark_unread(*, session: Session, user_id: int, notification_id: int) -> Notification | None:
    """Mark one notification unread again; None when it does not exist for this user."""
    notification = _visible(session, user_id, notification_id)
    if notification is None:
        return None
    session.execute(
        delete(NotificationRead).where(
            col(NotificationRead.user_id) == user_id,
            col(NotificationRead.notification_id) == notification_id,
        )
    )
    bump_version(session, user_id)
    session.commit()
    return notification


def mark_many(
    *, session: Session, user_id: int, notification_ids: Collection[int], archive: bool
) -> list[int]:
    """Mark the listed notifications read, and with ``archive`` archive them too, in one
    transaction; return the ids that are the user's (others are ignored), newest first."""
    if not notification_ids:
        return []
    found = session.exec(
        select(Notification.id).where(
            col(Notification.id).in_(notification_ids), visible_to(user_id)
        )
    ).all()
    ids = sorted((i for i in found if i is not None), reverse=True)
    if ids:
        _insert_ignoring_duplicates(session, NotificationRead, user_id, ids)
        if archive:
            _insert_ignoring_duplicates(session, NotificationArchive, user_id, ids)
        bump_version(session, user_id)
        session.commit()
    return ids


def mark_all_read(
    *,
    session: Session,
    user_id: int,
    up_to: int | None = None,
    severity: Severity | None = None,
    topic_id: int | None = None,
) -> list[int]:
    """Mark the user's unread notifications read; return the ids that changed, newest first.

    ``up_to`` (the newest id the reader's page shows) and the page's filter (``severity``,
    ``topic_id``) bound what is marked: what arrived later, or is hidden by the filter,
    the reader never saw and stays unread. None means no bound.
    """
    query = select(Notification.id).where(visible_to(user_id), ~is_read(user_id))
    if up_to is not None:
        query = query.where(col(Notification.id) <= up_to)
    if severity is not None:
        query = query.where(col(Notification.severity) == severity)
    if topic_id is not None:
        query = query.where(col(Notification.topic_id) == topic_id)
    unread_ids = session.exec(query.order_by(col(Notification.id).desc())).all()
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
    notification = _visible(session, user_id, notification_id)
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


def set_muted(*, session: Session, user_id: int, muted: bool) -> None:
    """Mute (or unmute) non-critical notifications to everyone for this user."""
    session.execute(update(User).where(col(User.id) == user_id).values(mute_broadcasts=muted))
    bump_version(session, user_id)
    session.commit()


def _visible(session: Session, user_id: int, notification_id: int) -> Notification | None:
    return session.exec(
        select(Notification).where(col(Notification.id) == notification_id, visible_to(user_id))
    ).first()


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
