"""The notification pollers: new notifications to exactly their recipients' streams,
and scheduled ones published when due."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import col, select

from dashboard.inbox import queries, schedule
from dashboard.live import wire
from dashboard.live.fragments import Renderer
from dashboard.live.hub import Audience, Hub
from dashboard.live.mailbox import NoticeEvent
from dashboard.live.pollers import Poller
from dashboard.live.programs import notification_event
from dashboard.models import Audience as NoticeAudience
from dashboard.models import (
    Notification,
    Severity,
    Subscription,
    User,
)
from dashboard.store.db import SessionFactory

logger = logging.getLogger(__name__)


class NotificationPoller(Poller):
    """Routes each new notification to the open streams of exactly the users it addresses."""

    def __init__(
        self,
        *,
        engine: Engine,
        open_session: SessionFactory,
        hub: Hub,
        renderer: Renderer,
        interval: float,
        batch_size: int,
    ) -> None:
        super().__init__(interval=interval)
        self._engine = engine
        self._open_session = open_session
        self._hub = hub
        self._renderer = renderer
        self._batch_size = batch_size
        self.cursor = 0

    async def prime(self) -> None:
        """Start after the newest notification: older ones reach clients by replay."""
        self.cursor = await self.in_thread(self._newest_id)

    def _newest_id(self) -> int:
        with self._open_session() as session:
            return queries.newest_id(session=session)

    def _fetch(self, cursor: int) -> tuple[list[Notification], dict[int, set[int]], frozenset[int]]:
        """New notifications, the subscribers of their topics, and who muted broadcasts."""
        with self._engine.connect() as connection:
            if not queries.any_after(connection, cursor):
                return [], {}, frozenset()  # nearly every poll: no Session, no ORM
        with self._open_session() as session:
            batch = list(
                session.exec(
                    select(Notification)
                    .where(col(Notification.id) > cursor)
                    .order_by(col(Notification.id))
                    .limit(self._batch_size)
                ).all()
            )
            topic_ids = {n.topic_id for n in batch if n.audience == NoticeAudience.topic}
            subscribers: dict[int, set[int]] = {}
            if topic_ids:
                # One query per batch, never one per connection.
                rows = session.exec(
                    select(Subscription.topic_id, Subscription.user_id).where(
                        col(Subscription.topic_id).in_(topic_ids)
                    )
                ).all()
                for topic_id, user_id in rows:
                    subscribers.setdefault(topic_id, set()).add(user_id)
            muted: frozenset[int] = frozenset()
            if any(_mutable(n) for n in batch):
                # One query per batch: a muted user's streams skip the broadcast, exactly
                # as the inbox query hides it on reload (dashboard.inbox.queries.visible_to).
                ids = session.exec(select(User.id).where(col(User.mute_broadcasts).is_(True)))
                muted = frozenset(user_id for user_id in ids if user_id is not None)
            return batch, subscribers, muted

    async def poll_once(self) -> bool:
        batch, subscribers, muted = await self.in_thread(self._fetch, self.cursor)
        for notification in batch:
            assert notification.id is not None
            event = NoticeEvent(
                notification=notification,
                message=self._renderer.notice_message(notification),
                json=wire.encode(notification_event(notification, read=False)),
            )
            self._hub.publish_notice(event, _audience_of(notification, subscribers, muted))
            self.cursor = notification.id
        return len(batch) == self._batch_size


def _mutable(notification: Notification) -> bool:
    """A broadcast that users who muted announcements do not get (critical ones they do)."""
    return (
        notification.audience == NoticeAudience.everyone
        and notification.severity != Severity.critical
    )


def _audience_of(
    notification: Notification, subscribers: dict[int, set[int]], muted: frozenset[int]
) -> Audience:
    if notification.audience == NoticeAudience.everyone:
        return Audience(everyone=True, excluded=muted if _mutable(notification) else frozenset())
    if notification.audience == NoticeAudience.user and notification.user_id is not None:
        return Audience(user_ids=frozenset({notification.user_id}))
    if notification.audience == NoticeAudience.topic and notification.topic_id is not None:
        return Audience(user_ids=frozenset(subscribers.get(notification.topic_id, ())))
    return Audience()


class ScheduledPublisher(Poller):
    """Publishes scheduled notifications when their time comes (once, across processes)."""

    def __init__(
        self,
        *,
        engine: Engine,
        open_session: SessionFactory,
        interval: float,
        on_published: Callable[[], None],
    ) -> None:
        super().__init__(interval=interval)
        self._engine = engine
        self._open_session = open_session
        self._on_published = on_published

    def _publish(self) -> list[int]:
        with self._engine.connect() as connection:
            if not schedule.any_due(connection):
                return []
        with self._open_session() as session:
            return schedule.publish_due(session=session)

    async def poll_once(self) -> bool:
        published = await self.in_thread(self._publish)
        if published:
            logger.info("published scheduled notifications %s", published)
            self._on_published()
        return False
