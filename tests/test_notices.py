from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard import notices
from dashboard.models import Audience, Notification
from tests.factories import add_notification, make_topic, make_user, subscribe


def ids(items: list[notices.InboxItem]) -> list[int | None]:
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
    assert ids(notices.inbox(session=session, user_id=alice.id)) == [
        topical.id,
        to_alice.id,
        everyone.id,
    ]
    assert ids(notices.inbox(session=session, user_id=bob.id)) == [to_bob.id, everyone.id]
    assert ids(
        notices.missed(session=session, user_id=alice.id, after=everyone.id or 0, limit=10)
    ) == [
        to_alice.id,
        topical.id,
    ]


def test_unread_count_and_mark_read(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    assert alice.id is not None and bob.id is not None
    first = add_notification(session, "one")
    second = add_notification(session, "two")
    private = add_notification(session, "bob's", audience=Audience.user, user=bob)
    assert notices.unread_count(session=session, user_id=alice.id) == 2
    assert notices.unread_count(session=session, user_id=alice.id, up_to=first.id) == 1
    assert first.id is not None and private.id is not None
    assert notices.mark_read(session=session, user_id=alice.id, notification_id=first.id)
    assert notices.mark_read(session=session, user_id=alice.id, notification_id=first.id)
    assert notices.unread_count(session=session, user_id=alice.id) == 1
    # Another user's notification looks exactly like a missing one.
    assert notices.mark_read(session=session, user_id=alice.id, notification_id=private.id) is None
    assert notices.mark_read(session=session, user_id=alice.id, notification_id=999) is None
    assert notices.mark_all_read(session=session, user_id=alice.id) == [second.id]
    assert notices.unread_count(session=session, user_id=alice.id) == 0
    assert notices.unread_count(session=session, user_id=bob.id) == 3
    assert second.id is not None


def test_a_valid_draft_is_written(session: Session) -> None:
    make_topic(session, "markets")
    bob = make_user(session, "bob")
    topical = notices.create_notification(
        session=session,
        draft=notices.Draft(
            title="  Open  ", audience="topic", topic="markets", severity="warning"
        ),
        created_by=None,
    )
    assert topical.title == "Open" and topical.topic_id is not None
    direct = notices.create_notification(
        session=session,
        draft=notices.Draft(title="Hi", audience="user", username="bob", link="/settings"),
        created_by=None,
    )
    assert direct.user_id == bob.id and direct.link == "/settings"


@pytest.mark.parametrize(
    ("draft", "field", "message"),
    [
        (notices.Draft(title=""), "title", "Enter a title"),
        (notices.Draft(title="   "), "title", "Enter a title"),
        (notices.Draft(title="x" * 121), "title", "120 characters"),
        (notices.Draft(title="ok", body="x" * 2001), "body", "2000 characters"),
        (notices.Draft(title="ok", severity="loud"), "severity", "Choose info"),
        (notices.Draft(title="ok", audience="martians"), "audience", "Choose everyone"),
        (notices.Draft(title="ok", audience="topic", topic="nope"), "topic", "No topic 'nope'"),
        (notices.Draft(title="ok", audience="topic"), "topic", "Choose an existing topic"),
        (notices.Draft(title="ok", audience="user", username="ghost"), "username", "No user"),
        (notices.Draft(title="ok", audience="user"), "username", "Enter a username"),
        (notices.Draft(title="ok", link="javascript:alert(1)"), "link", "starts with"),
        (notices.Draft(title="ok", link="//evil.example"), "link", "starts with"),
    ],
)
def test_an_invalid_draft_names_the_field_and_writes_nothing(
    session: Session, draft: notices.Draft, field: str, message: str
) -> None:
    with pytest.raises(notices.DraftInvalid) as raised:
        notices.create_notification(session=session, draft=draft, created_by=None)
    assert message in raised.value.errors[field]
    assert session.exec(select(Notification)).all() == []


def test_regression_two_simultaneous_mark_reads_both_succeed(
    engine: Engine, session: Session
) -> None:
    # Found in review: a double click raced check-then-insert into an IntegrityError (500).
    import threading

    from dashboard.db import session_factory

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
                    assert notices.mark_read(
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
    assert notices.unread_count(session=session, user_id=alice.id) == 0
