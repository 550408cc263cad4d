"""Each change to the inbox a person asks for: written, then told to live clients.

A route parses its request and calls one of these. The write commits before the function
returns (see :mod:`dashboard.inbox.read_state`), and only then is the
:class:`~dashboard.inbox.live.LiveNotifier` told: a write that fails raises, and a
notification that is not the user's returns None, before any stream hears of it.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session

from dashboard.inbox import compose, read_state, schedule, topics
from dashboard.inbox.live import LiveNotifier
from dashboard.inbox.queries import InboxItem, find
from dashboard.models import Notification, ScheduledNotification, Severity


def post(
    *,
    session: Session,
    live: LiveNotifier,
    draft: compose.Draft,
    created_by: int | None,
    idempotency_key: str | None = None,
) -> Notification | ScheduledNotification:
    """Send ``draft`` now, or store it to be published at its ``send_at``.

    The same ``idempotency_key`` from the same poster posts once: a repeat returns the
    first post. Raises :class:`~dashboard.inbox.compose.DraftInvalid` (nothing written)
    for a bad draft.
    """
    checked = compose.check(session=session, draft=draft)
    if checked.send_at is not None:
        # The scheduled publisher wakes the poller when the time comes.
        return schedule.schedule(
            session=session, checked=checked, created_by=created_by, idempotency_key=idempotency_key
        )
    notification = compose.publish(
        session=session, checked=checked, created_by=created_by, idempotency_key=idempotency_key
    )
    live.notification_posted()
    return notification


def mark_read(
    *, session: Session, live: LiveNotifier, user_id: int, notification_id: int
) -> Notification | None:
    """Mark one notification read; None when it does not exist for this user."""
    notification = read_state.mark_read(
        session=session, user_id=user_id, notification_id=notification_id
    )
    if notification is not None:
        live.read_state_changed(user_id, read_ids=[notification_id])
    return notification


def mark_unread(
    *, session: Session, live: LiveNotifier, user_id: int, notification_id: int
) -> Notification | None:
    """Mark one notification unread again; None when it does not exist for this user."""
    notification = read_state.mark_unread(
        session=session, user_id=user_id, notification_id=notification_id
    )
    if notification is not None:
        live.read_state_changed(user_id, unread_ids=[notification_id])
    return notification


def mark_selected(
    *,
    session: Session,
    live: LiveNotifier,
    user_id: int,
    notification_ids: Collection[int],
    archive: bool = False,
) -> list[int]:
    """Mark the selected notifications read (and with ``archive``, archive them) at once;
    return the ids that were the user's, newest first. Ids not addressed to the user are
    ignored, as a missing one is: a selection may hold one deleted meanwhile."""
    ids = read_state.mark_many(
        session=session, user_id=user_id, notification_ids=notification_ids, archive=archive
    )
    if ids:
        live.read_state_changed(user_id, read_ids=ids, archived_ids=ids if archive else ())
    return ids


def open_notification(
    *, session: Session, live: LiveNotifier, user_id: int, notification_id: int
) -> InboxItem | None:
    """The notification as the user saw it before opening it, which marks it read.

    None when it does not exist for this user.
    """
    item = find(session=session, user_id=user_id, notification_id=notification_id)
    if item is not None and not item.read:
        mark_read(session=session, live=live, user_id=user_id, notification_id=notification_id)
    return item


def mark_all_read(
    *,
    session: Session,
    live: LiveNotifier,
    user_id: int,
    up_to: int | None = None,
    severity: Severity | None = None,
    topic_id: int | None = None,
) -> list[int]:
    """Mark read what the reader's page shows (see :func:`read_state.mark_all_read`) and
    tell the user's tabs; return the ids that changed, newest first."""
    changed = read_state.mark_all_read(
        session=session, user_id=user_id, up_to=up_to, severity=severity, topic_id=topic_id
    )
    if changed:
        live.read_state_changed(user_id, read_ids=changed)
    return changed


def archive(
    *, session: Session, live: LiveNotifier, user_id: int, notification_id: int
) -> Notification | None:
    """Move a notification out of the inbox, marking it read; None when it is not theirs."""
    notification = read_state.set_archived(
        session=session, user_id=user_id, notification_id=notification_id, archived=True
    )
    if notification is not None:
        ids = [notification_id]
        live.read_state_changed(user_id, read_ids=ids, archived_ids=ids)
    return notification


def unarchive(
    *, session: Session, live: LiveNotifier, user_id: int, notification_id: int
) -> Notification | None:
    """Move a notification back into the inbox; None when it is not theirs."""
    notification = read_state.set_archived(
        session=session, user_id=user_id, notification_id=notification_id, archived=False
    )
    if notification is not None:
        live.read_state_changed(user_id)  # nothing to restyle; the badge is recounted
    return notification


def set_muted(*, session: Session, live: LiveNotifier, user_id: int, muted: bool) -> None:
    """Mute (or unmute) non-critical notifications to everyone for this user."""
    read_state.set_muted(session=session, user_id=user_id, muted=muted)
    live.read_state_changed(user_id)  # what counts as unread changed


def set_subscription(
    *, session: Session, live: LiveNotifier, user_id: int, topic_id: int, subscribed: bool
) -> bool:
    """Subscribe to a topic or leave it; False when the topic does not exist.

    Raises :class:`~dashboard.inbox.topics.TopicRetired` (nothing written) when subscribing to a
    retired topic.
    """
    if not topics.set_subscription(
        session=session, user_id=user_id, topic_id=topic_id, subscribed=subscribed
    ):
        return False
    live.read_state_changed(user_id)  # the topic's notifications came or went: recount
    return True
