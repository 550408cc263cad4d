"""Each action writes, and tells live clients only once the write is committed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from dashboard.inbox import actions, compose, queries, topics
from dashboard.inbox.live import LiveNotifier
from dashboard.live.hub import RESTYLE_LIMIT, Hub
from dashboard.live.mailbox import Connection
from dashboard.models import (
    Audience,
    Notification,
    NotificationArchive,
    NotificationRead,
    ScheduledNotification,
    Severity,
    User,
    utcnow,
)
from tests.factories import add_notification, make_topic, make_user


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


def told(tab: Connection) -> tuple[set[int], set[int]] | None:
    """What a tab heard about the read state (read ids, archived ids); None: nothing."""
    if not tab.read_state_changed:
        return None
    return set(tab.changed_ids), set(tab.archived_ids)


def user_id(user: User) -> int:
    assert user.id is not None
    return user.id


def note_id(notification: Notification) -> int:
    assert notification.id is not None
    return notification.id


def test_mark_read_writes_then_tells_every_tab_of_that_user_only(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    first_tab, second_tab = hub.connect(user_id=alice.id), hub.connect(user_id=alice.id)
    bobs_tab = hub.connect(user_id=bob.id)
    n = note_id(add_notification(session, "one"))
    version = queries.badge(session=session, user_id=user_id(alice)).version
    marked = actions.mark_read(
        session=session, live=live, user_id=user_id(alice), notification_id=n
    )
    assert marked is not None and marked.id == n
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 0
    assert queries.badge(session=session, user_id=user_id(alice)).version == version + 1
    assert told(first_tab) == told(second_tab) == ({n}, set())
    assert told(bobs_tab) is None


def test_mark_read_of_someone_elses_notification_writes_and_tells_nothing(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    tab = hub.connect(user_id=alice.id)
    private = note_id(add_notification(session, "bob's", audience=Audience.user, user=bob))
    for missing in (private, 999):
        assert (
            actions.mark_read(
                session=session, live=live, user_id=user_id(alice), notification_id=missing
            )
            is None
        )
    assert session.exec(select(NotificationRead)).all() == []
    assert told(tab) is None


def test_a_write_that_fails_to_commit_tells_nobody(
    session: Session, hub: Hub, live: LiveNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    n = note_id(add_notification(session, "one"))

    def commit() -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(session, "commit", commit)
    with pytest.raises(RuntimeError):
        actions.mark_read(session=session, live=live, user_id=user_id(alice), notification_id=n)
    assert told(tab) is None


def test_opening_an_unread_notification_marks_it_read_and_tells_the_tabs(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    n = note_id(add_notification(session, "one"))
    opened = actions.open_notification(
        session=session, live=live, user_id=user_id(alice), notification_id=n
    )
    assert opened is not None and opened.notification.id == n and not opened.read
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 0
    assert told(tab) == ({n}, set())
    # Opening it again changes nothing, so no tab is told again.
    tab.read_state_changed = False
    again = actions.open_notification(
        session=session, live=live, user_id=user_id(alice), notification_id=n
    )
    assert again is not None and again.read
    assert told(tab) is None


def test_opening_someone_elses_notification_finds_nothing_and_tells_nobody(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    tab = hub.connect(user_id=alice.id)
    private = note_id(add_notification(session, "bob's", audience=Audience.user, user=bob))
    assert (
        actions.open_notification(
            session=session, live=live, user_id=user_id(alice), notification_id=private
        )
        is None
    )
    assert told(tab) is None


def test_mark_all_read_tells_the_newest_ids_it_changed(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    made = [note_id(add_notification(session, f"n{i}")) for i in range(RESTYLE_LIMIT + 5)]
    actions.mark_read(session=session, live=live, user_id=user_id(alice), notification_id=made[0])
    tab.read_state_changed = False
    tab.changed_ids.clear()
    changed = actions.mark_all_read(session=session, live=live, user_id=user_id(alice))
    assert changed == made[:0:-1]  # all but the first, newest first
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 0
    # A stream restyles at most RESTYLE_LIMIT items, so no more are handed to it.
    assert told(tab) == (set(made[-RESTYLE_LIMIT:]), set())


def test_mark_all_read_with_nothing_unread_tells_nobody(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    assert actions.mark_all_read(session=session, live=live, user_id=user_id(alice)) == []
    assert told(tab) is None


def test_archive_and_unarchive_write_and_tell_the_tabs(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    n = note_id(add_notification(session, "one"))
    archived = actions.archive(
        session=session, live=live, user_id=user_id(alice), notification_id=n
    )
    assert archived is not None
    assert session.get(NotificationArchive, (user_id(alice), n)) is not None
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 0
    assert told(tab) == ({n}, {n})  # read and archived: out of the inbox
    tab.read_state_changed = False
    restored = actions.unarchive(
        session=session, live=live, user_id=user_id(alice), notification_id=n
    )
    assert restored is not None
    assert session.get(NotificationArchive, (user_id(alice), n)) is None
    assert told(tab) is not None  # nothing to restyle; the badge is recounted


@pytest.mark.parametrize("move", [actions.archive, actions.unarchive])
def test_archiving_someone_elses_notification_tells_nobody(
    session: Session, hub: Hub, live: LiveNotifier, move: Callable[..., Notification | None]
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    tab = hub.connect(user_id=alice.id)
    private = note_id(add_notification(session, "bob's", audience=Audience.user, user=bob))
    assert move(session=session, live=live, user_id=user_id(alice), notification_id=private) is None
    assert session.exec(select(NotificationArchive)).all() == []
    assert told(tab) is None


def test_muting_changes_the_count_and_tells_the_tabs(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    add_notification(session, "routine")
    add_notification(session, "outage", severity=Severity.critical)
    actions.set_muted(session=session, live=live, user_id=user_id(alice), muted=True)
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 1
    assert told(tab) == (set(), set())
    tab.read_state_changed = False
    actions.set_muted(session=session, live=live, user_id=user_id(alice), muted=False)
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 2
    assert told(tab) == (set(), set())


def test_subscribing_and_leaving_change_the_count_and_tell_the_tabs(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    rates = make_topic(session, "rates")
    assert rates.id is not None
    add_notification(session, "rates", audience=Audience.topic, topic=rates)
    version = queries.badge(session=session, user_id=user_id(alice)).version
    assert actions.set_subscription(
        session=session, live=live, user_id=user_id(alice), topic_id=rates.id, subscribed=True
    )
    badge = queries.badge(session=session, user_id=user_id(alice))
    assert badge.count == 1 and badge.version > version
    assert told(tab) == (set(), set())
    tab.read_state_changed = False
    assert actions.set_subscription(
        session=session, live=live, user_id=user_id(alice), topic_id=rates.id, subscribed=False
    )
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 0
    assert told(tab) == (set(), set())


def test_a_missing_or_retired_topic_is_not_subscribed_and_nobody_is_told(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice = make_user(session, "alice")
    tab = hub.connect(user_id=alice.id)
    rates = make_topic(session, "rates")
    assert rates.id is not None
    assert not actions.set_subscription(
        session=session, live=live, user_id=user_id(alice), topic_id=999, subscribed=True
    )
    topics.set_retired(session=session, slug="rates", retired=True)
    with pytest.raises(topics.TopicRetired):
        actions.set_subscription(
            session=session, live=live, user_id=user_id(alice), topic_id=rates.id, subscribed=True
        )
    assert topics.subscribed_topic_ids(session=session, user_id=user_id(alice)) == set()
    assert told(tab) is None


def test_mark_unread_writes_then_tells_the_tabs(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    tab, bobs_tab = hub.connect(user_id=alice.id), hub.connect(user_id=bob.id)
    n = note_id(add_notification(session, "one"))
    actions.mark_read(session=session, live=live, user_id=user_id(alice), notification_id=n)
    tab.read_state_changed = False
    tab.changed_ids.clear()
    again = actions.mark_unread(
        session=session, live=live, user_id=user_id(alice), notification_id=n
    )
    assert again is not None and again.id == n
    assert queries.unread_count(session=session, user_id=user_id(alice)) == 1
    assert told(tab) == ({n}, set())
    assert told(bobs_tab) is None
    private = note_id(add_notification(session, "bob's", audience=Audience.user, user=bob))
    assert (
        actions.mark_unread(
            session=session, live=live, user_id=user_id(alice), notification_id=private
        )
        is None
    )


def test_mark_selected_reads_or_archives_only_the_users_own_at_once(
    session: Session, hub: Hub, live: LiveNotifier
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    tab = hub.connect(user_id=alice.id)
    a, b = note_id(add_notification(session, "a")), note_id(add_notification(session, "b"))
    private = note_id(add_notification(session, "bob's", audience=Audience.user, user=bob))
    changed = actions.mark_selected(
        session=session, live=live, user_id=user_id(alice), notification_ids={a, private, 999}
    )
    assert changed == [a]
    assert told(tab) == ({a}, set())
    assert session.exec(select(NotificationArchive)).all() == []

    tab.read_state_changed = False
    changed = actions.mark_selected(
        session=session, live=live, user_id=user_id(alice), notification_ids={a, b}, archive=True
    )
    assert changed == [b, a]
    assert told(tab) == ({a, b}, {a, b})
    assert queries.inbox(session=session, user_id=user_id(alice)) == []
    assert queries.unread_count(session=session, user_id=user_id(bob)) == 3  # untouched

    tab.read_state_changed = False
    assert (
        actions.mark_selected(
            session=session, live=live, user_id=user_id(alice), notification_ids={private}
        )
        == []
    )
    assert told(tab) is None
