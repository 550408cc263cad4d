from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from dashboard.inbox import queries, read_state
from dashboard.models import Audience, Severity
from tests.factories import add_notification, make_topic, make_user, subscribe


def ids(items: list[queries.InboxItem]) -> list[int | None]:
    return [item.notification.id for item in items]


def test_each_user_sees_everyone_their_own_and_their_topics(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    markets = make_topic(session, "markets")
    subscribe(session, alice, markets)
    everyone = add_notification(session, "all")
    to_alice = add_notification(session, "alice only", audience=Audience.user, user=alice)
    to_bob = add_notification(session, "bob only", audience=Audience.user, user=bob)
    topical = add_notification(session, "markets", audience=Audience.topic, topic=markets)
    assert alice.id is not None and bob.id is not None
    assert ids(queries.inbox(session=session, user_id=alice.id)) == [
        topical.id,
        to_alice.id,
        everyone.id,
    ]
    assert ids(queries.inbox(session=session, user_id=bob.id)) == [to_bob.id, everyone.id]
    assert ids(
        queries.missed(session=session, user_id=alice.id, after=everyone.id or 0, limit=10)
    ) == [
        to_alice.id,
        topical.id,
    ]


def test_history_filters_by_unread_severity_and_topic(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    rates = make_topic(session, "rates")
    subscribe(session, alice, rates)
    info = add_notification(session, "info")
    warning = add_notification(session, "warn", severity=Severity.warning)
    topical = add_notification(session, "rates", audience=Audience.topic, topic=rates)
    assert info.id is not None
    read_state.mark_read(session=session, user_id=alice.id, notification_id=info.id)

    alice_id = alice.id

    def listed(**filters: object) -> list[int | None]:
        chosen = queries.Filters(**filters)  # type: ignore[arg-type]
        return ids(queries.inbox(session=session, user_id=alice_id, filters=chosen))

    assert listed() == [topical.id, warning.id, info.id]
    assert listed(unread_only=True) == [topical.id, warning.id]
    assert listed(severity=Severity.warning) == [warning.id]
    assert listed(topic_id=rates.id) == [topical.id]
    assert listed(severity=Severity.critical) == []
    # Keyset pages by id: the page after ``warning`` holds only older ones.
    older = queries.inbox(session=session, user_id=alice.id, before=warning.id)
    assert ids(older) == [info.id]


def test_the_newest_id_and_whether_anything_came_after_a_cursor(
    engine: Engine, session: Session
) -> None:
    assert queries.newest_id(session=session) == 0
    first, second = add_notification(session, "one"), add_notification(session, "two")
    assert first.id is not None and second.id is not None
    assert queries.newest_id(session=session) == second.id
    with engine.connect() as connection:  # the notification poller's cheap look
        assert queries.any_after(connection, first.id)
        assert not queries.any_after(connection, second.id)
