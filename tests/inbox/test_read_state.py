"""Read, archived and muted, and the version every change bumps."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard.inbox import queries, read_state, topics
from dashboard.models import Audience, NotificationRead, Severity
from dashboard.store.db import session_factory
from tests.factories import add_notification, make_topic, make_user, subscribe


def ids(items: list[queries.InboxItem]) -> list[int | None]:
    return [item.notification.id for item in items]


def test_unread_count_and_mark_read(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    assert alice.id is not None and bob.id is not None
    first = add_notification(session, "one")
    second = add_notification(session, "two")
    private = add_notification(session, "bob's", audience=Audience.user, user=bob)
    assert queries.unread_count(session=session, user_id=alice.id) == 2
    assert queries.unread_count(session=session, user_id=alice.id, up_to=first.id) == 1
    assert first.id is not None and private.id is not None
    assert read_state.mark_read(session=session, user_id=alice.id, notification_id=first.id)
    assert read_state.mark_read(session=session, user_id=alice.id, notification_id=first.id)
    assert queries.unread_count(session=session, user_id=alice.id) == 1
    # Another user's notification looks exactly like a missing one.
    assert (
        read_state.mark_read(session=session, user_id=alice.id, notification_id=private.id) is None
    )
    assert read_state.mark_read(session=session, user_id=alice.id, notification_id=999) is None
    assert read_state.mark_all_read(session=session, user_id=alice.id) == [second.id]
    assert queries.unread_count(session=session, user_id=alice.id) == 0
    assert queries.unread_count(session=session, user_id=bob.id) == 3
    assert second.id is not None


def test_regression_two_simultaneous_mark_reads_both_succeed(
    engine: Engine, session: Session
) -> None:
    # Found in review: a double click raced check-then-insert into an IntegrityError (500).
    alice = make_user(session, "alice")
    assert alice.id is not None
    open_session = session_factory(engine)
    errors: list[BaseException] = []
    for i in range(20):
        notification = add_notification(session, f"n{i}")
        assert notification.id is not None
        start = threading.Barrier(2)

        def click(notification_id: int, start: threading.Barrier) -> None:
            start.wait()
            try:
                with open_session() as own:
                    assert read_state.mark_read(
                        session=own, user_id=alice.id or 0, notification_id=notification_id
                    )
            except BaseException as error:  # collected for the assertion below
                errors.append(error)

        threads = [threading.Thread(target=click, args=(notification.id, start)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert errors == []
    assert queries.unread_count(session=session, user_id=alice.id) == 0


def test_archiving_moves_out_of_the_inbox_marks_read_and_can_be_undone(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    kept, archived = add_notification(session, "kept"), add_notification(session, "archived")
    assert archived.id is not None
    assert read_state.set_archived(
        session=session, user_id=alice.id, notification_id=archived.id, archived=True
    )
    assert ids(queries.inbox(session=session, user_id=alice.id)) == [kept.id]
    in_archive = queries.inbox(
        session=session, user_id=alice.id, filters=queries.Filters(archived=True)
    )
    assert ids(in_archive) == [archived.id] and in_archive[0].read and in_archive[0].archived
    assert queries.unread_count(session=session, user_id=alice.id) == 1
    # Archiving twice is harmless; moving back keeps it read.
    read_state.set_archived(
        session=session, user_id=alice.id, notification_id=archived.id, archived=True
    )
    read_state.set_archived(
        session=session, user_id=alice.id, notification_id=archived.id, archived=False
    )
    assert ids(queries.inbox(session=session, user_id=alice.id)) == [archived.id, kept.id]
    assert queries.unread_count(session=session, user_id=alice.id) == 1


def test_someone_elses_notification_cannot_be_archived_found_or_read(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    assert alice.id is not None and bob.id is not None
    private = add_notification(session, "bob's", audience=Audience.user, user=bob)
    assert private.id is not None
    for archived in (True, False):
        assert (
            read_state.set_archived(
                session=session, user_id=alice.id, notification_id=private.id, archived=archived
            )
            is None
        )
    assert queries.find(session=session, user_id=alice.id, notification_id=private.id) is None
    assert queries.by_ids(session=session, user_id=alice.id, ids=[private.id]) == []
    assert session.exec(select(NotificationRead)).all() == []


def test_muted_broadcasts_hide_everything_to_everyone_except_critical(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    routine = add_notification(session, "routine")
    critical = add_notification(session, "outage", severity=Severity.critical)
    direct = add_notification(session, "to alice", audience=Audience.user, user=alice)
    read_state.set_muted(session=session, user_id=alice.id, muted=True)
    assert ids(queries.inbox(session=session, user_id=alice.id)) == [direct.id, critical.id]
    assert queries.unread_count(session=session, user_id=alice.id) == 2
    assert routine.id is not None
    assert (
        read_state.mark_read(session=session, user_id=alice.id, notification_id=routine.id) is None
    )
    read_state.set_muted(session=session, user_id=alice.id, muted=False)
    assert queries.unread_count(session=session, user_id=alice.id) == 3


def test_every_read_state_change_bumps_the_badge_version(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    topic = make_topic(session, "fx")
    first, second = add_notification(session, "one"), add_notification(session, "two")
    assert first.id is not None and second.id is not None and topic.id is not None
    alice_id, first_id, second_id, topic_id = alice.id, first.id, second.id, topic.id
    seen = [queries.badge(session=session, user_id=alice_id)]
    assert seen[0] == queries.Badge(version=0, cursor=second_id, count=2)
    changes: list[Callable[[], object]] = [
        lambda: read_state.mark_read(session=session, user_id=alice_id, notification_id=first_id),
        lambda: read_state.set_archived(
            session=session, user_id=alice_id, notification_id=second_id, archived=True
        ),
        lambda: read_state.set_archived(
            session=session, user_id=alice_id, notification_id=second_id, archived=False
        ),
        lambda: topics.set_subscription(
            session=session, user_id=alice_id, topic_id=topic_id, subscribed=True
        ),
        lambda: read_state.set_muted(session=session, user_id=alice_id, muted=True),
    ]
    for change in changes:
        change()
        seen.append(queries.badge(session=session, user_id=alice.id))
    versions = [b.version for b in seen]
    assert versions == sorted(set(versions)), versions  # strictly increasing
    assert seen[-1].count == 0
    # Counting up to a cursor ignores later notifications (the stream adds them one by one).
    add_notification(session, "three")
    assert queries.badge(session=session, user_id=alice.id, up_to=second.id).cursor == second.id


def test_mark_all_read_reports_exactly_the_ids_it_changed(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    made = [add_notification(session, f"n{i}") for i in range(3)]
    assert made[0].id is not None
    read_state.mark_read(session=session, user_id=alice.id, notification_id=made[0].id)
    assert read_state.mark_all_read(session=session, user_id=alice.id) == [made[2].id, made[1].id]
    version = queries.badge(session=session, user_id=alice.id).version
    assert read_state.mark_all_read(session=session, user_id=alice.id) == []
    assert queries.badge(session=session, user_id=alice.id).version == version


def test_mark_all_read_stays_within_the_bound_and_the_filter_it_is_given(
    session: Session,
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    rates = make_topic(session, "rates")
    subscribe(session, alice, rates)
    old_info = add_notification(session, "old info")
    old_rates = add_notification(session, "old rates", audience=Audience.topic, topic=rates)
    newer = add_notification(session, "newer", audience=Audience.topic, topic=rates)
    assert old_rates.id is not None and rates.id is not None
    changed = read_state.mark_all_read(
        session=session, user_id=alice.id, up_to=old_rates.id, topic_id=rates.id
    )
    assert changed == [old_rates.id]
    unread = queries.inbox(
        session=session, user_id=alice.id, filters=queries.Filters(unread_only=True)
    )
    assert [item.notification.id for item in unread] == [newer.id, old_info.id]
    assert (
        read_state.mark_all_read(
            session=session, user_id=alice.id, up_to=old_rates.id, severity=Severity.critical
        )
        == []
    )
