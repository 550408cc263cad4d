"""Each action writes, and tells live clients only once the write is committed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from dashboard.hub import Hub
from dashboard.inbox import actions, compose
from dashboard.inbox.live import LiveNotifier
from dashboard.models import Notification, ScheduledNotification, utcnow
from tests.factories import make_user


class Woken:
    """Stands in for the notification poller's ``wake``."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def hub() -> Hub:
    return Hub(mailbox_size=8)


@pytest.fixture
def woken() -> Woken:
    return Woken()


@pytest.fixture
def live(hub: Hub, woken: Woken) -> LiveNotifier:
    return LiveNotifier(hub=hub, wake_notification_poller=woken)


def test_post_now_writes_the_notification_and_wakes_the_poller(
    session: Session, live: LiveNotifier, woken: Woken
) -> None:
    admin = make_user(session, "admin", is_admin=True)
    posted = actions.post(
        session=session, live=live, draft=compose.Draft(title="Now"), created_by=admin.id
    )
    assert isinstance(posted, Notification) and posted.id is not None
    assert session.get(Notification, posted.id) is not None
    assert posted.created_by == admin.id
    assert woken.count == 1


def test_post_later_stores_it_and_leaves_the_poller_alone(
    session: Session, live: LiveNotifier, woken: Woken
) -> None:
    send_at = utcnow() + timedelta(minutes=5)
    posted = actions.post(
        session=session,
        live=live,
        draft=compose.Draft(title="Later", send_at=send_at.isoformat()),
        created_by=None,
    )
    assert isinstance(posted, ScheduledNotification) and posted.send_at == send_at
    assert session.exec(select(Notification)).all() == []
    assert woken.count == 0  # the scheduled publisher wakes it when the time comes


@pytest.mark.parametrize(
    ("send_at", "message"),
    [
        ("2001-01-01T10:00", "That time has passed"),
        ("tomorrow at noon", "YYYY-MM-DD HH:MM"),
        ("2999-01-01T10:00", "at most a year ahead"),
    ],
)
def test_a_bad_send_time_is_a_field_error_and_nothing_is_stored(
    session: Session, live: LiveNotifier, woken: Woken, send_at: str, message: str
) -> None:
    draft = compose.Draft(title="later", send_at=send_at)
    with pytest.raises(compose.DraftInvalid) as raised:
        actions.post(session=session, live=live, draft=draft, created_by=None)
    assert message in raised.value.errors["send_at"]
    assert session.exec(select(ScheduledNotification)).all() == []
    assert session.exec(select(Notification)).all() == []
    assert woken.count == 0


def test_an_invalid_draft_is_not_written_and_wakes_nothing(
    session: Session, live: LiveNotifier, woken: Woken
) -> None:
    with pytest.raises(compose.DraftInvalid):
        actions.post(session=session, live=live, draft=compose.Draft(title=""), created_by=None)
    assert session.exec(select(Notification)).all() == []
    assert woken.count == 0
