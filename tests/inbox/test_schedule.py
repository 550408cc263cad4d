from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard.inbox import compose, queries, schedule
from dashboard.models import Audience, Notification, ScheduledNotification, utcnow
from dashboard.store.db import session_factory
from tests.factories import add_notification


def scheduled_at(session: Session, title: str, send_at: str) -> ScheduledNotification:
    checked = compose.check(session=session, draft=compose.Draft(title=title, send_at=send_at))
    return schedule.schedule(session=session, checked=checked, created_by=None)


def test_a_scheduled_notification_is_published_at_its_time_and_only_then(
    engine: Engine, session: Session
) -> None:
    earlier = add_notification(session, "earlier")
    send_at = utcnow() + timedelta(minutes=5)
    scheduled = scheduled_at(session, "later", send_at.isoformat())
    with engine.connect() as connection:  # the scheduled publisher's cheap look first
        assert not schedule.any_due(connection, send_at - timedelta(seconds=1))
        assert schedule.any_due(connection, send_at)
    assert schedule.publish_due(session=session, now=send_at - timedelta(seconds=1)) == []
    assert [p.id for p in schedule.pending(session=session)] == [scheduled.id]
    published = schedule.publish_due(session=session, now=send_at)
    assert len(published) == 1 and earlier.id is not None and published[0] > earlier.id
    with engine.connect() as connection:  # published: no longer due, and newer than before
        assert not schedule.any_due(connection, send_at + timedelta(hours=1))
        assert queries.any_after(connection, earlier.id)
        assert not queries.any_after(connection, published[0])
    assert schedule.publish_due(session=session, now=send_at + timedelta(hours=1)) == []
    assert schedule.pending(session=session) == []
    assert session.get(Notification, published[0]).title == "later"  # type: ignore[union-attr]


def test_only_a_notification_not_yet_published_can_be_cancelled(session: Session) -> None:
    send_at = utcnow() + timedelta(minutes=5)
    kept = scheduled_at(session, "kept", send_at.isoformat())
    dropped = scheduled_at(session, "dropped", send_at.isoformat())
    assert kept.id is not None and dropped.id is not None
    assert schedule.cancel_scheduled(session=session, scheduled_id=dropped.id)
    assert not schedule.cancel_scheduled(session=session, scheduled_id=dropped.id)
    assert schedule.publish_due(session=session, now=send_at) != []
    assert not schedule.cancel_scheduled(session=session, scheduled_id=kept.id)
    assert session.exec(select(Notification.title)).all() == ["kept"]


def test_a_draft_without_a_send_time_is_not_scheduled(session: Session) -> None:
    checked = compose.check(session=session, draft=compose.Draft(title="now"))
    with pytest.raises(ValueError, match="published, not scheduled"):
        schedule.schedule(session=session, checked=checked, created_by=None)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_processes_racing_publish_a_scheduled_notification_once(engine: Engine) -> None:
    open_session = session_factory(engine)
    with open_session() as session:
        for i in range(10):
            session.add(
                ScheduledNotification(title=f"s{i}", audience=Audience.everyone, send_at=utcnow())
            )
        session.commit()
    start = threading.Barrier(2)
    published: list[int] = []
    errors: list[BaseException] = []

    def publisher() -> None:
        start.wait()
        try:
            with open_session() as own:
                published.extend(schedule.publish_due(session=own))
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=publisher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with open_session() as session:
        titles = sorted(n.title for n in session.exec(select(Notification)).all())
    assert titles == sorted(f"s{i}" for i in range(10))
    assert len(published) == 10
