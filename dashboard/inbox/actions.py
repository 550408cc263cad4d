"""Each change to the inbox a person asks for: written, then told to live clients."""

from __future__ import annotations

from sqlmodel import Session

from dashboard.inbox import compose, schedule
from dashboard.inbox.live import LiveNotifier
from dashboard.models import Notification, ScheduledNotification


def post(
    *, session: Session, live: LiveNotifier, draft: compose.Draft, created_by: int | None
) -> Notification | ScheduledNotification:
    """Send ``draft`` now, or store it to be published at its ``send_at``.

    Raises :class:`~dashboard.inbox.compose.DraftInvalid` (nothing written) for a bad draft.
    """
    checked = compose.check(session=session, draft=draft)
    if checked.send_at is not None:
        # The scheduled publisher wakes the poller when the time comes.
        return schedule.schedule(session=session, checked=checked, created_by=created_by)
    notification = compose.publish(session=session, checked=checked, created_by=created_by)
    live.notification_posted()
    return notification
