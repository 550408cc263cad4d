"""Archive, filters, muted broadcasts, versions, scheduling and delivery counts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard import notices, topics
from dashboard.db import session_factory
from dashboard.models import (
    Audience,
    Notification,
    NotificationRead,
    ScheduledNotification,
    Severity,
    utcnow,
)
from tests.factories import add_notification, make_topic, make_user, subscribe


def ids(items: list[notices.InboxItem]) -> list[int | None]:
    return [item.notification.id for item in items]


def test_archiving_moves_out_of_the_inbox_marks_read_and_can_be_undone(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    kept, archived = add_notification(session, "kept"), add_notification(session, "archived")
    assert archived.id is not None
    assert notices.set_archived(
        session=session, user_id=alice.id, notification_id=archived.id, archived=True
    )
    assert ids(notices.inbox(session=session, user_id=alice.id)) == [kept.id]
    in_archive = notices.inbox(
        session=session, user_id=alice.id, filters=notices.Filters(archived=True)
    )
    assert ids(in_archive) == [archived.id] and in_archive[0].read and in_archive[0].archived
    assert notices.unread_count(session=session, user_id=alice.id) == 1
    # Archiving twice is harmless; moving back keeps it read.
    notices.set_archived(
        session=session, user_id=alice.id, notification_id=archived.id, archived=True
    )
    notices.set_archived(
        session=session, user_id=alice.id, notification_id=archived.id, archived=False
    )
    assert ids(notices.inbox(session=session, user_id=alice.id)) == [archived.id, kept.id]
    assert notices.unread_count(session=session, user_id=alice.id) == 1


def test_someone_elses_notification_cannot_be_archived_found_or_read(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    assert alice.id is not None and bob.id is not None
    private = add_notification(session, "bob's", audience=Audience.user, user=bob)
    assert private.id is not None
    for archived in (True, False):
        assert (
            notices.set_archived(
                session=session, user_id=alice.id, notification_id=private.id, archived=archived
            )
            is None
        )
    assert notices.find(session=session, user_id=alice.id, notification_id=private.id) is None
    assert notices.by_ids(session=session, user_id=alice.id, ids=[private.id]) == []
    assert session.exec(select(NotificationRead)).all() == []


def test_history_filters_by_unread_severity_and_topic(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    rates = make_topic(session, "rates")
    subscribe(session, alice, rates)
    info = add_notification(session, "info")
    warning = add_notification(session, "warn", severity=Severity.warning)
    topical = add_notification(session, "rates", audience=Audience.topic, topic=rates)
    assert info.id is not None
    notices.mark_read(session=session, user_id=alice.id, notification_id=info.id)
    alice_id = alice.id

    def listed(**filters: object) -> list[int | None]:
        chosen = notices.Filters(**filters)  # type: ignore[arg-type]
        return ids(notices.inbox(session=session, user_id=alice_id, filters=chosen))

    assert listed() == [topical.id, warning.id, info.id]
    assert listed(unread_only=True) == [topical.id, warning.id]
    assert listed(severity=Severity.warning) == [warning.id]
    assert listed(topic_id=rates.id) == [topical.id]
    assert listed(severity=Severity.critical) == []
    # Keyset pages by id: the page after ``warning`` holds only older ones.
    older = notices.inbox(session=session, user_id=alice.id, before=warning.id)
    assert ids(older) == [info.id]


def test_muted_broadcasts_hide_everything_to_everyone_except_critical(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    routine = add_notification(session, "routine")
    critical = add_notification(session, "outage", severity=Severity.critical)
    direct = add_notification(session, "to alice", audience=Audience.user, user=alice)
    notices.set_muted(session=session, user_id=alice.id, muted=True)
    assert ids(notices.inbox(session=session, user_id=alice.id)) == [direct.id, critical.id]
    assert notices.unread_count(session=session, user_id=alice.id) == 2
    assert routine.id is not None
    assert notices.mark_read(session=session, user_id=alice.id, notification_id=routine.id) is None
    notices.set_muted(session=session, user_id=alice.id, muted=False)
    assert notices.unread_count(session=session, user_id=alice.id) == 3


def test_every_read_state_change_bumps_the_badge_version(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    topic = make_topic(session, "fx")
    first, second = add_notification(session, "one"), add_notification(session, "two")
    assert first.id is not None and second.id is not None and topic.id is not None
    alice_id, first_id, second_id, topic_id = alice.id, first.id, second.id, topic.id
    seen = [notices.badge(session=session, user_id=alice.id)]
    assert seen[0] == notices.Badge(version=0, cursor=second.id, count=2)
    changes: list[Callable[[], object]] = [
        lambda: notices.mark_read(session=session, user_id=alice_id, notification_id=first_id),
        lambda: notices.set_archived(
            session=session, user_id=alice_id, notification_id=second_id, archived=True
        ),
        lambda: notices.set_archived(
            session=session, user_id=alice_id, notification_id=second_id, archived=False
        ),
        lambda: topics.set_subscription(
            session=session, user_id=alice_id, topic_id=topic_id, subscribed=True
        ),
        lambda: notices.set_muted(session=session, user_id=alice_id, muted=True),
    ]
    for change in changes:
        change()
        seen.append(notices.badge(session=session, user_id=alice.id))
    versions = [b.version for b in seen]
    assert versions == sorted(set(versions)), versions  # strictly increasing
    assert seen[-1].count == 0
    # Counting up to a cursor ignores later notifications (the stream adds them one by one).
    add_notification(session, "three")
    assert notices.badge(session=session, user_id=alice.id, up_to=second.id).cursor == second.id


def test_mark_all_read_reports_exactly_the_ids_it_changed(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    made = [add_notification(session, f"n{i}") for i in range(3)]
    assert made[0].id is not None
    notices.mark_read(session=session, user_id=alice.id, notification_id=made[0].id)
    assert notices.mark_all_read(session=session, user_id=alice.id) == [made[2].id, made[1].id]
    version = notices.badge(session=session, user_id=alice.id).version
    assert notices.mark_all_read(session=session, user_id=alice.id) == []
    assert notices.badge(session=session, user_id=alice.id).version == version


@pytest.mark.parametrize(
    ("send_at", "message"),
    [
        ("2001-01-01T10:00", "That time has passed"),
        ("tomorrow at noon", "YYYY-MM-DD HH:MM"),
        ("2999-01-01T10:00", "at most a year ahead"),
    ],
)
def test_a_bad_send_time_is_a_field_error_and_nothing_is_stored(
    session: Session, send_at: str, message: str
) -> None:
    draft = notices.Draft(title="later", send_at=send_at)
    with pytest.raises(notices.DraftInvalid) as raised:
        notices.schedule(session=session, draft=draft, created_by=None)
    assert message in raised.value.errors["send_at"]
    assert session.exec(select(ScheduledNotification)).all() == []
    assert session.exec(select(Notification)).all() == []


def test_a_retired_topic_takes_no_notifications_or_subscribers(session: Session) -> None:
    alice = make_user(session, "alice")
    rates = make_topic(session, "rates")
    assert alice.id is not None and rates.id is not None
    subscribe(session, alice, rates)
    topical = add_notification(session, "before", audience=Audience.topic, topic=rates)
    assert topics.set_retired(session=session, slug="rates", retired=True)
    draft = notices.Draft(title="after", audience="topic", topic="rates")
    with pytest.raises(notices.DraftInvalid) as raised:
        notices.schedule(session=session, draft=draft, created_by=None)
    assert "retired" in raised.value.errors["topic"]
    # Its history stays visible to subscribers; leaving works, coming back does not.
    assert ids(notices.inbox(session=session, user_id=alice.id)) == [topical.id]
    assert topics.set_subscription(
        session=session, user_id=alice.id, topic_id=rates.id, subscribed=False
    )
    with pytest.raises(topics.TopicRetired):
        topics.set_subscription(
            session=session, user_id=alice.id, topic_id=rates.id, subscribed=True
        )
    assert [t.slug for t in topics.all_topics(session=session)] == []
    topics.set_retired(session=session, slug="rates", retired=False)
    assert [t.slug for t in topics.all_topics(session=session)] == ["rates"]


def test_preview_writes_nothing(session: Session) -> None:
    shown = notices.preview(
        session=session, draft=notices.Draft(title="<b>hi</b>", severity="critical")
    )
    assert shown.title == "<b>hi</b>" and shown.severity == Severity.critical
    assert session.exec(select(Notification)).all() == []


def test_a_scheduled_notification_is_published_at_its_time_and_only_then(
    engine: Engine, session: Session
) -> None:
    earlier = add_notification(session, "earlier")
    send_at = utcnow() + timedelta(minutes=5)
    scheduled = notices.schedule(
        session=session,
        draft=notices.Draft(title="later", send_at=send_at.isoformat()),
        created_by=None,
    )
    assert isinstance(scheduled, ScheduledNotification)
    with engine.connect() as connection:  # the scheduled publisher's cheap look first
        assert not notices.any_due(connection, send_at - timedelta(seconds=1))
        assert notices.any_due(connection, send_at)
    assert notices.publish_due(session=session, now=send_at - timedelta(seconds=1)) == []
    assert [p.id for p in notices.pending(session=session)] == [scheduled.id]
    published = notices.publish_due(session=session, now=send_at)
    assert len(published) == 1 and earlier.id is not None and published[0] > earlier.id
    with engine.connect() as connection:  # published: no longer due, and newer than before
        assert not notices.any_due(connection, send_at + timedelta(hours=1))
        assert notices.any_after(connection, earlier.id)
        assert not notices.any_after(connection, published[0])
    assert notices.publish_due(session=session, now=send_at + timedelta(hours=1)) == []
    assert notices.pending(session=session) == []
    assert session.get(Notification, published[0]).title == "later"  # type: ignore[union-attr]


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
                published.extend(notices.publish_due(session=own))
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


def test_recent_counts_recipients_and_reads(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    make_user(session, "carol")
    rates = make_topic(session, "rates")
    subscribe(session, alice, rates)
    subscribe(session, bob, rates)
    everyone = add_notification(session, "all")
    topical = add_notification(session, "rates", audience=Audience.topic, topic=rates)
    direct = add_notification(session, "bob", audience=Audience.user, user=bob)
    assert alice.id is not None and bob.id is not None and everyone.id is not None
    notices.mark_read(session=session, user_id=alice.id, notification_id=everyone.id)
    notices.mark_read(session=session, user_id=bob.id, notification_id=everyone.id)
    assert topical.id is not None
    notices.mark_read(session=session, user_id=bob.id, notification_id=topical.id)
    counts = {d.notification.id: (d.read, d.recipients) for d in notices.recent(session=session)}
    assert counts == {everyone.id: (2, 3), topical.id: (1, 2), direct.id: (0, 1)}
